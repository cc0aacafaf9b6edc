import { mkdir, writeFile, copyFile, symlink, rm, chmod } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// A busybox rootfs for runtime tests, made from Debian's busybox-static: /bin/busybox,
// one symlink per applet, /etc/passwd and /etc/group (root, nobody, a test user in two groups).

export const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n';
export const GROUP = 'root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\nwheel:x:10:root,alice\n';

export async function makeBusyboxRootfs(dir: string): Promise<string> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (const d of ['etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home/alice', 'usr/bin', 'usr/sbin', 'sbin', 'var/tmp']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  const list = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const p of list) {
    if (p === 'bin/busybox') continue;
    await symlink('/bin/busybox', join(dir, p)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  await writeFile(join(dir, 'etc/passwd'), PASSWD);
  await writeFile(join(dir, 'etc/group'), GROUP);
  return dir;
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
