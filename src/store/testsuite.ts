import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWharfError, type ErrorKind } from '../core/errors.js';
import type { KeyValue, Store, WatchEvent } from './store.js';

// The one conformance suite for the Store contract (containerd's snapshotter testsuite
// pattern): every backend runs exactly these tests against a real instance.

export interface StoreHarness {
  store: Store;
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** Smallest lease TTL the backend honours (etcd rounds small TTLs up). */
  leaseTtlSeconds?: number;
  /** How long to wait for an expired lease's keys to disappear. */
  leaseExpiryWaitMs?: number;
}

export async function expectKind(p: Promise<unknown>, kind: ErrorKind): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (isWharfError(err, kind)) return;
    throw new Error(`expected a ${kind} error, got: ${String(err)}`, { cause: err });
  }
  throw new Error(`expected a ${kind} error, but the call succeeded`);
}

/** Reads n events from a watch (or fails after timeoutMs). */
export async function take(it: AsyncIterator<WatchEvent>, n: number, timeoutMs = 10_000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(left, 0));
      }),
    ]);
    clearTimeout(timer);
    if (r === 'timeout') throw new Error(`watch: got ${out.length} of ${n} events within ${timeoutMs} ms`);
    if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

/** Asserts no further event arrives within ms. */
async function expectQuiet(it: AsyncIterator<WatchEvent>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    it.next(),
    new Promise<'quiet'>((resolve) => {
      timer = setTimeout(() => resolve('quiet'), ms);
    }),
  ]);
  clearTimeout(timer);
  if (r !== 'quiet') throw new Error(`unexpected watch event: ${JSON.stringify(r)}`);
}

