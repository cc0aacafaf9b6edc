import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as C,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  chmodSync,
  chownSync,
  openSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, pipeline as pipelineCb } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { WharfError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { TarParser, type TarHeader } from './tar-parser.js';

// Unpacks one layer tar (plain, gzip or zstd) into a fresh directory in one pass:
// decompress → parse → write, hashing the uncompressed bytes (the diffID) on the way.
// Safety: every path is relative and free of `..`; every parent component must be a real
// directory created by this layer (a symlink or file earlier in the tar never redirects a later
// write); existing entries are unlinked, never opened through; hardlink targets must be inside the
// layer; device nodes are refused (except whiteouts), FIFOs are skipped; only `security.capability`
// and `user.*` xattrs are applied. OCI whiteouts become overlayfs whiteouts: `.wh.x` → a char
// device 0:0 (a hard link to a template made once with mknod), `.wh..wh..opq` → the
// `trusted.overlay.opaque=y` xattr on the directory.

export type Compression = 'gzip' | 'zstd' | 'none';

export interface UnpackLimits {
  maxEntrySize: number;
  maxTotalSize: number;
  maxEntries: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = {
  maxEntrySize: 64 * 1024 ** 3,
  maxTotalSize: 256 * 1024 ** 3,
  maxEntries: 5_000_000,
};

export interface UnpackResult {
  diffId: string;
  /** Uncompressed tar size in bytes. */
  tarSize: number;
  /** Sum of regular file sizes (hard links counted once). */
  size: number;
  entries: number;
  skipped: string[];
}

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

const ALLOWED_XATTR = (name: string) => name === 'security.capability' || name.startsWith('user.');

function layerError(msg: string): WharfError {
  return new WharfError('InvalidArgument', `unsafe or invalid layer: ${msg}`);
}

/**
 * Splits a tar path into clean components; rejects absolute paths and `..`. '' means the root.
 * The root entry itself may be spelled `/` (umoci's `insert … /` writes it): it names the layer root.
 */
export function cleanTarPath(name: string): string {
  const isRoot = name.split('/').every((p) => p === '' || p === '.');
  if (name.startsWith('/') && !isRoot) throw layerError(`absolute path ${JSON.stringify(name)}`);
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw layerError(`path with .. ${JSON.stringify(name)}`);
    parts.push(p);
  }
  return parts.join('/');
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** Creates the whiteout template (char device 0:0) once per data root. */
export async function ensureWhiteoutTemplate(path: string): Promise<string> {
  try {
    const st = lstatSync(path);
    if (st.isCharacterDevice() && st.rdev === 0) return path;
    rmSync(path, { force: true });
  } catch {
    /* missing */
  }
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await run(['mknod', '-m', '000', tmp, 'c', '0', '0']);
  try {
    linkSync(tmp, path);
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return path;
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

class Extractor {
  private readonly knownDirs = new Set<string>(['']);
  private readonly dirMeta = new Map<string, DirMeta>();
  private readonly whiteouts: string[] = [];
  private readonly xattrs: { rel: string; name: string; value: Buffer }[] = [];
  private readonly inodes = new Set<string>();
  readonly skipped: string[] = [];
  private fd: number | undefined;
  private fdHeader: TarHeader | undefined;
  private fdRel = '';
  size = 0;
  private total = 0;

  constructor(
    private readonly root: string,
    private readonly limits: UnpackLimits,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Ensures every ancestor of rel is a real directory (creating missing ones). */
  private ensureParents(rel: string): void {
    const parent = parentOf(rel);
    if (this.knownDirs.has(parent)) return;
    const parts = parent.split('/');
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (this.knownDirs.has(cur)) continue;
      let st;
      try {
        st = lstatSync(this.abs(cur));
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
        mkdirSync(this.abs(cur), 0o755);
        this.knownDirs.add(cur);
        continue;
      }
      if (st.isSymbolicLink()) throw layerError(`${JSON.stringify(rel)} would be written through the symlink ${JSON.stringify(cur)}`);
      if (!st.isDirectory()) throw layerError(`${JSON.stringify(rel)}: parent ${JSON.stringify(cur)} is not a directory`);
      this.knownDirs.add(cur);
    }
  }

  /** Checks (without creating) that every ancestor of rel is a real directory. */
  private assertParents(rel: string): void {
    let cur = '';
    for (const p of parentOf(rel).split('/').filter(Boolean)) {
      cur = cur ? `${cur}/${p}` : p;
      if (this.knownDirs.has(cur)) continue;
      const st = lstatSync(this.abs(cur), { throwIfNoEntry: false });
      if (!st) throw layerError(`${JSON.stringify(rel)}: ${JSON.stringify(cur)} does not exist`);
      if (!st.isDirectory()) throw layerError(`${JSON.stringify(rel)} goes through ${JSON.stringify(cur)}, which is not a directory`);
    }
  }

  /** Removes whatever is at rel (a duplicate entry): later entries win. */
  private removeExisting(rel: string, keepDir: boolean): boolean {
    const p = this.abs(rel);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      rmSync(p, { recursive: true, force: true });
      for (const d of [...this.knownDirs]) if (d === rel || d.startsWith(`${rel}/`)) this.knownDirs.delete(d);
      for (const d of [...this.dirMeta.keys()]) if (d === rel || d.startsWith(`${rel}/`)) this.dirMeta.delete(d);
      return false;
    }
    unlinkSync(p);
    return false;
  }

  onEntry(h: TarHeader): void {
    if (this.total + h.size > this.limits.maxTotalSize) {
      throw new WharfError('TooLarge', `layer is larger than the limit of ${this.limits.maxTotalSize} bytes`);
    }
    this.total += h.size;
    const rel = cleanTarPath(h.name);
    if (rel === '') {
      if (h.type !== 'dir') throw layerError(`root entry ${JSON.stringify(h.name)} is not a directory`);
      this.dirMeta.set('', { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
      return;
    }
    const base = baseOf(rel);
    if (base.startsWith('.wh.')) {
      this.ensureParents(rel);
      if (base === '.wh..wh..opq') {
        this.xattrs.push({ rel: parentOf(rel), name: 'trusted.overlay.opaque', value: Buffer.from('y') });
      } else if (base.startsWith('.wh..wh.')) {
        this.skipped.push(rel); // AUFS bookkeeping (.wh..wh.plnk …): not content
      } else {
        const target = base.slice(4);
        if (target === '' || target === '.' || target === '..') throw layerError(`bad whiteout ${JSON.stringify(h.name)}`);
        const wrel = parentOf(rel) ? `${parentOf(rel)}/${target}` : target;
        this.whiteouts.push(wrel);
      }
      return;
    }
    this.ensureParents(rel);
    const p = this.abs(rel);
    switch (h.type) {
      case 'dir': {
        if (!this.removeExisting(rel, true)) mkdirSync(p, 0o700);
        this.knownDirs.add(rel);
        this.dirMeta.set(rel, { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime });
        if (h.xattrs) this.addXattrs(rel, h);
        return;
      }
      case 'file': {
        let fd: number;
        try {
          fd = openSync(p, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw err;
          this.removeExisting(rel, false);
          fd = openSync(p, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        }
        this.fd = fd;
        this.fdHeader = h;
        this.fdRel = rel;
        this.size += h.size;
        return;
      }
      case 'symlink': {
        try {
          symlinkSync(h.linkname, p);
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw err;
          this.removeExisting(rel, false);
          symlinkSync(h.linkname, p);
        }
        if (h.uid !== 0 || h.gid !== 0) lchownSync(p, h.uid, h.gid);
        lutimesSync(p, h.mtime, h.mtime);
        return;
      }
      case 'hardlink': {
        const trel = cleanTarPath(h.linkname);
        if (trel === '') throw layerError(`hard link ${JSON.stringify(h.name)} to the root`);
        if (trel === rel) return;
        this.assertParents(trel);
        const tst = lstatSync(this.abs(trel), { throwIfNoEntry: false });
        if (!tst) throw layerError(`hard link ${JSON.stringify(h.name)} to ${JSON.stringify(h.linkname)}, which is not in the layer`);
        if (tst.isDirectory()) throw layerError(`hard link ${JSON.stringify(h.name)} to a directory`);
        try {
          linkSync(this.abs(trel), p);
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw err;
          this.removeExisting(rel, false);
          linkSync(this.abs(trel), p);
        }
        return;
      }
      case 'char':
        if (h.devmajor === 0 && h.devminor === 0) {
          this.whiteouts.push(rel); // an overlay-style whiteout already in the tar
          return;
        }
        throw layerError(`device node ${JSON.stringify(h.name)} (char ${h.devmajor}:${h.devminor}) is not allowed in a layer`);
      case 'block':
        throw layerError(`device node ${JSON.stringify(h.name)} (block ${h.devmajor}:${h.devminor}) is not allowed in a layer`);
      case 'fifo':
        this.skipped.push(rel);
        return;
    }
  }

  private addXattrs(rel: string, h: TarHeader): void {
    for (const [name, value] of h.xattrs ?? []) {
      if (ALLOWED_XATTR(name)) this.xattrs.push({ rel, name, value });
    }
  }

  onData(chunk: Buffer): void {
    if (this.fd === undefined) return;
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  onEntryEnd(): void {
    if (this.fd === undefined) return;
    const h = this.fdHeader!;
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (h.uid !== 0 || h.gid !== 0) fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode);
      futimesSync(fd, h.mtime, h.mtime);
    } finally {
      closeSync(fd);
    }
    if (h.xattrs) this.addXattrs(this.fdRel, h);
  }

  closeOpenFile(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  /** Deferred work: whiteouts, xattrs, directory metadata (deepest first, so read-only dirs do not block writes). */
  async finish(whiteoutTemplate: string): Promise<void> {
    for (const rel of this.whiteouts) {
      this.ensureParents(rel);
      this.removeExisting(rel, false);
      try {
        linkSync(whiteoutTemplate, this.abs(rel));
      } catch (err) {
        if (errno(err) !== 'EMLINK') throw err;
        // The template reached the file system's link limit: make a fresh one.
        rmSync(whiteoutTemplate, { force: true });
        await ensureWhiteoutTemplate(whiteoutTemplate);
        linkSync(whiteoutTemplate, this.abs(rel));
      }
    }
    // Group xattrs by (name, value) so one setfattr call handles many paths; -h never follows symlinks.
    const groups = new Map<string, { name: string; value: Buffer; paths: string[] }>();
    for (const x of this.xattrs) {
      this.assertParents(x.rel);
      const key = `${x.name}\0${x.value.toString('base64')}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { name: x.name, value: x.value, paths: [] }));
      g.paths.push(this.abs(x.rel));
    }
    for (const g of groups.values()) {
      for (let i = 0; i < g.paths.length; i += 500) {
        await run(['setfattr', '-h', '-n', g.name, '-v', `0s${g.value.toString('base64')}`, '--', ...g.paths.slice(i, i + 500)]);
      }
    }
    const dirs = [...this.dirMeta.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, m] of dirs) {
      const p = this.abs(rel);
      if (rel !== '') {
        this.assertParents(rel);
        const st = lstatSync(p, { throwIfNoEntry: false });
        if (!st?.isDirectory()) continue; // replaced by a later entry
      }
      if (m.uid !== 0 || m.gid !== 0) chownSync(p, m.uid, m.gid);
      chmodSync(p, m.mode);
      utimesSync(p, m.mtime, m.mtime);
    }
    if (!this.dirMeta.has('')) chmodSync(this.root, 0o755);
  }
}

/**
 * Unpacks `source` (compression detected from its first bytes) into `dest`, which must be an
 * empty directory. Throws InvalidArgument/TooLarge on a bad layer; the caller removes `dest` then.
 */
export async function unpackLayer(
  source: Readable,
  dest: string,
  opts: { whiteoutTemplate: string; limits?: Partial<UnpackLimits>; signal?: AbortSignal },
): Promise<UnpackResult> {
  const limits = { ...DEFAULT_UNPACK_LIMITS, ...opts.limits };
  const ex = new Extractor(dest, limits);
  const parser = new TarParser(ex, { maxEntrySize: limits.maxEntrySize });
  const hash = createHash('sha256');
  const feed = (chunk: Buffer) => {
    hash.update(chunk);
    parser.push(chunk);
    if (parser.entries > limits.maxEntries) throw new WharfError('TooLarge', `layer has more than ${limits.maxEntries} entries`);
  };
  let compression: Compression | undefined;
  const iter = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  try {
    const first = await iter.next();
    if (first.done) throw new WharfError('InvalidArgument', 'empty layer (0 bytes)');
    compression = detectCompression(first.value);
    const all = async function* () {
      yield first.value;
      for (;;) {
        opts.signal?.throwIfAborted();
        const n = await iter.next();
        if (n.done) return;
        yield n.value;
      }
    };
    if (compression === 'gzip') {
      await pipeline(all(), createGunzip({ chunkSize: 256 * 1024 }), async (plain: AsyncIterable<Buffer>) => {
        for await (const c of plain) feed(c);
      });
    } else if (compression === 'zstd') {
      const z = new ZstdDecompress((data) => feed(Buffer.from(data.buffer, data.byteOffset, data.length)));
      for await (const c of all()) z.push(c);
      z.push(new Uint8Array(0), true);
    } else {
      for await (const c of all()) feed(c);
    }
    parser.end();
    await ex.finish(opts.whiteoutTemplate);
  } catch (err) {
    ex.closeOpenFile();
    source.destroy();
    if (err instanceof WharfError) throw err;
    const code = errno(err);
    if (code && /^Z_/.test(code)) throw new WharfError('InvalidArgument', `corrupt ${compression} layer: ${(err as Error).message}`, { cause: err });
    if (compression === 'zstd' && typeof code !== 'string') throw new WharfError('InvalidArgument', `corrupt zstd layer: ${(err as Error).message}`, { cause: err });
    if ((err as Error).name === 'AbortError') throw err;
    throw new WharfError('Internal', `unpack layer: ${(err as Error).message}`, { cause: err });
  }
  return { diffId: `sha256:${hash.digest('hex')}`, tarSize: parser.bytes, size: ex.size, entries: parser.entries, skipped: ex.skipped };
}

/** Streams a (possibly compressed) layer blob as its uncompressed tar bytes. */
export async function* uncompressed(source: Readable): AsyncGenerator<Buffer> {
  const iter = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await iter.next();
  if (first.done) return;
  const compression = detectCompression(first.value);
  const all = async function* () {
    yield first.value;
    for (;;) {
      const n = await iter.next();
      if (n.done) return;
      yield n.value;
    }
  };
  if (compression === 'none') {
    yield* all();
  } else if (compression === 'gzip') {
    const gz = pipelineCb(Readable.from(all(), { objectMode: false }), createGunzip({ chunkSize: 256 * 1024 }), () => {
      /* errors surface through the iteration of gz */
    });
    for await (const c of gz) yield c as Buffer;
  } else {
    const pending: Buffer[] = [];
    const z = new ZstdDecompress((data) => pending.push(Buffer.from(data.buffer, data.byteOffset, data.length)));
    for await (const c of all()) {
      z.push(c);
      while (pending.length) yield pending.shift()!;
    }
    z.push(new Uint8Array(0), true);
    while (pending.length) yield pending.shift()!;
  }
}

/** The diffID (sha256 of the uncompressed tar) of a layer blob, without unpacking it. */
export async function diffIdOf(source: Readable): Promise<{ diffId: string; tarSize: number }> {
  const hash = createHash('sha256');
  let n = 0;
  try {
    for await (const c of uncompressed(source)) {
      hash.update(c);
      n += c.length;
    }
  } catch (err) {
    if (err instanceof WharfError) throw err;
    throw new WharfError('InvalidArgument', `corrupt layer: ${(err as Error).message}`, { cause: err });
  }
  return { diffId: `sha256:${hash.digest('hex')}`, tarSize: n };
}
