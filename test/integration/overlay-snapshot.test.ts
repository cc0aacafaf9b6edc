import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/core/log.js';
import { run } from '../../src/core/exec/run.js';
import { EngineDb } from '../../src/engine/db.js';
import { ImageService } from '../../src/engine/images/image-service.js';
import { buildArchive, buildImage } from '../../src/engine/images/testing.js';
import { OverlaySnapshotter } from '../../src/engine/snapshots/overlay-snapshotter.js';

// A 3-layer image with a file whiteout and an opaque directory, mounted for real with overlayfs.

if (process.getuid?.() !== 0) throw new Error('overlay snapshot test must run as root');

let root: string;
let db: EngineDb;
let target: string;
const cid = `c-${randomBytes(4).toString('hex')}`;

beforeAll(() => {
  root = mkdtempSync('/var/tmp/wharf-test-overlay-');
  db = EngineDb.open({ dataRoot: root });
  target = join(root, 'rootfs');
  mkdirSync(target);
});
afterAll(async () => {
  await run(['umount', target], { allowFailure: true });
  db.close();
  rmSync(root, { recursive: true, force: true });
});

function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(dir, rel)).sort()) {
    const p = rel ? `${rel}/${n}` : n;
    const st = lstatSync(join(dir, p));
    if (st.isDirectory()) out.push(`${p}/`, ...tree(dir, p));
    else if (st.isSymbolicLink()) out.push(`${p} -> link`);
    else out.push(`${p}=${readFileSync(join(dir, p), 'utf8')}`);
  }
  return out;
}

describe('OverlaySnapshotter on a real overlay mount', () => {
  it('reads exactly the merged tree of a 3-layer image with deletions, then unmounts and cleans', async () => {
    const images = new ImageService({ dataRoot: root, db, logger: silentLogger() });
    const img = await buildImage({
      layers: [
        [
          { path: 'etc/', type: 'dir' },
          { path: 'etc/keep', data: 'k1' },
          { path: 'etc/gone', data: 'g' },
          { path: 'data/', type: 'dir' },
          { path: 'data/old1', data: 'o1' },
          { path: 'data/sub/', type: 'dir' },
          { path: 'data/sub/old2', data: 'o2' },
          { path: 'bin/', type: 'dir' },
          { path: 'bin/sh', type: 'symlink', linkname: 'busybox' },
        ],
        [
          { path: 'etc/.wh.gone', data: '' },
          { path: 'etc/keep', data: 'k2' },
          { path: 'data/.wh..wh..opq', data: '' },
          { path: 'data/fresh', data: 'f' },
        ],
        [{ path: 'etc/added', data: 'a' }],
      ],
    });
    await images.load(Readable.from([buildArchive([{ image: img, repoTags: ['three:layers'] }], 'oci-layout')]));
    const snap = new OverlaySnapshotter({ dataRoot: root, db, images });
    const mounts = await snap.prepare(cid, img.configDigest);
    expect(mounts[0]!.type).toBe('overlay');
    expect(mounts[0]!.options[0]).toMatch(/^lowerdir=.*:.*:/);
    expect(await snap.prepare(cid, img.configDigest)).toEqual(mounts); // idempotent
    await snap.mount(mounts, target);
    try {
      expect(tree(target)).toEqual([
        'bin/',
        'bin/sh -> link',
        'data/',
        'data/fresh=f',
        'etc/',
        'etc/added=a',
        'etc/keep=k2',
      ]);
      writeFileSync(join(target, 'etc/new'), 'container write');
      rmSync(join(target, 'etc/added'));
    } finally {
      await snap.unmount(target);
    }
    // Writes went to the container's upper dir, never to the shared layers.
    const upper = join(root, 'containers', cid, 'upper');
    expect(readFileSync(join(upper, 'etc/new'), 'utf8')).toBe('container write');
    const chains = (await images.inspect('three:layers')).chainIds;
    for (const c of chains) expect(existsSync(join(root, 'layers', c.slice(7), 'etc/new'))).toBe(false);
    expect(readFileSync(join(root, 'layers', chains[2]!.slice(7), 'etc/added'), 'utf8')).toBe('a');
    // The image cannot take its layers away while the snapshot exists.
    await images.remove('three:layers', { force: true });
    expect(await images.list()).toEqual([]);
    for (const c of chains) expect(existsSync(join(root, 'layers', c.slice(7)))).toBe(true);
    await snap.remove(cid);
    expect(existsSync(upper)).toBe(false);
    await images.gc();
    expect(readdirSync(join(root, 'layers')).filter((n) => n !== '.whiteout')).toEqual([]);
    await snap.unmount(target); // unmounting twice is fine
  });
});
