import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../../core/errors.js';
import type { EngineDb } from '../db.js';
import { ContentStore } from '../../oci/content-store.js';
import { parseImageConfig } from '../../oci/manifest.js';
import {
  familiarString,
  formatReference,
  idPrefix,
  isFullImageId,
  parseNormalizedNamed,
  parseReference,
  repoName,
  type Reference,
} from '../../oci/reference.js';
import type { ImageConfigDoc, ImageSummary, ResolvedImage } from './types.js';

// The image reference store: the `images`, `image_refs` and `layer_blobs` rows (SQLite), reference
// resolution (ID, prefix, tag, digest), the image configs they point to, and the lock that
// serialises every mutation of the store. The other parts of the image service read and write
// through it.

export interface ImageRow {
  id: string;
  manifest_digest: string;
  manifest_media_type: string;
  has_repo_digest: number;
  created: number;
  created_iso: string;
  size: number;
  parent: string;
  chain_ids: string;
  layer_blobs: string;
  labels: string;
  loaded_at: number;
  last_tag_time: number;
}

export interface LayerBlob {
  digest: string;
  mediaType: string;
  size: number;
}

export const noSuchImage = (ref: string) => new WharfError('NotFound', `No such image: ${ref}`);

export function diffMismatch(i: number, expected: string, got: string): WharfError {
  return new WharfError('InvalidArgument', `layer ${i}: diffID mismatch: the config says ${expected}, the content is ${got}`);
}

export class ImageRecords {
  constructor(
    private readonly opts: { db: EngineDb },
    private readonly content: ContentStore,
  ) {}

  get sql() {
    return this.opts.db.sql;
  }

  /** Serialises mutations (load, import, tag, remove, prune). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  // ---------- queries ----------

  rows(): ImageRow[] {
    return this.sql.prepare('SELECT * FROM images').all() as ImageRow[];
  }

  row(id: string): ImageRow | undefined {
    return this.sql.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
  }

  refsOf(id: string): { name: string; kind: 'tag' | 'digest' }[] {
    return this.sql.prepare('SELECT name, kind FROM image_refs WHERE image_id = ? ORDER BY name').all(id) as { name: string; kind: 'tag' | 'digest' }[];
  }

  summary(r: ImageRow, refs = this.refsOf(r.id)): ImageSummary {
    const tags = refs.filter((x) => x.kind === 'tag').map((x) => parseReference(x.name));
    const digests = refs.filter((x) => x.kind === 'digest').map((x) => parseReference(x.name));
    return {
      id: r.id,
      parentId: r.parent,
      repoTags: tags.map(familiarString),
      repoDigests: digests.map(familiarString),
      created: r.created,
      size: r.size,
      labels: JSON.parse(r.labels) as Record<string, string>,
    };
  }

  resolveSync(ref: string): ResolvedImage {
    if (typeof ref !== 'string' || ref === '') throw new WharfError('InvalidArgument', 'empty image reference');
    if (isFullImageId(ref)) {
      const id = ref.startsWith('sha256:') ? ref : `sha256:${ref}`;
      if (this.row(id)) return { id };
      throw noSuchImage(ref);
    }
    let named: Reference | undefined;
    try {
      named = parseNormalizedNamed(ref);
    } catch {
      named = undefined;
    }
    if (named) {
      if (named.digest !== undefined) {
        const full = `${repoName(named)}@${named.digest}`;
        const hit = this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(full) as { image_id: string } | undefined;
        if (hit) return { id: hit.image_id, name: full, digest: named.digest };
        const byManifest = this.sql.prepare('SELECT id FROM images WHERE manifest_digest = ?').all(named.digest) as { id: string }[];
        if (byManifest.length === 1) return { id: byManifest[0]!.id, name: full, digest: named.digest };
      } else {
        const full = formatReference(named);
        const hit = this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(full) as { image_id: string } | undefined;
        if (hit) return { id: hit.image_id, name: full };
      }
    }
    const prefix = idPrefix(ref);
    if (prefix !== undefined) {
      const hits = this.sql.prepare("SELECT id FROM images WHERE id LIKE ? LIMIT 2").all(`sha256:${prefix}%`) as { id: string }[];
      if (hits.length === 1) return { id: hits[0]!.id };
      if (hits.length > 1) throw new WharfError('InvalidArgument', `image ID prefix ${ref} is ambiguous`);
    }
    if (!named) parseNormalizedNamed(ref); // a bad reference that is no ID either: report it as such
    throw noSuchImage(ref);
  }

  configOf(id: string): ImageConfigDoc {
    return parseImageConfig(this.content.readBuffer(id), `image config ${id}`);
  }

  referencedBlobs(): Set<string> {
    const refs = new Set<string>();
    for (const r of this.rows()) {
      refs.add(r.id);
      refs.add(r.manifest_digest);
      for (const b of JSON.parse(r.layer_blobs) as LayerBlob[]) refs.add(b.digest);
    }
    return refs;
  }

  // ---------- load / import / bootstrap ----------

  stagingDir(): string {
    const dir = join(this.content.ingestDir, `stage-${randomBytes(8).toString('hex')}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
  private lock: Promise<unknown> = Promise.resolve();
}
