import { afterEach, describe, expect, it } from 'vitest';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../core/exec/run.js';
import { TarParser, type TarHeader } from '../snapshots/tar-parser.js';
import { writeLayerFromUpper } from './layer-diff.js';

// An overlay upper dir made by hand (whiteout char device 0:0, opaque xattr, hard link, symlink)
// turned into an OCI layer: the entries a registry or another engine would see.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function entries(tar: Buffer): TarHeader[] {
  const out: TarHeader[] = [];
  const p = new TarParser({ onEntry: (h) => out.push(h), onData: () => undefined, onEntryEnd: () => undefined }, { maxEntrySize: 1 << 20 });
  p.push(tar);
  p.end();
  return out;
}

describe('writeLayerFromUpper', () => {
  it('writes files, dirs, symlinks and hard links in order, whiteouts as .wh. and opaque dirs as .wh..wh..opq', async () => {
    const upper = mkdtempSync('/var/tmp/wharf-test-layerdiff-');
    dirs.push(upper);
    mkdirSync(join(upper, 'etc'));
    writeFileSync(join(upper, 'etc/conf'), 'x=1\n');
    linkSync(join(upper, 'etc/conf'), join(upper, 'etc/conf.bak'));
    symlinkSync('conf', join(upper, 'etc/link'));
    await run(['mknod', join(upper, 'etc/gone'), 'c', '0', '0']);
    mkdirSync(join(upper, 'var'));
    await run(['setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', join(upper, 'var')]);
    const chunks: Buffer[] = [];
    const r = await writeLayerFromUpper(upper, { write: (c) => chunks.push(Buffer.from(c)) });
    const list = entries(Buffer.concat(chunks)).map((h) => `${h.type} ${h.name}${h.linkname ? ` -> ${h.linkname}` : ''}`);
    expect(list).toEqual([
      'dir etc/',
      'file etc/conf',
      'hardlink etc/conf.bak -> etc/conf',
      'file etc/.wh.gone',
      'symlink etc/link -> conf',
      'dir var/',
      'file var/.wh..wh..opq',
    ]);
    expect(r.entries).toBe(7);
  });

  it('an unchanged upper dir gives no layer', async () => {
    const upper = mkdtempSync('/var/tmp/wharf-test-layerdiff-');
    dirs.push(upper);
    const chunks: Buffer[] = [];
    expect((await writeLayerFromUpper(upper, { write: (c) => chunks.push(Buffer.from(c)) })).entries).toBe(0);
    expect(chunks.length).toBe(0);
  });
});

describe('TarParser and the docker CLI 28 context', () => {
  it('accepts a tar whose last entry lacks its padding (what `docker build -f <outside>` sends), still refuses truncated data', () => {
    const header = (name: string, size: number) => {
      const b = Buffer.alloc(512);
      b.write(name, 0);
      b.write('0000644\0', 100);
      b.write('0000000\0', 108);
      b.write('0000000\0', 116);
      b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
      b.write('00000000000\0', 136);
      b.write('        ', 148);
      b.write('0', 156);
      b.write('ustar\0', 257);
      b.write('00', 263);
      let sum = 0;
      for (const x of b) sum += x;
      b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
      return b;
    };
    const body = Buffer.from('FROM busybox\n');
    const seen: string[] = [];
    const p = new TarParser({ onEntry: (h) => seen.push(h.name), onData: () => undefined, onEntryEnd: () => undefined }, { maxEntrySize: 1 << 20 });
    p.push(Buffer.concat([header('.dockerfile.x', body.length), body]));
    expect(() => p.end()).not.toThrow();
    expect(seen).toEqual(['.dockerfile.x']);
    const q = new TarParser({ onEntry: () => undefined, onData: () => undefined, onEntryEnd: () => undefined }, { maxEntrySize: 1 << 20 });
    q.push(Buffer.concat([header('f', 100), Buffer.alloc(10)]));
    expect(() => q.end()).toThrow(/truncated/);
  });
});
