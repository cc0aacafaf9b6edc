import type { Migration } from '../db.js';

export const IMAGE_MIGRATIONS: Migration[] = [
  {
    name: 'images, refs, layer blobs',
    up: (db) =>
      db.exec(`
        CREATE TABLE images (
          id TEXT PRIMARY KEY,
          manifest_digest TEXT NOT NULL,
          manifest_media_type TEXT NOT NULL,
          has_repo_digest INTEGER NOT NULL DEFAULT 0,
          created INTEGER NOT NULL,
          created_iso TEXT NOT NULL,
          size INTEGER NOT NULL,
          parent TEXT NOT NULL DEFAULT '',
          chain_ids TEXT NOT NULL,
          layer_blobs TEXT NOT NULL,
          labels TEXT NOT NULL,
          loaded_at INTEGER NOT NULL,
          last_tag_time INTEGER NOT NULL
        );
        CREATE TABLE image_refs (
          name TEXT PRIMARY KEY,
          image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
          kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
          created_at INTEGER NOT NULL
        );
        CREATE INDEX image_refs_image ON image_refs(image_id);
        CREATE TABLE layer_blobs (
          blob_digest TEXT PRIMARY KEY,
          diff_id TEXT NOT NULL,
          media_type TEXT NOT NULL
        );`),
  },
  {
    name: 'registry sources of blobs (for cross-repository mounts on push)',
    up: (db) =>
      db.exec(`
        CREATE TABLE blob_sources (
          blob_digest TEXT NOT NULL,
          registry TEXT NOT NULL,
          repository TEXT NOT NULL,
          PRIMARY KEY (blob_digest, registry, repository)
        );`),
  },
];
