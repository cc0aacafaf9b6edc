import { readFileSync, statSync } from 'node:fs';
import { WharfError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import type { ImageConfigDoc } from './types.js';
import { padding, tarHeader, TAR_TRAILER } from '../../oci/tar-writer.js';

// The offline base image: busybox:latest from the host's busybox-static binary, one symlink per
// applet (`busybox --list-full`), /etc/passwd and /etc/group. Reproducible: every timestamp is the
// binary's mtime, so the same binary always yields the same image ID.

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
floppy:x:11:
news:x:13:
uucp:x:14:
audio:x:29:
www-data:x:33:
operator:x:37:
users:x:100:
nogroup:x:65534:
`;

export async function buildBusyboxLayer(busyboxPath: string): Promise<{ tar: Buffer; created: string }> {
  let bin: Buffer;
  let mtime: number;
  try {
    bin = readFileSync(busyboxPath);
    mtime = Math.floor(statSync(busyboxPath).mtimeMs / 1000);
  } catch (err) {
    throw new WharfError('Unavailable', `busybox bootstrap needs ${busyboxPath} (Debian package busybox-static): ${(err as Error).message}`, { cause: err });
  }
  const listed = (await run([busyboxPath, '--list-full'], { timeoutMs: 10_000 })).stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  const applets = listed.filter((p) => /^[a-z0-9_./[\]-]+$/i.test(p) && !p.includes('..') && p !== 'bin/busybox');
  const dirs = ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'sys', 'tmp', 'usr', 'usr/bin', 'usr/sbin', 'sbin', 'var', 'var/spool', 'var/spool/mail', 'var/www'];
  for (const a of applets) {
    const parts = a.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.includes(d)) dirs.push(d);
    }
  }
  const parts: Buffer[] = [];
  for (const d of dirs) {
    const mode = d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755;
    parts.push(tarHeader({ name: `${d}/`, type: 'dir', mode, mtime }));
  }
  const file = (name: string, data: Buffer, mode: number) => parts.push(tarHeader({ name, type: 'file', size: data.length, mode, mtime }), data, padding(data.length));
  file('bin/busybox', bin, 0o755);
  for (const a of applets) parts.push(tarHeader({ name: a, type: 'symlink', linkname: '/bin/busybox', mode: 0o777, mtime }));
  file('etc/passwd', Buffer.from(PASSWD), 0o644);
  file('etc/group', Buffer.from(GROUP), 0o644);
  parts.push(TAR_TRAILER);
  return { tar: Buffer.concat(parts), created: new Date(mtime * 1000).toISOString() };
}

export function busyboxConfig(diffId: string, created: string): ImageConfigDoc {
  return {
    architecture: { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? process.arch,
    os: 'linux',
    created,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: 'wharf image bootstrap: busybox-static from the host', comment: 'offline base image' }],
  };
}
