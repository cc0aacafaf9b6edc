import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '../../src/core/log.js';
import { isWharfError } from '../../src/core/errors.js';
import { EngineDb } from '../../src/engine/db.js';
import { ImageService } from '../../src/engine/images/image-service.js';
import { buildArchive, buildImage, buildTar, compress, sha256, type BuiltImage, type TarEntrySpec } from '../../src/engine/images/testing.js';

// The hostile-archive corpus: every archive must fail with a clear WharfError, write nothing outside
// the data root (a sentinel directory next to it must stay byte-for-byte the same), and leave no
// image, layer, blob or temp file behind.

let base: string;
let root: string;
let sentinel: string;
let db: EngineDb;
let svc: ImageService;

function snapshotDir(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${n}` : n;
      const st = statSync(join(dir, p));
      out.push(`${p}:${st.mode}:${st.size}:${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

let sentinelBefore: string[];

beforeAll(async () => {
  base = mkdtempSync('/var/tmp/wharf-test-hostile-');
  root = join(base, 'data');
  sentinel = join(base, 'sentinel');
  mkdirSync(sentinel);
  writeFileSync(join(sentinel, 'file'), 'precious');
  mkdirSync(join(sentinel, 'dir'));
  sentinelBefore = snapshotDir(sentinel);
  db = EngineDb.open({ dataRoot: root });
  svc = new ImageService({ dataRoot: root, db, logger: silentLogger() });
  // One good image already present: hostile loads must not disturb it.
  const good = await buildImage({ layers: [[{ path: 'ok', data: 'ok' }]] });
  await svc.load(Readable.from([buildArchive([{ image: good, repoTags: ['good:1'] }], 'docker-legacy')]));
});
afterAll(() => {
  db.close();
  rmSync(base, { recursive: true, force: true });
});

const hex = (d: string) => d.slice(7);

/** A legacy docker-archive with arbitrary manifest.json / files. */
function legacy(files: TarEntrySpec[], manifest?: unknown): Buffer {
  const all = [...files];
  if (manifest !== undefined) all.push({ path: 'manifest.json', data: typeof manifest === 'string' ? manifest : JSON.stringify(manifest) });
  return buildTar(all);
}

/** An image whose single layer has the given entries, as a legacy docker-archive. */
async function layerArchive(entries: TarEntrySpec[] | Buffer, comp: 'none' | 'gzip' | 'zstd' = 'none'): Promise<Buffer> {
  const tar = Buffer.isBuffer(entries) ? entries : buildTar(entries);
  const blob = await compress(tar, comp);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));
  return legacy(
    [
      { path: 'c.json', data: config },
      { path: 'l/layer.tar', data: blob },
    ],
    [{ Config: 'c.json', RepoTags: ['hostile:1'], Layers: ['l/layer.tar'] }],
  );
}

function ociWith(img: BuiltImage, mutate: (files: Map<string, Buffer>, index: Record<string, unknown>) => void): Buffer {
  const files = new Map<string, Buffer>();
  files.set(`blobs/sha256/${hex(img.configDigest)}`, img.config);
  files.set(`blobs/sha256/${hex(img.manifestDigest)}`, img.manifest);
  for (const l of img.layers) files.set(`blobs/sha256/${hex(l.digest)}`, l.blob);
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: img.manifestDigest, size: img.manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/hostile:oci' } }],
  };
  mutate(files, index);
  if (!files.has('index.json')) files.set('index.json', Buffer.from(JSON.stringify(index)));
  return buildTar([...files].map(([path, data]) => ({ path, data })));
}

type Case = [name: string, make: () => Promise<Buffer> | Buffer, kinds?: string[]];

