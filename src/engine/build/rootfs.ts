import { createHash } from 'node:crypto';
import {
  chownSync,
  chmodSync,
  copyFileSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../../core/errors.js';
import { resolveUser } from '../runtime/user.js';

// File operations inside a build rootfs (a mounted overlay or a plain directory), never
// leaving it: symlinks met on the way are resolved against the rootfs, like a chroot would.

const MAX_LINKS = 40;

/** The host path of `path` inside `root`, following symlinks within root (the last one too when `followLast`). */
export function resolveInRoot(root: string, path: string, followLast = true): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length) {
    const p = parts.shift()!;
    if (p === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, p);
    let st: Stats | undefined;
    try {
      st = lstatSync(host);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink() && (parts.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw new WharfError('InvalidArgument', `too many levels of symbolic links in ${path}`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) done.length = 0;
      parts.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    done.push(p);
  }
  return join(root, ...done);
}

/** mkdir -p inside root; new directories get mode 0755 and the given owner. */
export function mkdirInRoot(root: string, path: string, uid = 0, gid = 0): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let cur = '/';
  for (const p of parts) {
    const next = cur === '/' ? `/${p}` : `${cur}/${p}`;
    const host = resolveInRoot(root, next);
    let st: Stats | undefined;
    try {
      st = lstatSync(host);
    } catch {
      st = undefined;
    }
    if (!st) {
      mkdirSync(host, { mode: 0o755 });
      chmodSync(host, 0o755);
      if (uid !== 0 || gid !== 0) chownSync(host, uid, gid);
    } else if (!st.isDirectory()) {
      throw new WharfError('InvalidArgument', `cannot create directory ${next}: a file is in the way`);
    }
    cur = next;
  }
  return resolveInRoot(root, path);
}

export function readRootFile(root: string, path: string): string | undefined {
  try {
    return readFileSync(resolveInRoot(root, path), 'utf8');
  } catch {
    return undefined;
  }
}

/** `--chown` → uid/gid, names looked up in the rootfs's /etc/passwd and /etc/group (Docker: no group → gid = uid). */
export function resolveChown(root: string, spec: string): { uid: number; gid: number } {
  const passwd = readRootFile(root, '/etc/passwd');
  const group = readRootFile(root, '/etc/group');
  const colon = spec.indexOf(':');
  const u = resolveUser(colon < 0 ? spec : spec.slice(0, colon), passwd, group);
  if (colon < 0) return { uid: u.uid, gid: /^\d+$/.test(spec) ? u.uid : u.gid };
  const g = resolveUser(spec, passwd, group);
  return { uid: u.uid, gid: g.gid };
}

export interface CopyOptions {
  uid?: number;
  gid?: number;
  /** `--chmod`: mode for files and directories copied. */
  mode?: number;
  /** Relative paths (to the source root) to copy (.dockerignore); directories are asked with isDir. */
  include?: (rel: string, isDir: boolean) => boolean;
}

/**
 * Copies `src` (a file, symlink or directory on the host) to the host path `dest`: a directory's
 * contents are merged into `dest`. Owners are `uid:gid` (default root), modes and mtimes kept.
 */
export function copyTree(src: string, dest: string, opts: CopyOptions, rel = ''): void {
  const st = lstatSync(src);
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  if (st.isDirectory()) {
    let dst: Stats | undefined;
    try {
      dst = lstatSync(dest);
    } catch {
      dst = undefined;
    }
    if (dst && !dst.isDirectory()) rmSync(dest, { force: true });
    if (!dst || !dst.isDirectory()) {
      mkdirSync(dest, { mode: 0o755 });
      chmodSync(dest, opts.mode ?? st.mode & 0o7777);
      chownSync(dest, uid, gid);
    } else if (rel !== '' || opts.mode !== undefined) {
      chmodSync(dest, opts.mode ?? st.mode & 0o7777);
      chownSync(dest, uid, gid);
    }
    for (const n of readdirSync(src).sort()) {
      const r = rel === '' ? n : `${rel}/${n}`;
      if (opts.include && !opts.include(r, lstatSync(join(src, n)).isDirectory())) continue;
      copyTree(join(src, n), join(dest, n), opts, r);
    }
    if (rel !== '' || !dst) utimesSync(dest, st.atime, st.mtime);
    return;
  }
  rmSync(dest, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dest);
    lchownSync(dest, uid, gid);
    lutimesSync(dest, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) return; // devices, fifos, sockets are not copied from a context
  copyFileSync(src, dest);
  chownSync(dest, uid, gid);
  chmodSync(dest, opts.mode ?? st.mode & 0o7777);
  utimesSync(dest, st.atime, st.mtime);
}

/**
 * A checksum of a file or tree for the build cache: relative names, types, modes, link targets
 * and contents (not owners or times: they do not change what COPY produces, except via flags,
 * which are part of the instruction text).
 */
export function treeChecksum(src: string, include?: (rel: string, isDir: boolean) => boolean): string {
  const h = createHash('sha256');
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    if (st.isDirectory()) {
      h.update(`d ${rel} ${st.mode & 0o7777}\n`);
      for (const n of readdirSync(abs).sort()) {
        const r = rel === '' ? n : `${rel}/${n}`;
        if (include && !include(r, lstatSync(join(abs, n)).isDirectory())) continue;
        walk(join(abs, n), r);
      }
    } else if (st.isSymbolicLink()) {
      h.update(`l ${rel} ${readlinkSync(abs)}\n`);
    } else if (st.isFile()) {
      h.update(`f ${rel} ${st.mode & 0o7777} ${st.size}\n`);
      h.update(readFileSync(abs));
    }
  };
  walk(src, '');
  return h.digest('hex');
}
