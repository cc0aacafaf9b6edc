import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, lstatSync, rmSync, statSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { run } from '../../core/exec/run.js';
import { isWharfError } from '../../core/errors.js';
import { buildTar, compress, sha256, type TarEntrySpec } from '../images/testing.js';
import { cleanTarPath, ensureWhiteoutTemplate, unpackLayer } from './unpack.js';

let root: string;
let template: string;
let n = 0;

beforeAll(async () => {
  root = mkdtempSync('/var/tmp/wharf-test-unpack-');
  template = await ensureWhiteoutTemplate(join(root, '.whiteout'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function unpack(entries: TarEntrySpec[] | Buffer, comp: 'none' | 'gzip' | 'zstd' = 'none', limits = {}) {
  const dest = join(root, `d${n++}`);
  mkdirSync(dest);
  const tar = Buffer.isBuffer(entries) ? entries : buildTar(entries);
  const blob = await compress(tar, comp);
  const res = await unpackLayer(Readable.from([blob.subarray(0, 1000), blob.subarray(1000)].filter((b) => b.length)), dest, {
    whiteoutTemplate: template,
    limits,
  });
  return { dest, res, tar };
}

async function getfattr(path: string, name: string): Promise<string | undefined> {
  const r = await run(['getfattr', '-h', '--only-values', '-n', name, path], { allowFailure: true });
  return r.code === 0 ? r.stdout : undefined;
}

describe('cleanTarPath', () => {
  it('normalises and rejects escapes', () => {
    expect(cleanTarPath('./a//b/./c/')).toBe('a/b/c');
    expect(cleanTarPath('./')).toBe('');
    expect(cleanTarPath('/')).toBe('');
    expect(cleanTarPath('/./')).toBe('');
    expect(() => cleanTarPath('/...')).toThrow(/absolute/);
    expect(() => cleanTarPath('/..')).toThrow(/absolute/);
    expect(() => cleanTarPath('/etc/passwd')).toThrow(/absolute/);
    expect(() => cleanTarPath('a/../../b')).toThrow(/\.\./);
  });
});

describe('unpackLayer', () => {
  const tree: TarEntrySpec[] = [
    { path: './', type: 'dir', mode: 0o755 },
    { path: 'bin/', type: 'dir' },
    { path: 'bin/tool', data: 'hello', mode: 0o4755, uid: 1000, gid: 1001 },
    { path: 'bin/link', type: 'hardlink', linkname: 'bin/tool' },
    { path: 'etc/abs', type: 'symlink', linkname: '/etc/passwd' },
    { path: 'ro/', type: 'dir', mode: 0o555 },
    { path: 'ro/f', data: 'x' },
    { path: 'a/.wh.gone', data: '' },
    { path: 'op/.wh..wh..opq', data: '' },
    { path: 'op/new', data: 'n' },
    { path: 'cap', data: 'c', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'trusted.overlay.redirect': '/etc' } },
    { path: 'p', type: 'fifo' },
    { path: 'dup', data: 'first' },
    { path: 'dup', data: 'second' },
  ];
  for (const comp of ['none', 'gzip', 'zstd'] as const) {
    it(`unpacks a ${comp} layer with metadata, whiteouts and the diffID of the plain tar`, async () => {
      const { dest, res, tar } = await unpack(tree, comp);
      expect(res.diffId).toBe(sha256(tar));
      expect(res.tarSize).toBe(tar.length);
      expect(readFileSync(join(dest, 'bin/tool'), 'utf8')).toBe('hello');
      const st = statSync(join(dest, 'bin/tool'));
      expect(st.mode & 0o7777).toBe(0o4755);
      expect([st.uid, st.gid, st.nlink]).toEqual([1000, 1001, 2]);
      expect(st.mtimeMs).toBe(1700000000 * 1000);
      expect(readlinkSync(join(dest, 'etc/abs'))).toBe('/etc/passwd');
      expect(statSync(join(dest, 'ro')).mode & 0o777).toBe(0o555);
      const wh = lstatSync(join(dest, 'a/gone'));
      expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      expect(existsSync(join(dest, 'a/.wh.gone'))).toBe(false);
      expect(existsSync(join(dest, 'op/.wh..wh..opq'))).toBe(false);
      expect(await getfattr(join(dest, 'op'), 'trusted.overlay.opaque')).toBe('y');
      expect(await getfattr(join(dest, 'cap'), 'security.capability')).toBeDefined();
      expect(await getfattr(join(dest, 'cap'), 'trusted.overlay.redirect')).toBeUndefined();
      expect(existsSync(join(dest, 'p'))).toBe(false);
      expect(res.skipped).toContain('p');
      expect(readFileSync(join(dest, 'dup'), 'utf8')).toBe('second');
    });
  }

  it('replaces a directory by a later file entry and a file by a later directory', async () => {
    const { dest } = await unpack([
      { path: 'x/', type: 'dir' },
      { path: 'x/in', data: '1' },
      { path: 'x', data: 'file now' },
      { path: 'y', data: 'f' },
      { path: 'y/', type: 'dir' },
      { path: 'y/z', data: 'z' },
    ]);
    expect(readFileSync(join(dest, 'x'), 'utf8')).toBe('file now');
    expect(readFileSync(join(dest, 'y/z'), 'utf8')).toBe('z');
  });

  it('handles long names (PAX) ', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const { dest } = await unpack([{ path: long, data: 'L' }]);
    expect(readFileSync(join(dest, long), 'utf8')).toBe('L');
  });

  const hostile: [string, TarEntrySpec[], RegExp][] = [
    ['absolute path', [{ path: '/etc/evil', data: 'x' }], /absolute/],
    ['dot-dot', [{ path: 'a/../../evil', data: 'x' }], /\.\./],
    ['symlink then write through', [{ path: 'l', type: 'symlink', linkname: '/tmp' }, { path: 'l/evil', data: 'x' }], /symlink/],
    ['relative symlink then write through', [{ path: 'a/', type: 'dir' }, { path: 'a/l', type: 'symlink', linkname: '../../..' }, { path: 'a/l/evil', data: 'x' }], /symlink/],
    ['hardlink outside', [{ path: 'h', type: 'hardlink', linkname: '../../etc/passwd' }], /\.\./],
    ['hardlink absolute', [{ path: 'h', type: 'hardlink', linkname: '/etc/passwd' }], /absolute/],
    ['hardlink through symlink', [{ path: 'l', type: 'symlink', linkname: '/etc' }, { path: 'h', type: 'hardlink', linkname: 'l/passwd' }], /not a directory/],
    ['hardlink to missing', [{ path: 'h', type: 'hardlink', linkname: 'nope' }], /not in the layer/],
    ['char device', [{ path: 'dev/mem', type: 'char', devmajor: 1, devminor: 1 }], /device node/],
    ['block device', [{ path: 'sda', type: 'block', devmajor: 8, devminor: 0 }], /device node/],
    ['whiteout of ..', [{ path: 'a/.wh...', data: '' }], /whiteout|\.\./],
    ['whiteout via symlink parent', [{ path: 'l', type: 'symlink', linkname: '/etc' }, { path: 'l/.wh.passwd', data: '' }], /symlink/],
  ];
  for (const [name, entries, re] of hostile) {
    it(`refuses a layer with: ${name}`, async () => {
      const err = await unpack(entries).then(() => undefined, (e: unknown) => e);
      expect(isWharfError(err, 'InvalidArgument')).toBe(true);
      expect((err as Error).message).toMatch(re);
    });
  }

  it('caps declared sizes and entry counts', async () => {
    const huge = buildTar([{ path: 'big', declaredSize: 2 ** 40 }], { trailer: false });
    const e1 = await unpack(huge, 'none', { maxEntrySize: 1 << 30 }).catch((e: unknown) => e);
    expect(isWharfError(e1, 'TooLarge')).toBe(true);
    const e2 = await unpack([{ path: 'a', data: 'x'.repeat(100) }, { path: 'b', data: 'y'.repeat(100) }], 'none', { maxTotalSize: 150 }).catch((e: unknown) => e);
    expect(isWharfError(e2, 'TooLarge')).toBe(true);
  });

  it('rejects truncated and corrupt input', async () => {
    const tar = buildTar([{ path: 'a', data: 'x'.repeat(5000) }]);
    const gz = await compress(tar, 'gzip');
    for (const bad of [tar.subarray(0, 2000), gz.subarray(0, gz.length - 30), Buffer.concat([gz.subarray(0, 20), Buffer.alloc(200, 7)])]) {
      const err = await unpack(bad).catch((e: unknown) => e);
      expect(isWharfError(err, 'InvalidArgument'), String(err)).toBe(true);
    }
    const zs = await compress(tar, 'zstd');
    const err = await unpack(zs.subarray(0, zs.length - 10)).catch((e: unknown) => e);
    expect(isWharfError(err, 'InvalidArgument'), String(err)).toBe(true);
  });

  it('never writes outside the destination', () => {
    expect(readdirSync(root).every((d) => d === '.whiteout' || /^d\d+$/.test(d))).toBe(true);
  });
});

describe('unpackLayer under random corruption', () => {
  it('either unpacks or fails with a WharfError, and never writes outside its directory', async () => {
    const fc = await import('fast-check');
    const good = buildTar([
      { path: 'd/', type: 'dir' },
      { path: 'd/f', data: 'hello world'.repeat(50) },
      { path: 'd/l', type: 'symlink', linkname: '../../../../etc' },
      { path: 'h', type: 'hardlink', linkname: 'd/f' },
      { path: `${'x'.repeat(120)}/y`, data: 'long' },
      { path: 'd/.wh.gone', data: '' },
    ]);
    const before = readdirSync(root).length;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (edits) => {
        const bad = Buffer.from(good);
        for (const [i, v] of edits) bad[i] = v;
        const dest = join(root, `fz${n++}`);
        mkdirSync(dest);
        try {
          await unpackLayer(Readable.from([bad]), dest, { whiteoutTemplate: template, limits: { maxEntrySize: 1 << 20, maxTotalSize: 1 << 22 } });
        } catch (err) {
          if (!isWharfError(err)) throw err;
        } finally {
          rmSync(dest, { recursive: true, force: true });
        }
        expect(readdirSync(root).length).toBe(before);
      }),
      { numRuns: 150 },
    );
  });
});
