import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { run } from '../../core/exec/run.js';
import { MT } from '../../oci/manifest.js';
import { paxRecord, padding, tarHeader, type TarHeaderSpec } from '../../oci/tar-writer.js';

// Test helpers (usable by every area's tests): write tars entry by entry (including hostile ones),
// build multi-layer images with whiteouts, and pack them as docker-archive (legacy or OCI-layout
// form) or OCI image-layout tars, all in memory and offline.

export interface TarEntrySpec {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Declared size when it must differ from the data (hostile archives). */
  declaredSize?: number;
  /** PAX extended attributes (SCHILY.xattr.*). */
  xattrs?: Record<string, string | Buffer>;
}

/** A tar archive of `entries`, in order (duplicates and hostile names are written as given). */
export function buildTar(entries: TarEntrySpec[], opts: { trailer?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'dir' : 'file');
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const pax = Object.entries(e.xattrs ?? {}).map(([k, v]) => paxRecord(`SCHILY.xattr.${k}`, v));
    const size = type === 'file' ? (e.declaredSize ?? data.length) : (e.declaredSize ?? 0);
    const h: TarHeaderSpec = { name: e.path, type, size, mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644), mtime: e.mtime ?? 1700000000 };
    if (e.uid !== undefined) h.uid = e.uid;
    if (e.gid !== undefined) h.gid = e.gid;
    if (e.linkname !== undefined) h.linkname = e.linkname;
    if (e.devmajor !== undefined) h.devmajor = e.devmajor;
    if (e.devminor !== undefined) h.devminor = e.devminor;
    parts.push(tarHeader(h, pax));
    if (type === 'file') parts.push(data, padding(data.length));
  }
  if (opts.trailer !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export type TestCompression = 'none' | 'gzip' | 'zstd';

export async function compress(data: Buffer, how: TestCompression): Promise<Buffer> {
  if (how === 'none') return data;
  if (how === 'gzip') return gzipSync(data, { level: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'wharf-zstd-'));
  try {
    writeFileSync(join(dir, 'in'), data);
    await run(['zstd', '-q', '-1', '-o', join(dir, 'out'), join(dir, 'in')]);
    return readFileSync(join(dir, 'out'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BuiltImage {
  config: Buffer;
  configDigest: string;
  layers: { blob: Buffer; digest: string; diffId: string; mediaType: string }[];
  manifest: Buffer;
  manifestDigest: string;
}

export interface ImageSpec {
  /** One tar entry list per layer, bottom first. Use `.wh.name` and `.wh..wh..opq` entries for deletions. */
  layers: TarEntrySpec[][];
  compression?: TestCompression;
  /** Merged into the config's `config` (Cmd, Env, Labels, …). */
  runtime?: Record<string, unknown>;
  /** Overrides of top-level config fields. */
  configOverrides?: Record<string, unknown>;
  created?: string;
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const comp = spec.compression ?? 'gzip';
  const mediaType = comp === 'gzip' ? MT.ociLayerGzip : comp === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
  const layers = [];
  for (const entries of spec.layers) {
    const tar = buildTar(entries);
    const blob = await compress(tar, comp);
    layers.push({ blob, digest: sha256(blob), diffId: sha256(tar), mediaType });
  }
  const created = spec.created ?? '2026-01-02T03:04:05Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...spec.runtime },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({ created, created_by: `layer ${i}` })),
      ...spec.configOverrides,
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
    }),
  );
  return { config, configDigest: sha256(config), layers, manifest, manifestDigest: sha256(manifest) };
}

export type ArchiveFormat = 'docker-legacy' | 'docker-oci' | 'oci-layout';

/** Packs images into an archive `docker load` understands (and Wharf's load). */
export function buildArchive(images: { image: BuiltImage; repoTags?: string[] }[], format: ArchiveFormat): Buffer {
  const files: TarEntrySpec[] = [];
  const seen = new Set<string>();
  const add = (path: string, data: Buffer) => {
    if (seen.has(path)) return;
    seen.add(path);
    files.push({ path, data });
  };
  const hex = (d: string) => d.slice(7);
  if (format === 'docker-legacy') {
    const manifest = images.map(({ image, repoTags }) => {
      add(`${hex(image.configDigest)}.json`, image.config);
      const layerPaths = image.layers.map((l) => {
        const p = `${hex(l.diffId)}/layer.tar`;
        add(p, l.blob);
        return p;
      });
      return { Config: `${hex(image.configDigest)}.json`, RepoTags: repoTags ?? null, Layers: layerPaths };
    });
    add('manifest.json', Buffer.from(JSON.stringify(manifest)));
    return buildTar(files);
  }
  const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] as unknown[] };
  const manifest = [];
  for (const { image, repoTags } of images) {
    add(`blobs/sha256/${hex(image.configDigest)}`, image.config);
    for (const l of image.layers) add(`blobs/sha256/${hex(l.digest)}`, l.blob);
    add(`blobs/sha256/${hex(image.manifestDigest)}`, image.manifest);
    const desc = { mediaType: MT.ociManifest, digest: image.manifestDigest, size: image.manifest.length };
    if (repoTags?.length) {
      for (const t of repoTags) {
        index.manifests.push({
          ...desc,
          annotations: { 'io.containerd.image.name': t, 'org.opencontainers.image.ref.name': t.slice(t.lastIndexOf(':') + 1) },
        });
      }
    } else index.manifests.push(desc);
    manifest.push({
      Config: `blobs/sha256/${hex(image.configDigest)}`,
      RepoTags: repoTags ?? null,
      Layers: image.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    });
  }
  add('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  add('index.json', Buffer.from(JSON.stringify(index)));
  if (format === 'docker-oci') add('manifest.json', Buffer.from(JSON.stringify(manifest)));
  return buildTar(files);
}
