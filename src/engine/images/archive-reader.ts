import { mkdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { WharfError } from '../../core/errors.js';
import type { BlobWriter, ContentStore } from '../../oci/content-store.js';
import { TarParser, type TarHeader } from '../snapshots/tar-parser.js';
import { uncompressed } from '../snapshots/unpack.js';

// Reads an image archive (docker-archive or OCI image layout, as a tar stream) into a staging
// directory: every regular file becomes a staged blob (hashed while written), symlinks and hard
// links are kept as in-archive references. Nothing is ever opened by an archive-supplied path:
// later look-ups go through the in-memory map, so `../` or absolute names in manifest.json cannot
// reach the host.

export interface StagedFile {
  file: string;
  digest: string;
  size: number;
}

export interface ArchiveLimits {
  maxEntries: number;
  maxFileSize: number;
  maxTotalSize: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 100_000,
  maxFileSize: 64 * 1024 ** 3,
  maxTotalSize: 512 * 1024 ** 3,
};

function bad(msg: string): WharfError {
  return new WharfError('InvalidArgument', `invalid image archive: ${msg}`);
}

/** Normalises an archive path; undefined if it is absolute or climbs out with `..`. */
export function archivePath(p: string, base = ''): string | undefined {
  if (p.startsWith('/')) return undefined;
  const joined = base ? `${base}/${p}` : p;
  const out: string[] = [];
  for (const c of joined.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(c);
  }
  return out.join('/');
}

export class StagedArchive {
  readonly files = new Map<string, StagedFile>();
  readonly links = new Map<string, string | undefined>();

  constructor(readonly dir: string) {}

  has(path: string): boolean {
    return this.lookup(path) !== undefined;
  }

  lookup(path: string): StagedFile | undefined {
    let p: string | undefined = archivePath(path);
    for (let i = 0; i < 16 && p !== undefined; i++) {
      const f = this.files.get(p);
      if (f) return f;
      if (!this.links.has(p)) return undefined;
      p = this.links.get(p);
    }
    return undefined;
  }

  /** The staged file for a path named inside the archive (manifest.json, index.json); InvalidArgument if absent. */
  get(path: unknown, what: string): StagedFile {
    if (typeof path !== 'string' || path === '') throw bad(`${what}: missing path`);
    if (archivePath(path) === undefined) throw bad(`${what}: path ${JSON.stringify(path)} points outside the archive`);
    const f = this.lookup(path);
    if (!f) throw bad(`${what}: ${JSON.stringify(path)} is not in the archive`);
    return f;
  }

  read(f: StagedFile, what: string, max = 16 * 1024 * 1024): Buffer {
    if (f.size > max) throw new WharfError('TooLarge', `${what} is ${f.size} bytes, over the limit of ${max}`);
    return readFileSync(f.file);
  }

  /** The staged blob `blobs/sha256/<hex>` of an OCI layout, verified against the descriptor. */
  blob(digest: string, size: number | undefined, what: string): StagedFile {
    const f = this.lookup(`blobs/${digest.replace(':', '/')}`);
    if (!f) throw bad(`${what}: blob ${digest} is not in the archive`);
    if (f.digest !== digest) throw bad(`${what}: blob ${digest} has digest ${f.digest}`);
    if (size !== undefined && f.size !== size) throw bad(`${what}: blob ${digest} is ${f.size} bytes, the descriptor says ${size}`);
    return f;
  }
}

/** Streams the archive into `dir` (created; on the content store's file system). */
export async function readArchive(
  stream: Readable,
  dir: string,
  content: ContentStore,
  opts: { limits?: Partial<ArchiveLimits>; signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<StagedArchive> {
  const limits = { ...DEFAULT_ARCHIVE_LIMITS, ...opts.limits };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const staged = new StagedArchive(dir);
  let writer: BlobWriter | undefined;
  let name = '';
  let total = 0;
  const parser = new TarParser(
    {
      onEntry(h: TarHeader) {
        if (parser.entries > limits.maxEntries) throw new WharfError('TooLarge', `archive has more than ${limits.maxEntries} entries`);
        const p = archivePath(h.name);
        if (p === undefined) throw bad(`entry ${JSON.stringify(h.name)} has an unsafe path`);
        if (h.type === 'dir') return;
        if (h.type === 'file') {
          total += h.size;
          if (total > limits.maxTotalSize) throw new WharfError('TooLarge', `archive is larger than ${limits.maxTotalSize} bytes`);
          if (h.size > limits.maxFileSize) throw new WharfError('TooLarge', `archive entry ${JSON.stringify(h.name)} is over the limit of ${limits.maxFileSize} bytes`);
          staged.files.delete(p);
          staged.links.delete(p);
          writer = content.writer(dir);
          name = p;
          return;
        }
        if (h.type === 'symlink') {
          staged.files.delete(p);
          staged.links.set(p, archivePath(h.linkname, posix.dirname(p) === '.' ? '' : posix.dirname(p)));
          return;
        }
        if (h.type === 'hardlink') {
          staged.files.delete(p);
          staged.links.set(p, archivePath(h.linkname));
          return;
        }
        throw bad(`entry ${JSON.stringify(h.name)} is a ${h.type}, not allowed in an image archive`);
      },
      onData(chunk: Buffer) {
        writer?.write(chunk);
      },
      onEntryEnd() {
        if (!writer) return;
        const w = writer;
        writer = undefined;
        const info = w.finish();
        staged.files.set(name, { file: w.tempPath, digest: info.digest, size: info.size });
      },
    },
    { maxEntrySize: limits.maxFileSize },
  );
  try {
    // Like `docker load`, a gzip- or zstd-compressed archive is accepted too.
    for await (const chunk of uncompressed(stream)) {
      opts.signal?.throwIfAborted();
      parser.push(chunk);
      opts.onBytes?.(parser.bytes);
    }
    parser.end();
  } catch (err) {
    writer?.abort();
    stream.destroy();
    if (err instanceof WharfError) throw err;
    if ((err as Error).name === 'AbortError') throw err;
    throw new WharfError('InvalidArgument', `invalid image archive: ${(err as Error).message}`, { cause: err });
  }
  if (parser.entries === 0) throw bad('empty archive');
  return staged;
}