const SENT = () => sentinel;
const cases: Case[] = [
  ['random bytes instead of a tar', () => Buffer.alloc(4096, 0x41)],
  ['empty stream', () => Buffer.alloc(0)],
  ['truncated archive', async () => (await layerArchive([{ path: 'a', data: 'x'.repeat(3000) }])).subarray(0, 1500)],
  ['manifest.json is not JSON', () => legacy([], '{nope')],
  ['manifest.json is not an array', () => legacy([], { Config: 'x' })],
  ['no manifest.json nor index.json', () => buildTar([{ path: 'hello', data: 'x' }])],
  ['manifest.json Config points outside', () => legacy([], [{ Config: '../../sentinel/file', RepoTags: [], Layers: [] }])],
  ['manifest.json layer with nested ../', async () => legacy([{ path: 'c.json', data: '{}' }], [{ Config: 'c.json', Layers: ['a/b/../../../etc/passwd'] }])],
  ['manifest.json absolute layer path', () => legacy([{ path: 'c.json', data: '{}' }], [{ Config: 'c.json', Layers: ['/etc/passwd'] }])],
  ['manifest.json points at a missing layer', () => legacy([{ path: 'c.json', data: '{}' }], [{ Config: 'c.json', Layers: ['missing/layer.tar'] }])],
  ['archive symlink to outside', () => legacy([{ path: 'c.json', data: '{}' }, { path: 'l/layer.tar', type: 'symlink', linkname: '../../../etc/passwd' }], [{ Config: 'c.json', Layers: ['l/layer.tar'] }])],
  ['config is not JSON', () => legacy([{ path: 'c.json', data: 'not json' }, { path: 'l', data: buildTar([]) }], [{ Config: 'c.json', Layers: ['l'] }])],
  ['config without rootfs', () => legacy([{ path: 'c.json', data: '{"architecture":"amd64","os":"linux"}' }], [{ Config: 'c.json', Layers: [] }])],
  ['bad RepoTags', async () => {
    const a = await layerArchive([{ path: 'a', data: 'a' }]);
    return Buffer.from(a.toString('latin1').replace('hostile:1', 'HOST!LE:1'), 'latin1');
  }],
  ['diff_ids count differs from layers', () => {
    const tar = buildTar([{ path: 'a', data: 'a' }]);
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar), sha256(tar)] } });
    return legacy([{ path: 'c.json', data: cfg }, { path: 'l.tar', data: tar }], [{ Config: 'c.json', Layers: ['l.tar'] }]);
  }],
  ['diffID mismatch', () => {
    const tar = buildTar([{ path: 'a', data: 'a' }]);
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256('other')] } });
    return legacy([{ path: 'c.json', data: cfg }, { path: 'l.tar', data: tar }], [{ Config: 'c.json', Layers: ['l.tar'] }]);
  }],
  ['OCI blob digest mismatch', async () => {
    const img = await buildImage({ layers: [[{ path: 'a', data: 'a' }]] });
    return ociWith(img, (f) => f.set(`blobs/sha256/${hex(img.layers[0]!.digest)}`, Buffer.from('tampered')));
  }],
  ['OCI descriptor size mismatch', async () => {
    const img = await buildImage({ layers: [[{ path: 'a', data: 'a' }]] });
    return ociWith(img, (_f, idx) => ((idx.manifests as { size: number }[])[0]!.size = 3));
  }],
  ['OCI manifest points at a missing blob', async () => {
    const img = await buildImage({ layers: [[{ path: 'a', data: 'a' }]] });
    return ociWith(img, (f) => f.delete(`blobs/sha256/${hex(img.layers[0]!.digest)}`));
  }],
  ['OCI index.json is not JSON', async () => {
    const img = await buildImage({ layers: [[{ path: 'a', data: 'a' }]] });
    return ociWith(img, (f) => f.set('index.json', Buffer.from('[[[')));
  }],
  ['OCI index without linux/amd64', async () => {
    const img = await buildImage({ layers: [[{ path: 'a', data: 'a' }]] });
    return ociWith(img, (_f, idx) => ((idx.manifests as Record<string, unknown>[])[0]!.platform = { os: 'windows', architecture: 'amd64' }));
  }],
  ['corrupt gzip layer', async () => {
    const gz = gzipSync(buildTar([{ path: 'a', data: 'x'.repeat(10000) }]));
    gz.fill(0x55, 20, 60);
    return layerArchive(gz);
  }],
  ['truncated gzip layer', async () => {
    const tar = buildTar([{ path: 'a', data: 'x'.repeat(10000) }]);
    const gz = gzipSync(tar);
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } });
    return legacy([{ path: 'c.json', data: cfg }, { path: 'l', data: gz.subarray(0, gz.length - 40) }], [{ Config: 'c.json', Layers: ['l'] }]);
  }],
  ['corrupt zstd layer', async () => {
    const tar = buildTar([{ path: 'a', data: 'y'.repeat(10000) }]);
    const zs = await compress(tar, 'zstd');
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } });
    return legacy([{ path: 'c.json', data: cfg }, { path: 'l', data: zs.subarray(0, zs.length - 8) }], [{ Config: 'c.json', Layers: ['l'] }]);
  }],
  ['tar header checksum mismatch in a layer', async () => {
    const tar = buildTar([{ path: 'a', data: 'a' }]);
    tar[0] = 0x7a;
    return layerArchive(tar);
  }],
  ['layer with an absolute path into the sentinel', () => layerArchive([{ path: `${SENT()}/pwned`, data: 'x' }])],
  ['layer with .. traversal', () => layerArchive([{ path: '../../../../sentinel/pwned', data: 'x' }])],
  ['layer: symlink to the sentinel, then a write through it', () => layerArchive([{ path: 'esc', type: 'symlink', linkname: SENT() }, { path: 'esc/pwned', data: 'x' }])],
  ['layer: relative symlink climbing out, then a write through it', () =>
    layerArchive([{ path: 'a/', type: 'dir' }, { path: 'a/up', type: 'symlink', linkname: '../../../../sentinel' }, { path: 'a/up/pwned', data: 'x' }])],
  ['layer: directory replaced by a symlink (duplicate entry), then written into', () =>
    layerArchive([{ path: 'd/', type: 'dir' }, { path: 'd', type: 'symlink', linkname: SENT() }, { path: 'd/pwned', data: 'x' }])],
  ['layer: hardlink outside', () => layerArchive([{ path: 'h', type: 'hardlink', linkname: '../../../../sentinel/file' }])],
  ['layer: hardlink through a symlink', () => layerArchive([{ path: 's', type: 'symlink', linkname: SENT() }, { path: 'h', type: 'hardlink', linkname: 's/file' }])],
  ['layer: huge declared size', () => layerArchive(buildTar([{ path: 'big', data: 'x', declaredSize: 2 ** 41 }], { trailer: false })), ['TooLarge']],
  ['layer: char device', () => layerArchive([{ path: 'mem', type: 'char', devmajor: 1, devminor: 1 }])],
  ['layer: block device', () => layerArchive([{ path: 'sda', type: 'block', devmajor: 8, devminor: 0 }])],
  ['layer: whiteout escaping with .wh...', () => layerArchive([{ path: 'x/.wh...', data: '' }])],
  ['layer: whiteout through a symlink', () => layerArchive([{ path: 's', type: 'symlink', linkname: SENT() }, { path: 's/.wh.file', data: '' }])],
  ['layer: opaque marker through a symlink', () => layerArchive([{ path: 's', type: 'symlink', linkname: SENT() }, { path: 's/.wh..wh..opq', data: '' }])],
  ['device node in the outer archive', () => buildTar([{ path: 'manifest.json', type: 'char', devmajor: 1, devminor: 3 }])],
  ['second image bad: nothing of the first stays', async () => {
    const ok = await buildImage({ layers: [[{ path: 'fine', data: 'fine' }]], compression: 'none' });
    const badTar = buildTar([{ path: `${SENT()}/x`, data: 'x' }]);
    const badCfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(badTar)] } });
    return legacy(
      [
        { path: 'ok.json', data: ok.config },
        { path: 'ok.tar', data: ok.layers[0]!.blob },
        { path: 'bad.json', data: badCfg },
        { path: 'bad.tar', data: badTar },
      ],
      [
        { Config: 'ok.json', RepoTags: ['first:ok'], Layers: ['ok.tar'] },
        { Config: 'bad.json', RepoTags: ['second:bad'], Layers: ['bad.tar'] },
      ],
    );
  }],
];

