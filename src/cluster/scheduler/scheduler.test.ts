import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { silentLogger } from '../../core/log.js';
import { MemoryCluster } from '../controllers/memory-cluster.js';
import type { Obj } from '../controllers/objects.js';
import { startScheduler, type NodeObj, type PodObj, type SchedulerBackend } from './scheduler.js';
import { EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, SimNodes } from './sim-nodes.js';
import { makePod, type PodShape } from './testing.js';

// The loop wired to an in-memory API (resourceVersion CAS, watch) and simulated nodes.
// The end-to-end test through the real API server lives in test/integration once it is on main.

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function setup(nodes: number, shape: { cpu: string; memory: string }) {
  const cluster = new MemoryCluster(systemClock);
  const pods = cluster.resource<PodObj>('v1', 'Pod');
  const nodeApi = cluster.resource<NodeObj>('v1', 'Node');
  const events: { obj: string; type: string; reason: string; message: string }[] = [];
  const backend: SchedulerBackend = {
    pods,
    nodes: nodeApi,
    // The binding subresource, reduced: set spec.nodeName if the resourceVersion is current.
    bind: async (pod, nodeName) => {
      await pods.update({ ...pod, spec: { ...pod.spec, nodeName } });
    },
    events: { record: (o: Obj, type, reason, message) => events.push({ obj: `${o.metadata.namespace}/${o.metadata.name}`, type, reason, message }) },
  };
  const log = silentLogger();
  const sched = startScheduler(backend, { clock: systemClock, log, queue: { initialBackoffMs: 20, maxBackoffMs: 100 } });
  stops.push(sched.stop);
  const ac = new AbortController();
  const sim = new SimNodes({ nodes: nodeApi, pods, leases: cluster.resource('coordination.k8s.io/v1', 'Lease') }, { clock: systemClock, log, count: nodes, zones: 2, shape: shape, heartbeatSeconds: 0.2 });
  const simDone = sim.run(ac.signal);
  stops.push(async () => {
    ac.abort();
    await simDone;
  });
  const create = (name: string, s: PodShape = {}, annotations?: Record<string, string>) => {
    const p = makePod(name, s) as unknown as PodObj;
    p.apiVersion = 'v1';
    p.kind = 'Pod';
    if (annotations) p.metadata.annotations = annotations;
    return pods.create(p);
  };
  const get = (name: string) => pods.get('default', name);
  const ready = () => waitFor('nodes registered', () => Promise.resolve(sched.scheduler.snapshot.nodes.length === nodes));
  return { cluster, pods, nodeApi, events, sched, sim, create, get, ready };
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('scheduler loop with simulated nodes', () => {
  it('binds pending pods, the nodes run them, run-to-completion pods finish', async () => {
    const t = setup(3, { cpu: '2', memory: '4Gi' });
    await t.create('a', { cpu: '1' });
    await t.create('b', { cpu: '1' });
    await t.create('job', { cpu: '500m' }, { [RUN_SECONDS_ANNOTATION]: '0.1', [EXIT_CODE_ANNOTATION]: '0' });
    await t.create('bad-job', { cpu: '500m' }, { [RUN_SECONDS_ANNOTATION]: '0.1', [EXIT_CODE_ANNOTATION]: '3' });
    for (const n of ['a', 'b']) {
      const p = await waitFor(`${n} running`, async () => ((await t.get(n)).status?.phase === 'Running' ? t.get(n) : undefined));
      expect(p.spec.nodeName).toMatch(/^sim-node-[0-2]$/);
    }
    expect((await waitFor('job done', async () => ((await t.get('job')).status?.phase === 'Succeeded' ? t.get('job') : undefined))).status?.phase).toBe('Succeeded');
    await waitFor('bad-job failed', async () => (await t.get('bad-job')).status?.phase === 'Failed');
    expect(t.events.filter((e) => e.reason === 'Scheduled').map((e) => e.obj).sort()).toEqual(['default/a', 'default/b', 'default/bad-job', 'default/job']);
    // Leases are renewed.
    const lease = await t.cluster.resource('coordination.k8s.io/v1', 'Lease').get('kube-node-lease', 'sim-node-0');
    expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe('sim-node-0');
  });

  it('reports why a pod cannot be placed, and places it when a node that fits appears', async () => {
    const t = setup(3, { cpu: '2', memory: '4Gi' });
    await t.ready();
    await t.create('huge', { memory: '16Gi' });
    const p = await waitFor('PodScheduled=False', async () => {
      const cur = await t.get('huge');
      return cur.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? cur : undefined;
    });
    const cond = p.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    expect(t.events).toContainEqual({ obj: 'default/huge', type: 'Warning', reason: 'FailedScheduling', message: '0/3 nodes are available: 3 Insufficient memory.' });
    expect(p.spec.nodeName).toBeUndefined();
    // A bigger node joins: the pod is retried because the cluster changed.
    const big = new SimNodes({ nodes: t.nodeApi, pods: t.pods, leases: t.cluster.resource('coordination.k8s.io/v1', 'Lease') }, { clock: systemClock, log: silentLogger(), count: 1, namePrefix: 'big', shape: { memory: '32Gi' } });
    await big.register();
    const placed = await waitFor('huge bound', async () => ((await t.get('huge')).spec.nodeName ? t.get('huge') : undefined));
    expect(placed.spec.nodeName).toBe('big-0');
  });

  it('preempts lower-priority pods for a higher-priority one', async () => {
    const t = setup(2, { cpu: '2', memory: '4Gi' });
    for (const n of ['low-1', 'low-2', 'low-3', 'low-4']) await t.create(n, { cpu: '1', priority: 1 });
    await waitFor('low pods bound', async () => {
      const all = await t.pods.list();
      return all.items.filter((p) => p.spec.nodeName).length === 4;
    });
    await t.create('vip', { cpu: '1', priority: 1000 });
    const vip = await waitFor('vip bound', async () => ((await t.get('vip')).spec.nodeName ? t.get('vip') : undefined));
    const left = (await t.pods.list()).items.map((p) => p.metadata.name).sort();
    expect(left).toHaveLength(4); // exactly one victim
    expect(left).toContain('vip');
    expect(t.events.some((e) => e.reason === 'Preempted')).toBe(true);
    expect(vip.spec.nodeName).toMatch(/^sim-node-/);
  });
});
