import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { storeConformance, take } from '../testsuite.js';
import { SqliteStore } from './sqlite-store.js';

function tempDir(): string {
  return mkdtempSync(join(process.env.WHARF_TEST_TMP ?? '/var/tmp', 'wharf-test-store-'));
}

storeConformance(
  'sqlite',
  async () => {
    const dir = tempDir();
    const store = new SqliteStore({ path: join(dir, 'cluster.db'), leaseCheckIntervalMs: 100 });
    return {
      store,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  { leaseTtlSeconds: 1, leaseExpiryWaitMs: 2000 },
);

describe('SqliteStore specifics', () => {
  it('keeps every acknowledged write across a reopen', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'c.db');
      const a = new SqliteStore({ path });
      const kv = await a.create('/k', 'v');
      await a.update('/k', 'v2', kv.modRevision);
      const rev = await a.currentRevision();
      await a.close();
      const b = new SqliteStore({ path });
      expect(await b.currentRevision()).toBe(rev);
      expect((await b.get('/k'))?.value).toBe('v2');
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a watch in one process-level store sees writes made through another handle on the same file', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.db');
    const a = new SqliteStore({ path, pollIntervalMs: 20 });
    const b = new SqliteStore({ path, pollIntervalMs: 20 });
    try {
      const ac = new AbortController();
      const it = a.watch('/x/', { signal: ac.signal })[Symbol.asyncIterator]();
      const kv = await b.create('/x/1', 'from b');
      const [ev] = await take(it, 1, 2000);
      expect(ev?.kv.modRevision).toBe(kv.modRevision);
      ac.abort();
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compaction keeps the file bounded under heavy update churn', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.db');
    const s = new SqliteStore({ path, compactIntervalMs: 0 });
    try {
      const keys = Array.from({ length: 100 }, (_, i) => `/churn/${i}`);
      const revs = new Map<string, number>();
      for (const k of keys) revs.set(k, (await s.create(k, 'x'.repeat(500))).modRevision);
      const size = () => statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 40; i++) {
          for (const k of keys) revs.set(k, (await s.update(k, `${round}-${i}-`.padEnd(500, 'y'), revs.get(k)!)).modRevision);
        }
        await s.compact(await s.currentRevision());
      }
      // 20,100 writes of 500 bytes = 10 MB of history; compacted, 100 live keys remain.
      expect(await s.count('/churn/')).toBe(100);
      expect(size()).toBeLessThan(2 * 1024 * 1024);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
