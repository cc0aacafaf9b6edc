import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
  type ReadStream,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { WharfError } from '../core/errors.js';

// Content-addressed blob store: DATA_ROOT/blobs/sha256/<hex>. Writers stream into a temp file
// under DATA_ROOT/blobs/ingest (same file system), hash while writing, fsync, verify the expected
// digest and size, then rename into place. Two writers of the same blob are safe: both files have
// the same bytes, and rename over an existing blob is atomic.

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

export function assertDigest(s: unknown, what: string): string {
  if (!isDigest(s)) throw new WharfError('InvalidArgument', `${what}: invalid digest ${JSON.stringify(s)} (want sha256:<64 hex>)`);
  return s;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface Expected {
  digest?: string;
  size?: number;
}

/** An open ingest: write chunks, then commit (verify + rename) or abort (delete the temp file). */
export class BlobWriter {
  private fd: number | undefined;
  private readonly hash: Hash = createHash('sha256');
  private written = 0;
  constructor(
    private readonly store: ContentStore,
    readonly tempPath: string,
    private readonly maxSize: number,
  ) {
    this.fd = openSync(tempPath, 'wx', 0o644);
  }

  get size(): number {
    return this.written;
  }

  write(chunk: Uint8Array): void {
    if (this.fd === undefined) throw new WharfError('Internal', 'blob writer is closed');
    this.written += chunk.length;
    if (this.written > this.maxSize) {
      throw new WharfError('TooLarge', `blob larger than the limit of ${this.maxSize} bytes`);
    }
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  /**
   * Closes the file and checks the expected digest/size; returns its digest without moving it (staging).
   * It does not fsync: `commit` (or the caller, with `syncFiles`) makes the bytes durable before the rename,
   * on the thread pool, never blocking the event loop.
   */
  finish(expected: Expected = {}): BlobInfo {
    if (this.fd === undefined) throw new WharfError('Internal', 'blob writer is closed');
    closeSync(this.fd);
    this.fd = undefined;
    const digest = `sha256:${this.hash.digest('hex')}`;
    if (expected.size !== undefined && expected.size !== this.written) {
      this.abort();
      throw new WharfError('InvalidArgument', `size mismatch: expected ${expected.size} bytes, got ${this.written}`);
    }
    if (expected.digest !== undefined && expected.digest !== digest) {
      this.abort();
      throw new WharfError('InvalidArgument', `digest mismatch: expected ${expected.digest}, got ${digest}`);
    }
    return { digest, size: this.written };
  }

  /** finish + fsync + move into the store. */
  async commit(expected: Expected = {}): Promise<BlobInfo> {
    const info = this.finish(expected);
    try {
      await syncFiles([this.tempPath]);
      this.store.adopt(this.tempPath, info.digest);
    } catch (err) {
      rmSync(this.tempPath, { force: true });
      throw err;
    }
    return info;
  }

  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = undefined;
    }
    rmSync(this.tempPath, { force: true });
  }
}

/** fsyncs files in parallel on the thread pool (staged blobs, just before they are renamed into the store). */
export async function syncFiles(paths: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(paths)].map(async (p) => {
      const fh = await open(p, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }),
  );
}

export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(readonly opts: { dataRoot: string; maxBlobSize?: number }) {
    this.blobDir = join(opts.dataRoot, 'blobs', 'sha256');
    this.ingestDir = join(opts.dataRoot, 'blobs', 'ingest');
    mkdirSync(this.blobDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    assertDigest(digest, 'blob');
    return join(this.blobDir, digest.slice(7));
  }

  has(digest: string): boolean {
    return this.info(digest) !== undefined;
  }

  info(digest: string): BlobInfo | undefined {
    const path = this.path(digest);
    try {
      return { digest, size: statSync(path).size };
    } catch {
      return undefined;
    }
  }

  /** Reads a small blob (configs, manifests) with a size cap. */
  readBuffer(digest: string, maxSize = 16 * 1024 * 1024): Buffer {
    const info = this.info(digest);
    if (!info) throw new WharfError('NotFound', `blob ${digest} not found`);
    if (info.size > maxSize) throw new WharfError('TooLarge', `blob ${digest} is ${info.size} bytes, over the limit of ${maxSize}`);
    return readFileSync(this.path(digest));
  }

  createReadStream(digest: string): ReadStream {
    if (!this.has(digest)) throw new WharfError('NotFound', `blob ${digest} not found`);
    return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
  }

  /** A writer to a fresh temp file in the ingest dir (or in `dir`, which must be on the same fs). */
  writer(dir?: string): BlobWriter {
    const tmp = join(dir ?? this.ingestDir, `tmp-${randomBytes(8).toString('hex')}`);
    return new BlobWriter(this, tmp, this.opts.maxBlobSize ?? Number.MAX_SAFE_INTEGER);
  }

  async writeBuffer(data: Uint8Array, expected: Expected = {}): Promise<BlobInfo> {
    const w = this.writer();
    try {
      w.write(data);
    } catch (err) {
      w.abort();
      throw err;
    }
    return w.commit(expected);
  }

  async ingest(stream: Readable, expected: Expected = {}): Promise<BlobInfo> {
    const w = this.writer();
    try {
      for await (const chunk of stream) w.write(chunk as Buffer);
    } catch (err) {
      w.abort();
      throw err;
    }
    return w.commit(expected);
  }

  /** Moves a verified temp file (same fs) into place as `digest`. Returns true if the blob was new. */
  adopt(tempPath: string, digest: string): boolean {
    const existed = this.has(digest);
    if (existed) {
      unlinkSync(tempPath);
      return false;
    }
    renameSync(tempPath, this.path(digest));
    return true;
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  list(): string[] {
    return readdirSync(this.blobDir)
      .filter((n) => /^[a-f0-9]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
  }

  /** Deletes every blob not in `referenced` and stale ingest temp files; returns bytes freed. */
  gc(referenced: ReadonlySet<string>, opts: { ingestOlderThanMs?: number; now?: number } = {}): { removed: string[]; bytes: number } {
    const removed: string[] = [];
    let bytes = 0;
    for (const d of this.list()) {
      if (referenced.has(d)) continue;
      bytes += this.info(d)?.size ?? 0;
      this.delete(d);
      removed.push(d);
    }
    const cutoff = (opts.now ?? Date.now()) - (opts.ingestOlderThanMs ?? 60 * 60 * 1000);
    for (const n of readdirSync(this.ingestDir)) {
      const p = join(this.ingestDir, n);
      try {
        if (statSync(p).mtimeMs < cutoff) rmSync(p, { recursive: true, force: true });
      } catch {
        /* raced with its writer */
      }
    }
    return { removed, bytes };
  }
}
