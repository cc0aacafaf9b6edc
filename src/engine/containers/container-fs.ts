import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, readFile, readlink, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { once } from 'node:events';
import { dirname, join, posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { WharfError, errorMessage, invalid, notFound } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import type { Logger } from '../../core/log.js';
import type { Mount } from '../snapshots/snapshotter.js';
import { resolveUser } from '../runtime/user.js';
import { resolveInRoot, statInRoot, type PathStat } from './rootfs-path.js';
import type { ContainerRecord } from './types.js';

// The container's files through the Docker API: archive GET/HEAD/PUT (docker cp), export,
// changes (from the overlay upper dir), sizes, and prune. Every path from a caller or from an
// archive is resolved inside the rootfs (rootfs-path.ts); stopped containers get their rootfs
// mounted for the call (ContainerService.withRootfs).

/** What this needs from the containers engine (ContainerService satisfies it). */
export interface ContainerFsHost {
  inspect(ref: string): ContainerRecord;
  list(opts?: { all?: boolean }): ContainerRecord[];
  withRootfs<T>(ref: string, fn: (rootfs: string, r: ContainerRecord) => Promise<T>): Promise<T>;
  snapshotMounts(id: string): Promise<Mount[]>;
  remove(ref: string, opts?: { force?: boolean }): Promise<void>;
}

export interface ContainerChange {
  Path: string;
  /** 0 modified, 1 added, 2 deleted. */
  Kind: 0 | 1 | 2;
}

export interface PutArchiveOptions {
  noOverwriteDirNonDir?: boolean;
  copyUIDGID?: boolean;
}

export interface PruneFilters {
  /** Unix seconds: only containers created before. */
  until?: number;
  /** `key` or `key=value`, all must match. */
  label?: string[];
  /** `key` or `key=value`, none may match. */
  labelNot?: string[];
}

const MAX_MEMORY_FILE = 1024 * 1024;

export class ContainerFs {
  private readonly log: Logger;
  private readonly layerSizes = new Map<string, number>();

  constructor(
    private readonly host: ContainerFsHost,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'container-fs' });
  }

  /** HEAD /containers/{id}/archive: the stat of a container path (NotFound when missing). */
  async stat(ref: string, path: string): Promise<PathStat> {
    checkPath(path);
    return this.host.withRootfs(ref, async (root, r) => {
      const s = await statInRoot(root, path);
      if (!s) throw notFound(`Could not find the file ${path} in container ${r.name}`);
      return s.stat;
    });
  }

  /**
   * GET /containers/{id}/archive: the stat, then `write` gets a tar of the path (entries named
   * after its base name, like Docker) while the rootfs stays mounted.
   */
  async getArchive(ref: string, path: string, begin: (stat: PathStat) => NodeJS.WritableStream): Promise<void> {
    checkPath(path);
    await this.host.withRootfs(ref, async (root, r) => {
      const s = await statInRoot(root, path);
      if (!s) throw notFound(`Could not find the file ${path} in container ${r.name}`);
      const base = s.stat.name === '/' ? '.' : s.stat.name;
      const out = begin(s.stat);
      await writeTar(out, async (pack, gone) => packTree(pack, s.hostPath, base, gone));
    });
  }

  /** GET /containers/{id}/export: a tar of the whole root filesystem. */
  async export(ref: string, begin: () => NodeJS.WritableStream): Promise<void> {
    await this.host.withRootfs(ref, async (root) => {
      const out = begin();
      await writeTar(out, async (pack, gone) => {
        for (const name of (await readdir(root)).sort()) await packTree(pack, join(root, name), name, gone);
      });
    });
  }

  /**
   * PUT /containers/{id}/archive: extracts a tar (plain or gzip) into directory `path`. Every
   * entry lands inside the rootfs: names are cleaned, `..` cannot climb out, and symlinks met on
   * the way (in the container or planted by earlier entries) resolve within the rootfs.
   */
  async putArchive(ref: string, path: string, body: Readable, opts: PutArchiveOptions = {}): Promise<void> {
    checkPath(path);
    const rec = this.host.inspect(ref);
    if (rec.request.options.readonlyRootfs) throw new WharfError('Forbidden', 'container rootfs is marked read-only');
    await this.host.withRootfs(ref, async (root, r) => {
      const dest = await resolveInRoot(root, path, { followLast: true });
      const st = await lstat(dest).catch(() => undefined);
      if (!st) throw notFound(`Could not find the file ${path} in container ${r.name}`);
      if (!st.isDirectory()) throw invalid('extraction point is not a directory');
      const destCtr = `/${dest.slice(root.length + 1)}`;
      let owner: { uid: number; gid: number } | undefined;
      if (opts.copyUIDGID) {
        const u = resolveUser(r.request.options.user || r.imageConfig.user || '', await readIn(root, 'etc/passwd'), await readIn(root, 'etc/group'));
        owner = { uid: u.uid, gid: u.gid };
      }
      await extractTar(await maybeGunzip(body), root, destCtr, { noOverwriteDirNonDir: opts.noOverwriteDirNonDir === true, ...(owner ? { owner } : {}) });
    });
  }

  /** GET /containers/{id}/changes: the overlay upper dir against the image layers. */
  async changes(ref: string): Promise<ContainerChange[]> {
    const r = this.host.inspect(ref);
    const { upper, lower } = overlayDirs(await this.host.snapshotMounts(r.id));
    const out: ContainerChange[] = [];
    const walk = async (rel: string): Promise<void> => {
      const names = (await readdir(join(upper, rel)).catch(() => [] as string[])).sort();
      for (const name of names) {
        const relPath = `${rel}/${name}`;
        const st = await lstat(join(upper, relPath)).catch(() => undefined);
        if (!st) continue;
        if (st.isCharacterDevice() && st.rdev === 0) {
          out.push({ Path: relPath, Kind: 2 });
          continue;
        }
        let inLower = false;
        for (const l of lower) {
          if (await lstat(join(l, relPath)).then(() => true, () => false)) {
            inLower = true;
            break;
          }
        }
        out.push({ Path: relPath, Kind: inLower ? 0 : 1 });
        if (st.isDirectory()) await walk(relPath);
      }
    };
    await walk('');
    return out;
  }

  /** SizeRw (the upper dir) and SizeRootFs (upper + image layers), in bytes. */
  async sizes(id: string): Promise<{ sizeRw: number; sizeRootFs: number }> {
    const { upper, lower } = overlayDirs(await this.host.snapshotMounts(id));
    const sizeRw = await dirSize(upper);
    let image = 0;
    for (const l of lower) {
      let n = this.layerSizes.get(l);
      if (n === undefined) {
        n = await dirSize(l);
        this.layerSizes.set(l, n); // layers are immutable
      }
      image += n;
    }
    return { sizeRw, sizeRootFs: sizeRw + image };
  }

  /** POST /containers/prune: removes stopped containers matching the filters. */
  async prune(f: PruneFilters): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const r of this.host.list({ all: true })) {
      if (!['exited', 'created', 'dead'].includes(r.state.status)) continue;
      if (f.until !== undefined && Date.parse(r.createdAt) / 1000 >= f.until) continue;
      const labels = r.request.labels ?? {};
      if (f.label && !f.label.every((l) => labelMatches(labels, l))) continue;
      if (f.labelNot?.some((l) => labelMatches(labels, l))) continue;
      const size = await this.sizes(r.id).then((s) => s.sizeRw, () => 0);
      try {
        await this.host.remove(r.id);
        deleted.push(r.id);
        reclaimed += size;
      } catch (e) {
        this.log.warn({ container: r.id, err: errorMessage(e) }, 'prune: remove failed');
      }
    }
    return { deleted, reclaimed };
  }
}