async function mapLimit<T>(items: T[], concurrency: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const x = items[i++]!;
      await fn(x);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function watchIter(store: Store, prefix: string, afterRevision?: number) {
  const ac = new AbortController();
  const it = store.watch(prefix, { signal: ac.signal, ...(afterRevision !== undefined ? { afterRevision } : {}) })[Symbol.asyncIterator]();
  return { it, stop: () => ac.abort() };
}

export function storeConformance(name: string, factory: () => Promise<StoreHarness>, opts: ConformanceOptions = {}): void {
  const ttl = opts.leaseTtlSeconds ?? 1;
  const leaseWait = opts.leaseExpiryWaitMs ?? 5000;

  describe(`Store conformance: ${name}`, () => {
    let h: StoreHarness;
    let s: Store;
    let p: string;
    beforeAll(async () => {
      h = await factory();
      s = h.store;
    });
    afterAll(async () => {
      await h?.close();
    });
    const fresh = () => {
      p = `/t-${randomBytes(4).toString('hex')}/`;
      return p;
    };

    it('creates, reads, updates with CAS and deletes a key', async () => {
      fresh();
      const k = `${p}a`;
      expect(await s.get(k)).toBeUndefined();
      const c = await s.create(k, 'v1');
      expect(c).toMatchObject({ key: k, value: 'v1', version: 1 });
      expect(c.createRevision).toBe(c.modRevision);
      expect(await s.currentRevision()).toBeGreaterThanOrEqual(c.modRevision);
      expect(await s.get(k)).toEqual(c);
      await expectKind(s.create(k, 'again'), 'AlreadyExists');

      const u = await s.update(k, 'v2', c.modRevision);
      expect(u).toMatchObject({ key: k, value: 'v2', version: 2, createRevision: c.createRevision });
      expect(u.modRevision).toBeGreaterThan(c.modRevision);
      await expectKind(s.update(k, 'stale', c.modRevision), 'Conflict');
      expect((await s.get(k))?.value).toBe('v2');
      await expectKind(s.update(`${p}missing`, 'x', 1), 'NotFound');

      await expectKind(s.delete(k, c.modRevision), 'Conflict');
      const d = await s.delete(k, u.modRevision);
      expect(d.key).toBe(k);
      expect(d.modRevision).toBeGreaterThan(u.modRevision);
      expect(await s.get(k)).toBeUndefined();
      await expectKind(s.delete(k), 'NotFound');

      const again = await s.create(k, 'v3');
      expect(again.version).toBe(1);
      expect(again.createRevision).toBe(again.modRevision);
      expect(again.createRevision).toBeGreaterThan(d.modRevision);
      const d2 = await s.delete(k);
      expect(d2.modRevision).toBeGreaterThan(again.modRevision);
    });

    it('rejects bad input and changes nothing', async () => {
      fresh();
      const before = await s.currentRevision();
      await expectKind(s.create('', 'x'), 'InvalidArgument');
      await expectKind(s.list(p, { continue: 'not-a-token!' }), 'InvalidArgument');
      await expectKind(s.list(p, { limit: -1 }), 'InvalidArgument');
      await expectKind(s.create(`${p}leased`, 'x', { lease: '12345678' }), 'NotFound');
      await expectKind(s.compact(before + 1000), 'InvalidArgument');
      expect(await s.currentRevision()).toBe(before);
      expect(await s.get(`${p}leased`)).toBeUndefined();
    });

    it('lists a prefix at the current and at an older revision', async () => {
      fresh();
      const a = await s.create(`${p}a`, 'a1');
      await s.create(`${p}b`, 'b1');
      await s.create(`${p.slice(0, -1)}x`, 'outside'); // shares the prefix minus the slash
      const r1 = await s.currentRevision();
      await s.update(`${p}a`, 'a2', a.modRevision);
      await s.delete(`${p}b`);
      await s.create(`${p}c`, 'c1');

      const now = await s.list(p);
      expect(now.items.map((kv) => [kv.key, kv.value])).toEqual([
        [`${p}a`, 'a2'],
        [`${p}c`, 'c1'],
      ]);
      expect(now.revision).toBe(await s.currentRevision());
      const old = await s.list(p, { revision: r1 });
      expect(old.revision).toBe(r1);
      expect(old.items.map((kv) => [kv.key, kv.value])).toEqual([
        [`${p}a`, 'a1'],
        [`${p}b`, 'b1'],
      ]);
      expect(await s.count(p)).toBe(2);
    });

    it('paginates with limit/continue on one consistent revision', async () => {
      fresh();
      const keys = Array.from({ length: 25 }, (_, i) => `${p}k${String(i).padStart(3, '0')}`);
      for (const k of keys) await s.create(k, k);
      const seen: KeyValue[] = [];
      let page = await s.list(p, { limit: 10 });
      const rev = page.revision;
      expect(page.items).toHaveLength(10);
      expect(page.remaining).toBe(15);
      seen.push(...page.items);
      // A write between pages does not leak into later pages.
      await s.create(`${p}k999`, 'late');
      await s.delete(keys[24]!);
      while (page.continue) {
        page = await s.list(p, { limit: 10, continue: page.continue });
        expect(page.revision).toBe(rev);
        seen.push(...page.items);
      }
      expect(seen.map((kv) => kv.key)).toEqual(keys);
      expect(page.continue).toBeUndefined();
    });

    it('serialises concurrent compare-and-swap writers: no lost update', async () => {
      fresh();
      const k = `${p}counter`;
      await s.create(k, '0');
      const writers = 8;
      const each = 15;
      let conflicts = 0;
      const worker = async () => {
        for (let n = 0; n < each; ) {
          const cur = (await s.get(k))!;
          try {
            await s.update(k, String(Number(cur.value) + 1), cur.modRevision);
            n++;
          } catch (err) {
            if (!isWharfError(err, 'Conflict')) throw err;
            conflicts++;
          }
        }
      };
      await Promise.all(Array.from({ length: writers }, worker));
      const final = (await s.get(k))!;
      expect(Number(final.value)).toBe(writers * each);
      expect(final.version).toBe(writers * each + 1);
      // With 8 writers racing on one key some attempts must have lost.
      expect(conflicts).toBeGreaterThan(0);
    });

    it('watches a prefix: every event in revision order, no gaps, no duplicates', async () => {
      fresh();
      const { it: w, stop } = watchIter(s, p);
      const writes: Array<{ type: 'put' | 'delete'; key: string; rev: number }> = [];
      for (let i = 0; i < 20; i++) {
        const kv = await s.create(`${p}k${i}`, `v${i}`);
        writes.push({ type: 'put', key: kv.key, rev: kv.modRevision });
        await s.create(`/other-${p.slice(1)}${i}`, 'not watched');
        if (i % 3 === 0) {
          const u = await s.update(kv.key, `v${i}b`, kv.modRevision);
          writes.push({ type: 'put', key: u.key, rev: u.modRevision });
        }
        if (i % 5 === 0) {
          const d = await s.delete(kv.key);
          writes.push({ type: 'delete', key: d.key, rev: d.modRevision });
        }
      }
      const evs = await take(w, writes.length);
      expect(evs.map((e) => ({ type: e.type, key: e.kv.key, rev: e.kv.modRevision }))).toEqual(writes);
      const del = evs.find((e) => e.type === 'delete')!;
      expect(del.prevKv?.value).toBe('v0b');
      const upd = evs[1]!;
      expect(upd.type).toBe('put');
      expect(upd.prevKv?.value).toBe('v0');
      await expectQuiet(w, 200);
      stop();
    });

    it('replays history from an old revision and resumes after a disconnect', async () => {
      fresh();
      const start = await s.currentRevision();
      const revs: number[] = [];
      for (let i = 0; i < 10; i++) revs.push((await s.create(`${p}k${i}`, String(i))).modRevision);
      // Replay from before the writes.
      const a = watchIter(s, p, start);
      const first = await take(a.it, 6);
      expect(first.map((e) => e.kv.modRevision)).toEqual(revs.slice(0, 6));
      a.stop(); // disconnect
      const lastSeen = first[5]!.kv.modRevision;
      for (let i = 10; i < 15; i++) revs.push((await s.create(`${p}k${i}`, String(i))).modRevision);
      const b = watchIter(s, p, lastSeen);
      const rest = await take(b.it, 9);
      expect(rest.map((e) => e.kv.modRevision)).toEqual(revs.slice(6));
      // and it stays live
      const more = await s.create(`${p}live`, 'x');
      expect((await take(b.it, 1))[0]!.kv.modRevision).toBe(more.modRevision);
      await expectQuiet(b.it, 200);
      b.stop();
    });

    it('ends a watch when its signal aborts', async () => {
      fresh();
      const { it: w, stop } = watchIter(s, p);
      const pending = w.next();
      stop();
      const r = await pending;
      expect(r.done).toBe(true);
    });

    it('compaction forgets old revisions: reads and watches there answer Gone', async () => {
      fresh();
      const a = await s.create(`${p}a`, '1');
      const b = await s.create(`${p}b`, '1');
      const u = await s.update(`${p}a`, '2', a.modRevision);
      await s.delete(`${p}b`, b.modRevision);
      const keep = await s.create(`${p}c`, '1');
      await s.compact(keep.modRevision);
      await expectKind(s.list(p, { revision: a.modRevision }), 'Gone');
      const w = watchIter(s, p, a.modRevision);
      await expectKind(w.it.next(), 'Gone');
      w.stop();
      // Current state is intact, and history at the compact revision is readable.
      expect((await s.list(p)).items.map((kv) => [kv.key, kv.value, kv.modRevision])).toEqual([
        [`${p}a`, '2', u.modRevision],
        [`${p}c`, '1', keep.modRevision],
      ]);
      expect((await s.list(p, { revision: keep.modRevision })).items).toHaveLength(2);
      // A watch from the compact revision still works.
      const w2 = watchIter(s, p, keep.modRevision);
      const next = await s.update(`${p}c`, '2', keep.modRevision);
      expect((await take(w2.it, 1))[0]!.kv.modRevision).toBe(next.modRevision);
      w2.stop();
      // Writes after compaction keep CAS semantics.
      await expectKind(s.update(`${p}a`, 'stale', a.modRevision), 'Conflict');
      await s.update(`${p}a`, '3', u.modRevision);
      // compacting again to the same revision is harmless
      await s.compact(keep.modRevision);
    });

    it('leases: keys attached to an expired or revoked lease are deleted', async () => {
      fresh();
      const revoked = await s.grantLease(30);
      await s.create(`${p}r`, 'x', { lease: revoked });
      expect((await s.get(`${p}r`))?.lease).toBe(revoked);
      await s.keepAlive(revoked);
      await s.revokeLease(revoked);
      expect(await s.get(`${p}r`)).toBeUndefined();
      await expectKind(s.keepAlive(revoked), 'NotFound');

      const short = await s.grantLease(ttl);
      const { it: w, stop } = watchIter(s, p);
      const kv = await s.create(`${p}e`, 'x', { lease: short });
      await s.create(`${p}plain`, 'y');
      const evs = await take(w, 3, leaseWait + ttl * 1000 + 5000);
      expect(evs.map((e) => [e.type, e.kv.key])).toEqual([
        ['put', `${p}e`],
        ['put', `${p}plain`],
        ['delete', `${p}e`],
      ]);
      expect(evs[2]!.kv.modRevision).toBeGreaterThan(kv.modRevision);
      expect(await s.get(`${p}e`)).toBeUndefined();
      expect((await s.get(`${p}plain`))?.value).toBe('y');
      stop();
    }, 30_000);

    it('keepAlive holds a lease past its TTL', async () => {
      fresh();
      const l = await s.grantLease(ttl * 2);
      await s.create(`${p}held`, 'x', { lease: l });
      const until = Date.now() + ttl * 2000 + 1500;
      while (Date.now() < until) {
        await s.keepAlive(l);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect((await s.get(`${p}held`))?.value).toBe('x');
      await s.revokeLease(l);
    }, 30_000);

    it('holds 10,000 keys: count, full list and pages', async () => {
      fresh();
      const n = 10_000;
      const keys = Array.from({ length: n }, (_, i) => `${p}obj-${String(i).padStart(5, '0')}`);
      // ~1 KiB each, like a pod: the full list (10 MiB) is larger than one gRPC message may be.
      const pad = 'x'.repeat(1000);
      await mapLimit(keys, 128, (k) => s.create(k, JSON.stringify({ name: k, spec: { replicas: 1, pad } })));
      expect(await s.count(p)).toBe(n);
      const all = await s.list(p);
      expect(all.items).toHaveLength(n);
      expect(all.items[0]!.key).toBe(keys[0]);
      expect(all.items[n - 1]!.key).toBe(keys[n - 1]);
      expect(all.items.every((kv, i) => kv.key === keys[i] && kv.value.length > 1000)).toBe(true);
      let pages = 0;
      let got = 0;
      let page = await s.list(p, { limit: 1000 });
      for (;;) {
        pages++;
        got += page.items.length;
        if (!page.continue) break;
        page = await s.list(p, { limit: 1000, continue: page.continue });
      }
      expect(pages).toBe(10);
      expect(got).toBe(n);
    }, 180_000);
  });
}
