import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnProcess } from '../../core/exec/run.js';
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
      const sizes: number[] = [];
      for (let round = 0; round < 6; round++) {
        for (let i = 0; i < 20; i++) {
          await Promise.all(
            keys.map(async (k) => revs.set(k, (await s.update(k, `${round}-${i}-`.padEnd(500, 'y'), revs.get(k)!)).modRevision)),
          );
        }
        await s.compact(await s.currentRevision());
        sizes.push(size());
      }
      // 12,100 writes of 500 bytes = 6 MB of history; each round adds 1 MB, which compaction
      // frees for the next round to reuse: the file stops growing after the first round.
      expect(await s.count('/churn/')).toBe(100);
      expect(sizes[5]!).toBeLessThanOrEqual(sizes[1]! * 1.1);
      expect(sizes[5]!).toBeLessThan(6 * 1024 * 1024);
      expect(statSync(`${path}-wal`).size).toBe(0);
      // History before the compaction is gone, the latest values are intact.
      await expect(s.list('/churn/', { revision: 5 })).rejects.toMatchObject({ kind: 'Gone' });
      expect((await s.get('/churn/0'))?.value.startsWith("5-19-")).toBe(true);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteStore history cap', () => {
  it('compacts on its own once more than compactMaxHistory revisions accumulate', async () => {
    const dir = tempDir();
    const s = new SqliteStore({ path: join(dir, 'c.db'), compactMaxHistory: 2000, compactMinRetain: 500, leaseCheckIntervalMs: 50 });
    try {
      let kv = await s.create('/cap/k', '0');
      for (let i = 0; i < 3000; i++) kv = await s.update('/cap/k', String(i), kv.modRevision);
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline) {
        try {
          await s.list('/cap/', { revision: 10 });
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await expect(s.list('/cap/', { revision: 10 })).rejects.toMatchObject({ kind: 'Gone' });
      // The most recent compactMinRetain revisions stay readable.
      expect((await s.list('/cap/', { revision: kv.modRevision - 400 })).items[0]?.value).toBe(String(3000 - 1 - 400));
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteStore crash safety', () => {
  it('after a SIGKILL in the middle of 1,000 concurrent writes, every acknowledged write is there and no refused one', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.db');
    try {
      const first = new SqliteStore({ path });
      await first.create('/crash/dup', 'original');
      await first.close();
      const fixture = new URL('../../../test/fixtures/store-crash-writer.ts', import.meta.url).pathname;
      const child = spawnProcess([process.execPath, '--import', 'tsx', fixture, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const acked: string[] = [];
      let refused = 0;
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      let buf = '';
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`writer too slow: ${acked.length} acks; ${stderr}`)), 30_000);
        child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
        child.stdout!.on('data', (b: Buffer) => {
          buf += b.toString();
          const lines = buf.split('\n');
          buf = lines.pop()!;
          for (const l of lines) {
            const [what, key] = l.split(' ');
            if (what === 'ack') acked.push(key!);
            if (what === 'refused') refused++;
          }
          // Kill mid-round: past the first full round, at an odd count.
          if (acked.length >= 1500) {
            clearTimeout(t);
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
      expect(refused).toBeGreaterThan(0);
      const after = new SqliteStore({ path });
      try {
        for (const key of acked) {
          if (key === '/crash/dup') continue;
          expect((await after.get(key))?.value, key).toBe(`v-${key}`);
        }
        expect((await after.get('/crash/dup'))?.value).toBe('original');
        // and the store still works after recovery
        await after.create('/crash/after', 'x');
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