describe('hostile archive corpus', () => {
  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const [name, make, kinds] of cases) {
    it(`refuses: ${name}`, async () => {
      const before = (await svc.list()).map((i) => i.id);
      const blobsBefore = readdirSync(join(root, 'blobs', 'sha256')).sort();
      const layersBefore = readdirSync(join(root, 'layers')).sort();
      const err = await svc.load(Readable.from([await make()])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, "load must fail").toBeDefined();
      if (process.env.SHOW_ERRORS) console.log(`${name} => ${(err as Error).message}`);
      expect(isWharfError(err), String(err)).toBe(true);
      expect(kinds ?? ['InvalidArgument', 'TooLarge']).toContain((err as { kind: string }).kind);
      expect((err as Error).message.length).toBeGreaterThan(10);
      // Nothing changed: no image, layer, blob, temp file; nothing outside the data root.
      expect((await svc.list()).map((i) => i.id)).toEqual(before);
      expect(readdirSync(join(root, 'blobs', 'sha256')).sort()).toEqual(blobsBefore);
      expect(readdirSync(join(root, 'layers')).sort()).toEqual(layersBefore);
      expect(readdirSync(join(root, 'blobs', 'ingest'))).toEqual([]);
      expect(snapshotDir(sentinel)).toEqual(sentinelBefore);
      expect(readFileSync(join(sentinel, 'file'), 'utf8')).toBe('precious');
    });
  }

  it('the good image survived every attempt', async () => {
    expect((await svc.list()).flatMap((i) => i.repoTags)).toEqual(['good:1']);
  });
});
