import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../../core/errors.js';

// Paths inside a container's root filesystem, resolved as if chrooted there: `..` stops at the
// root and every symlink (absolute or relative) is resolved against the rootfs, never the host.
// The result is always a host path under `root` (lexically), whatever the container planted.

const MAX_LINKS = 40;

/**
 * Resolves container path `path` to a host path under `root`. Symlinks in every component are
 * followed within the root; the last one only with `followLast`. Missing components are kept
 * as written (the caller may create them).
 */
export async function resolveInRoot(root: string, path: string, opts: { followLast?: boolean } = {}): Promise<string> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  // A trailing slash (or `/.`) names the directory a symlink points to, as in a shell.
  const followLast = opts.followLast === true || /\/\.?$/.test(path);
  let resolved: string[] = [];
  let links = 0;
  let missing = false;
  while (parts.length > 0) {
    const p = parts.shift()!;
    if (p === '..') {
      resolved.pop();
      continue;
    }
    const isLast = parts.length === 0;
    if (!missing) {
      const cand = join(root, ...resolved, p);
      const st = await lstat(cand).catch(() => undefined);
      if (!st) missing = true;
      else if (st.isSymbolicLink() && (!isLast || followLast)) {
        if (++links > MAX_LINKS) throw invalid(`too many levels of symbolic links: ${path}`);
        const target = await readlink(cand);
        if (target.startsWith('/')) resolved = [];
        parts.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
    }
    resolved.push(p);
  }
  return join(root, ...resolved);
}

/** The container path of a host path under `root` ('/' for the root itself). */
export function containerPath(root: string, hostPath: string): string {
  const rel = hostPath === root ? '' : hostPath.slice(root.length + 1);
  return `/${rel}`;
}

/** Go's os.FileMode bits, as Docker's X-Docker-Container-Path-Stat `mode` carries them. */
export const GO_MODE_DIR = 2 ** 31;
export const GO_MODE_SYMLINK = 2 ** 27;
const GO_MODE_DEVICE = 2 ** 26;
const GO_MODE_NAMED_PIPE = 2 ** 25;
const GO_MODE_SOCKET = 2 ** 24;
const GO_MODE_SETUID = 2 ** 23;
const GO_MODE_SETGID = 2 ** 22;
const GO_MODE_CHAR_DEVICE = 2 ** 21;
const GO_MODE_STICKY = 2 ** 20;

/** A unix st_mode → Go's os.FileMode (type bits high, permissions low). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) m += GO_MODE_DIR;
  else if (type === 0o120000) m += GO_MODE_SYMLINK;
  else if (type === 0o010000) m += GO_MODE_NAMED_PIPE;
  else if (type === 0o140000) m += GO_MODE_SOCKET;
  else if (type === 0o060000) m += GO_MODE_DEVICE;
  else if (type === 0o020000) m += GO_MODE_DEVICE + GO_MODE_CHAR_DEVICE;
  if (mode & 0o4000) m += GO_MODE_SETUID;
  if (mode & 0o2000) m += GO_MODE_SETGID;
  if (mode & 0o1000) m += GO_MODE_STICKY;
  return m;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Docker's X-Docker-Container-Path-Stat header value: base64 of the JSON stat. */
export function encodePathStat(s: PathStat): string {
  return Buffer.from(JSON.stringify(s)).toString('base64');
}

/**
 * Docker's container path stat: the last component is not followed (a symlink reports itself,
 * with `linkTarget` the container path it resolves to). Undefined when the path does not exist.
 */
export async function statInRoot(root: string, path: string): Promise<{ stat: PathStat; hostPath: string } | undefined> {
  const hostPath = await resolveInRoot(root, path);
  const st = await lstat(hostPath).catch(() => undefined);
  if (!st) return undefined;
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const target = await resolveInRoot(root, path, { followLast: true });
    linkTarget = containerPath(root, target);
  }
  const trimmed = path.replace(/\/+$/, '');
  const base = trimmed === '' ? '/' : trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return {
    hostPath,
    stat: { name: base, size: st.size, mode: goFileMode(st.mode), mtime: st.mtime.toISOString(), linkTarget },
  };
}
