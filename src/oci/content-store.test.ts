import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { isWharfError } from '../core/errors.js';
import { ContentStore } from './content-store.js';

let root: string;
let cs: ContentStore;
const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeEach(() => {
  root = mkdtempSync('/var/tmp/wharf-test-content-');
  cs = new ContentStore({ dataRoot: root });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('ContentStore', () => {
  it('ingests a stream under its sha256 and verifies digest and size', async () => {
    const data = Buffer.alloc(3 << 20, 7);
    const info = await cs.ingest(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { digest: digest(data), size: data.length });
    expect(info).toEqual({ digest: digest(data), size: data.length });
    expect(readFileSync(join(root, 'blobs/sha256', digest(data).slice(7))).equals(data)).toBe(true);
    const bad = await cs.ingest(Readable.from([data]), { digest: digest(Buffer.from('x')) }).catch((e: unknown) => e);
    expect(isWharfError(bad, 'InvalidArgument')).toBe(true);
    const short = await cs.ingest(Readable.from([data]), { size: 5 }).catch((e: unknown) => e);
    expect(isWharfError(short, 'InvalidArgument')).toBe(true);
    expect(readdirSync(cs.ingestDir)).toEqual([]);
  });

  it('is safe under concurrent writers of the same blob', async () => {
    const data = Buffer.alloc(8 << 20, 3);
    const chunks = (n: number) => Array.from({ length: n }, (_, i) => data.subarray((i * data.length) / n, ((i + 1) * data.length) / n));
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => cs.ingest(Readable.from(chunks(i + 2)), { digest: digest(data) })));
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    expect(cs.list()).toEqual([digest(data)]);
    expect(statSync(cs.path(digest(data))).size).toBe(data.length);
    expect(readdirSync(cs.ingestDir)).toEqual([]);
  });

  it('aborts a failed stream without leaving a temp file', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(cs.ingest(failing)).rejects.toThrow('connection reset');
    expect(readdirSync(cs.ingestDir)).toEqual([]);
    expect(cs.list()).toEqual([]);
  });

  it('garbage-collects unreferenced blobs and stale temp files', async () => {
    const a = await cs.writeBuffer(Buffer.from('a'));
    const b = await cs.writeBuffer(Buffer.from('b'));
    const stale = join(cs.ingestDir, 'tmp-stale');
    writeFileSync(stale, 'x');
    utimesSync(stale, 1, 1);
    const res = cs.gc(new Set([a.digest]));
    expect(res.removed).toEqual([b.digest]);
    expect(cs.list()).toEqual([a.digest]);
    expect(readdirSync(cs.ingestDir)).toEqual([]);
  });

  it('refuses malformed digests', () => {
    expect(() => cs.path('sha256:../../etc/passwd')).toThrow(/invalid digest/);
    expect(() => cs.readBuffer('md5:abc')).toThrow(/invalid digest/);
  });
});
