import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { startEtcdCluster, type EtcdCluster } from '../../../test/helpers/etcd-cluster.js';
import { openStore } from '../open-store.js';
import { storeConformance, take, expectKind } from '../testsuite.js';
import type { Store } from '../store.js';
import { EtcdStore } from './etcd-store.js';

// The conformance suite on a real one-member etcd, then a three-member cluster that
// loses a member while a watch is open and writes continue.

let single: EtcdCluster | undefined;

storeConformance(
  'etcd (1 member)',
  async () => {
    single = await startEtcdCluster({ members: 1 });
    const store = new EtcdStore({ endpoints: single.endpoints, prefix: `/wharf-${process.pid}` });
    return {
      store,
      close: async () => {
        await store.close();
        await single?.stop();
      },
    };
  },
  { leaseTtlSeconds: 1, leaseExpiryWaitMs: 4000 },
);

describe('etcd store on a 3-member cluster', () => {
  let etcd: EtcdCluster;
  let store: Store;
  beforeAll(async () => {
    etcd = await startEtcdCluster({ members: 3 });
    store = await openStore(etcd.datastoreUrl, { etcdPrefix: '/wharf-ha', etcdTimeoutMs: 3000 });
  });
  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  it('two stores on one cluster see the same state and each other\'s writes', async () => {
    const other = await openStore(`etcd://${etcd.endpoints[2]!.replace('http://', '')}/wharf-ha`);
    try {
      const ac = new AbortController();
      const w = other.watch('/shared/', { signal: ac.signal })[Symbol.asyncIterator]();
      const kv = await store.create('/shared/a', 'hello');
      expect((await other.get('/shared/a'))?.value).toBe('hello');
      expect((await take(w, 1))[0]?.kv.modRevision).toBe(kv.modRevision);
      ac.abort();
    } finally {
      await other.close();
    }
  });

  it('keeps serving reads, writes and an open watch after one member of three is killed', async () => {
    const ac = new AbortController();
    const start = await store.currentRevision();
    const w = store.watch('/ha/', { signal: ac.signal, afterRevision: start })[Symbol.asyncIterator]();
    const revs: number[] = [];
    for (let i = 0; i < 10; i++) revs.push((await store.create(`/ha/k${i}`, String(i))).modRevision);
    await etcd.kill(0); // SIGKILL: a crash, and the store's first endpoint
    for (let i = 10; i < 30; ) {
      try {
        revs.push((await store.create(`/ha/k${i}`, String(i))).modRevision);
        i++;
      } catch (err) {
        // A write in flight during the election may fail as Unavailable; a retry must not duplicate.
        if (isWharfError(err, 'AlreadyExists')) {
          revs.push((await store.get(`/ha/k${i}`))!.modRevision);
          i++;
        } else if (!isWharfError(err, 'Unavailable')) throw err;
      }
    }
    const evs = await take(w, 30, 20_000);
    expect(evs.map((e) => e.kv.modRevision)).toEqual(revs);
    expect(await store.count('/ha/')).toBe(30);
    ac.abort();
  }, 60_000);

  it('compacts etcd periodically to the revision of the previous tick', async () => {
    const c = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/wharf-compact', compactIntervalMs: 300 });
    try {
      const kv = await c.create('/k', '1');
      await c.update('/k', '2', kv.modRevision);
      let gone = false;
      for (let i = 0; i < 30 && !gone; i++) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          await c.list('/', { revision: kv.modRevision });
        } catch (err) {
          gone = isWharfError(err, 'Gone');
          if (!gone) throw err;
        }
      }
      expect(gone).toBe(true);
      expect((await c.get('/k'))?.value).toBe('2');
    } finally {
      await c.close();
    }
  });

  it('answers Unavailable, not a hang, when no etcd is reachable', async () => {
    const dead = new EtcdStore({ endpoints: ['http://127.0.0.1:1'], timeoutMs: 500 });
    try {
      await expectKind(dead.get('/x'), 'Unavailable');
    } finally {
      await dead.close();
    }
  });
});