function labelMatches(labels: Record<string, string>, l: string): boolean {
  const eq = l.indexOf('=');
  if (eq < 0) return l in labels;
  return labels[l.slice(0, eq)] === l.slice(eq + 1);
}

function checkPath(path: string): void {
  if (!path) throw invalid('path is required');
  if (!path.startsWith('/')) throw invalid(`path must be absolute: ${path}`);
  if (path.includes('\0')) throw invalid('path contains a NUL byte');
}

function overlayDirs(mounts: Mount[]): { upper: string; lower: string[] } {
  const opts = mounts.find((m) => m.type === 'overlay')?.options ?? [];
  const upper = opts.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  const lower = opts.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];
  if (!upper) throw new WharfError('Internal', 'the container has no overlay upper directory');
  return { upper, lower };
}

/** Bytes of regular files and symlinks under `dir` (hard links counted once). */
export async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      const st = await lstat(p).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) await walk(p);
      else {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
        total += st.size;
      }
    }
  };
  await walk(dir);
  return total;
}

async function readIn(root: string, rel: string): Promise<string | undefined> {
  try {
    const real = await realpath(await resolveInRoot(root, rel, { followLast: true }));
    return await readFile(real, 'utf8');
  } catch {
    return undefined;
  }
}

// ---------- tar out ----------

