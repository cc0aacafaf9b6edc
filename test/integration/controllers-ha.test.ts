import { isWharfError } from '../../src/core/errors.js';
import { describe, it, expect, afterAll } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { startControllerManager, type RunningControllerManager } from '../../src/cluster/controllers/manager.js';
import { startInProcessScheduler } from '../../src/cmd/scheduler.js';
import { SimNodes } from '../../src/cluster/scheduler/sim-nodes.js';
import type { Deployment, Pod } from '../../src/cluster/controllers/objects.js';
import { isPodActive, isPodReady } from '../../src/cluster/controllers/pods.js';

// Two API servers on one 3-member etcd, each with a controller manager: exactly one acts;
// when the leader's server dies, the other takes over within the lease duration and the
// cluster keeps converging, with no pod made twice.

const log = silentLogger();
const LEASE = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };
let etcd: EtcdCluster | undefined;
const servers: TestApiServer[] = [];
const clusters: ClusterClient[] = [];
const cms: RunningControllerManager[] = [];
const stops: (() => Promise<void>)[] = [];

async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve(f()).catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  for (const c of cms) await c.stop().catch(() => undefined);
  for (const c of clusters) await c.close().catch(() => undefined);
  for (const s of servers) await s.stop().catch(() => undefined);
  await etcd?.stop();
});

describe('controller manager leader election on etcd', () => {
  it('one of two managers acts; after the leader dies the other takes over and nothing is made twice', async () => {
    etcd = await startEtcdCluster({ members: 3 });
    for (let i = 0; i < 2; i++) {
      const s = await startTestApiServer({ datastore: etcd.datastoreUrl });
      servers.push(s);
      const c = new ClusterClient({ server: s.url, token: s.adminToken, caPem: s.caPem });
      clusters.push(c);
      cms.push(startControllerManager(c, { clock: systemClock, log, identity: `cm-${i}`, ...LEASE, node: { gracePeriodMs: 60_000 } }));
    }
    const leader = await until('a leader', () => {
      const l = cms.findIndex((c) => c.isLeader());
      return l >= 0 ? l + 1 : undefined;
    });
    const L = leader - 1;
    const F = 1 - L;
    // for a while, never two leaders
    for (let t = 0; t < 20; t++) {
      expect(cms.filter((c) => c.isLeader())).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    // nodes and a scheduler on the follower's server (they must outlive the leader's)
    const fc = clusters[F]!;
    const sched = startInProcessScheduler({ url: servers[F]!.url, token: servers[F]!.adminToken, caPem: servers[F]!.caPem, logger: log });
    stops.push(() => sched.stop());
    const simAc = new AbortController();
    const sim = new SimNodes({ nodes: fc.resource('v1', 'Node'), pods: fc.resource('v1', 'Pod'), leases: fc.resource('coordination.k8s.io/v1', 'Lease') }, { clock: systemClock, log, count: 2, namePrefix: 'ha-node', heartbeatSeconds: 1 });
    const simRun = sim.run(simAc.signal).catch(() => undefined);
    stops.push(async () => {
      simAc.abort();
      await simRun;
    });
    const dApi = fc.resource<Deployment>('apps/v1', 'Deployment');
    const podApi = fc.resource<Pod>('v1', 'Pod');
    await dApi.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ha', namespace: 'default' }, spec: { replicas: 3, selector: { matchLabels: { app: 'ha' } }, template: { metadata: { labels: { app: 'ha' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } });
    await until('3 ready pods', async () => (await podApi.list({ namespace: 'default', labelSelector: 'app=ha' })).items.filter(isPodReady).length === 3);

    // the leader's API server dies: its manager can no longer renew and must stop acting
    const killedAt = Date.now();
    await servers[L]!.stop();
    await until('the follower to lead', () => cms[F]!.isLeader(), 20_000);
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThanOrEqual(LEASE.leaseDurationMs + LEASE.retryPeriodMs + 1500);
    expect(cms[L]!.isLeader()).toBe(false);

    // the new leader keeps the cluster converging, and exactly the wanted pods exist
    // get-modify-update until no conflict: the controllers write the Deployment's status meanwhile
    for (let attempt = 0; ; attempt++) {
      const d = await dApi.get('default', 'ha');
      d.spec.replicas = 5;
      try {
        await dApi.update(d);
        break;
      } catch (e) {
        if (attempt >= 20 || !isWharfError(e, 'Conflict')) throw e;
      }
    }
    await until('5 ready pods', async () => (await podApi.list({ namespace: 'default', labelSelector: 'app=ha' })).items.filter(isPodReady).length === 5);
    await new Promise((r) => setTimeout(r, 1500));
    const pods = (await podApi.list({ namespace: 'default', labelSelector: 'app=ha' })).items;
    expect(pods.filter(isPodActive)).toHaveLength(5);
    expect(new Set(pods.map((p) => p.metadata.name)).size).toBe(pods.length);
  }, 120_000);
});
