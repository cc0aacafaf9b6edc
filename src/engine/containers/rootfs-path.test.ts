import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GO_MODE_DIR, GO_MODE_SYMLINK, encodePathStat, goFileMode, resolveInRoot, statInRoot } from './rootfs-path.js';
import { cleanEntryName } from './container-fs.js';

// Paths inside a rootfs that a hostile container prepared: every symlink resolves within it.

let root: string;

beforeAll(async () => {
  const dir = await mkdtemp('/var/tmp/wharf-test-rootfs-');
  root = join(dir, 'rootfs');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(root, 'tmp/d'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await symlink('/', join(root, 'tmp/abs-root')); // absolute: the container's root, not the host's
  await symlink('../../../../../../..', join(root, 'tmp/climb')); // relative, climbing past the root
  await symlink('/etc', join(root, 'tmp/etc-link'));
  await symlink('/tmp/loop2', join(root, 'tmp/loop1'));
  await symlink('/tmp/loop1', join(root, 'tmp/loop2'));
  await symlink('d/../../etc/passwd', join(root, 'tmp/rel-file'));
});

afterAll(async () => {
  await rm(join(root, '..'), { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('absolute and climbing symlinks stay inside the root', async () => {
    expect(await resolveInRoot(root, '/tmp/abs-root/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/tmp/climb/etc/shadow')).toBe(join(root, 'etc/shadow'));
    expect(await resolveInRoot(root, '/../../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/tmp/etc-link/')).toBe(join(root, 'etc'));
  });

  it('the last component is followed only when asked; relative links resolve from their directory', async () => {
    expect(await resolveInRoot(root, '/tmp/etc-link')).toBe(join(root, 'tmp/etc-link'));
    expect(await resolveInRoot(root, '/tmp/etc-link', { followLast: true })).toBe(join(root, 'etc'));
    expect(await resolveInRoot(root, '/tmp/rel-file', { followLast: true })).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/tmp/climb', { followLast: true })).toBe(root);
  });

  it('missing components are kept; symlink loops are an error', async () => {
    expect(await resolveInRoot(root, '/tmp/new/dir/f')).toBe(join(root, 'tmp/new/dir/f'));
    await expect(resolveInRoot(root, '/tmp/loop1/x')).rejects.toThrow(/too many levels/);
  });
});

describe('stat header', () => {
  it('Go FileMode bits: directory 1<<31, symlink 1<<27, permissions', () => {
    expect(goFileMode(0o040755)).toBe(GO_MODE_DIR + 0o755);
    expect(goFileMode(0o120777)).toBe(GO_MODE_SYMLINK + 0o777);
    expect(goFileMode(0o100644)).toBe(0o644);
    expect(goFileMode(0o104755)).toBe(2 ** 23 + 0o755); // setuid
  });

  it('a symlink reports itself with linkTarget the container path it resolves to; base64 JSON', async () => {
    const s = await statInRoot(root, '/tmp/etc-link');
    expect(s?.stat).toMatchObject({ name: 'etc-link', linkTarget: '/etc' });
    expect(s!.stat.mode & GO_MODE_SYMLINK).toBe(GO_MODE_SYMLINK);
    const dir = await statInRoot(root, '/tmp/');
    expect(dir?.stat.name).toBe('tmp');
    expect(dir!.stat.mode >= GO_MODE_DIR).toBe(true);
    expect(await statInRoot(root, '/nope')).toBeUndefined();
    const decoded = JSON.parse(Buffer.from(encodePathStat(s!.stat), 'base64').toString()) as Record<string, unknown>;
    expect(Object.keys(decoded).sort()).toEqual(['linkTarget', 'mode', 'mtime', 'name', 'size']);
  });
});

describe('archive entry names', () => {
  it('are cleaned; names climbing out of the destination are refused', () => {
    expect(cleanEntryName('./a/b/')).toBe('a/b');
    expect(cleanEntryName('/abs/x')).toBe('abs/x');
    expect(cleanEntryName('a/../b')).toBe('b');
    expect(cleanEntryName('.')).toBe('.');
    expect(() => cleanEntryName('a/../../b')).toThrow(/outside of the destination/);
    expect(() => cleanEntryName('../../../etc/passwd')).toThrow(/outside of the destination/);
  });
});