/**
 * Streams a tar built by `fill` into `out`. The pack is never piped (a streamx pipe destroys the
 * pack with an error nobody listens to when the client goes away): data is copied by hand, and a
 * client that leaves stops the walk at the next entry.
 */
async function writeTar(out: NodeJS.WritableStream, fill: (pack: tar.Pack, gone: () => boolean) => Promise<void>): Promise<void> {
  const pack = tar.pack();
  let gone = false;
  const leave = () => {
    gone = true;
    pack.resume();
  };
  out.on('close', leave);
  out.on('error', leave);
  const done = new Promise<void>((resolve) => {
    pack.on('end', () => resolve());
    pack.on('error', () => resolve());
    pack.on('close', () => resolve());
  });
  pack.on('data', (data: unknown) => {
    const b = data as Buffer;
    if (gone) return;
    if (!out.write(b)) {
      pack.pause();
      out.once('drain', () => pack.resume());
    }
  });
  try {
    await fill(pack, () => gone);
  } finally {
    pack.finalize();
  }
  await done;
  if (!gone) out.end();
}

/** Adds `hostPath` (not following symlinks) and, for a directory, everything under it, as `name…`. */
async function packTree(pack: tar.Pack, hostPath: string, name: string, gone: () => boolean): Promise<void> {
  if (gone()) return; // the client left
  const st = await lstat(hostPath).catch(() => undefined);
  if (!st) return; // vanished meanwhile
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isDirectory()) {
    pack.entry({ ...base, name: `${name}/`, type: 'directory' });
    for (const child of (await readdir(hostPath).catch(() => [] as string[])).sort()) await packTree(pack, join(hostPath, child), `${name}/${child}`, gone);
  } else if (st.isSymbolicLink()) {
    pack.entry({ ...base, type: 'symlink', linkname: await readlink(hostPath) });
  } else if (st.isFile()) {
    await packFile(pack, hostPath, { ...base, size: st.size, type: 'file' });
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    pack.entry({ ...base, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) });
  } else if (st.isFIFO()) {
    pack.entry({ ...base, type: 'fifo' });
  } // sockets are skipped, as tar does
}

/** Exactly `size` bytes (zero-padded if the file shrank meanwhile, cut if it grew), streamed. */
async function packFile(pack: tar.Pack, hostPath: string, header: tar.Header | (Partial<tar.Header> & { name: string; size: number })): Promise<void> {
  const size = header.size ?? 0;
  const fh = await open(hostPath, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) {
    pack.entry({ ...header, size: 0 });
    return;
  }
  try {
    if (size <= MAX_MEMORY_FILE) {
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const { bytesRead } = await fh.read(buf, off, size - off, off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      await new Promise<void>((resolve) => pack.entry(header, buf, () => resolve()));
      return;
    }
    const sink = pack.entry(header);
    const finished = new Promise<void>((resolve) => {
      sink.on('finish', () => resolve());
      sink.on('close', () => resolve());
      sink.on('error', () => resolve());
    });
    const chunk = Buffer.alloc(64 * 1024);
    let off = 0;
    while (off < size) {
      const want = Math.min(chunk.length, size - off);
      let { bytesRead } = await fh.read(chunk, 0, want, off);
      if (bytesRead === 0) {
        chunk.fill(0, 0, want);
        bytesRead = want;
      }
      off += bytesRead;
      if (!sink.write(Buffer.from(chunk.subarray(0, bytesRead)))) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
    }
    (sink as unknown as { end(): void }).end();
    await finished;
  } finally {
    await fh.close();
  }
}

// ---------- tar in ----------

async function maybeGunzip(body: Readable): Promise<Readable> {
  const first: Buffer[] = [];
  const it = body[Symbol.asyncIterator]();
  const n = await it.next();
  if (n.done) return PassThrough.from([]) as unknown as Readable;
  const head = n.value as Buffer;
  first.push(head);
  const rest = new PassThrough();
  rest.write(head);
  void (async () => {
    try {
      for (let x = await it.next(); !x.done; x = await it.next()) if (!rest.write(x.value as Buffer)) await once(rest, 'drain');
      rest.end();
    } catch (e) {
      rest.destroy(e as Error);
    }
  })();
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return rest.pipe(createGunzip());
  return rest;
}

interface ExtractOptions {
  noOverwriteDirNonDir: boolean;
  owner?: { uid: number; gid: number };
}

/** A tar entry name → a clean relative path; refuses names that climb out of the destination. */
export function cleanEntryName(name: string): string {
  const n = posix.normalize(name).replace(/^\/+/, '').replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) throw invalid(`invalid archive entry ${JSON.stringify(name)}: outside of the destination`);
  return n;
}

async function extractTar(input: Readable, root: string, destCtr: string, opts: ExtractOptions): Promise<void> {
  const ex = tar.extract();
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex as unknown as NodeJS.WritableStream);
  const dirTimes: { path: string; mtime: Date }[] = [];
  for await (const entry of ex) {
    const h = entry.header;
    try {
      const rel = cleanEntryName(h.name);
      if (rel === '' || rel === '.') {
        entry.resume();
        continue;
      }
      const target = await resolveInRoot(root, posix.join(destCtr, rel));
      if (!target.startsWith(`${root}/`)) throw invalid(`invalid archive entry ${JSON.stringify(h.name)}`);
      await mkdir(dirname(target), { recursive: true });
      const existing = await lstat(target).catch(() => undefined);
      const uid = opts.owner?.uid ?? h.uid;
      const gid = opts.owner?.gid ?? h.gid;
      if (h.type === 'directory') {
        if (existing && !existing.isDirectory()) {
          if (opts.noOverwriteDirNonDir) throw invalid(`cannot overwrite non-directory "${posix.join(destCtr, rel)}" with directory "${rel}"`);
          await rm(target, { force: true });
        }
        if (!existing?.isDirectory()) await mkdir(target);
        await chmod(target, h.mode & 0o7777);
        await lchown(target, uid, gid);
        dirTimes.push({ path: target, mtime: h.mtime });
        entry.resume();
        continue;
      }
      if (existing) {
        if (existing.isDirectory()) {
          if (opts.noOverwriteDirNonDir) throw invalid(`cannot overwrite directory "${posix.join(destCtr, rel)}" with non-directory "${rel}"`);
          await rm(target, { recursive: true, force: true });
        } else await unlink(target);
      }
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const fh = await open(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of entry) await fh.write(chunk as Buffer);
        } finally {
          await fh.close();
        }
      } else if (h.type === 'symlink') {
        await symlink(h.linkname, target);
        entry.resume();
      } else if (h.type === 'link') {
        const from = await resolveInRoot(root, posix.join(destCtr, cleanEntryName(h.linkname)));
        if (!from.startsWith(`${root}/`)) throw invalid(`invalid hard link ${JSON.stringify(h.linkname)}`);
        await link(from, target);
        entry.resume();
      } else if (h.type === 'character-device' || h.type === 'block-device' || h.type === 'fifo') {
        const kind = h.type === 'fifo' ? ['p'] : [h.type === 'character-device' ? 'c' : 'b', String(h.devmajor), String(h.devminor)];
        await run(['mknod', target, ...kind]);
        entry.resume();
      } else {
        entry.resume(); // pax/gnu extension headers are handled by tar-stream; anything else is skipped
        continue;
      }
      await lchown(target, uid, gid);
      if (h.type !== 'symlink') await chmod(target, h.mode & 0o7777);
      await lutimes(target, h.mtime, h.mtime);
    } catch (e) {
      entry.resume();
      ex.destroy();
      input.unpipe(ex as unknown as NodeJS.WritableStream);
      input.resume();
      throw e instanceof WharfError ? e : new WharfError('Internal', `extracting ${h.name}: ${errorMessage(e)}`, { cause: e });
    }
  }
  for (const d of dirTimes.reverse()) await lutimes(d.path, d.mtime, d.mtime).catch(() => undefined);
}
