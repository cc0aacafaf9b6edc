// The scheduler and simulated nodes as separate HTTP clients of a real API server
// (SQLite store in a temp data root): pods are bound through pods/{name}/binding, run by the
// simulated nodes, and a pod that fits nowhere gets PodScheduled=False and an Event.
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { serveApi, type RunningApiServer } from '../../src/cluster/apiserver/serve.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { clusterSchedulerBackend } from '../../src/cluster/scheduler/cluster-backend.js';
import { startScheduler, type PodObj } from '../../src/cluster/scheduler/scheduler.js';
import { EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, SimNodes } from '../../src/cluster/scheduler/sim-nodes.js';
import { makePod, type PodShape } from '../../src/cluster/scheduler/testing.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

let dir: string;
let store: Store;
let server: RunningApiServer;
let conn: ClusterClient;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync('/var/tmp/wharf-test-sched-');
  const log = silentLogger();
  store = await openStore(`sqlite://${dir}/cluster.db`, { logger: log, clock: systemClock });
  server = await serveApi({ dataRoot: dir, listen: '127.0.0.1:0', store, clock: systemClock, logger: log, version: 'test' });
  conn = new ClusterClient({ server: server.url, token: server.adminToken, ...(server.caPem ? { caPem: server.caPem } : {}) });
  const backend = clusterSchedulerBackend(conn, { clock: systemClock, log });
  const sched = startScheduler(backend, { clock: systemClock, log, queue: { initialBackoffMs: 50, maxBackoffMs: 200 } });
  stops.push(sched.stop);
  const sim = new SimNodes(
    { nodes: backend.nodes, pods: backend.pods, leases: conn.resource('coordination.k8s.io/v1', 'Lease') },
    { clock: systemClock, log, count: 3, zones: 3, shape: { cpu: '2', memory: '4Gi' }, heartbeatSeconds: 1 },
  );
  const ac = new AbortController();
  const simDone = sim.run(ac.signal);
  stops.push(async () => {
    ac.abort();
    await simDone;
  });
  await waitFor('scheduler sees 3 nodes', () => Promise.resolve(sched.scheduler.snapshot.nodes.length === 3));
}, 60_000);

afterAll(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  await conn?.close();
  await server?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, f: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pods = () => conn.resource<PodObj>('v1', 'Pod');
function create(name: string, s: PodShape, annotations?: Record<string, string>) {
  const p = makePod(name, s) as unknown as PodObj;
  p.apiVersion = 'v1';
  p.kind = 'Pod';
  delete (p.metadata as { uid?: string }).uid;
  if (annotations) p.metadata.annotations = annotations;
  return pods().create(p);
}
const phaseOf = async (name: string) => (await pods().get('default', name)).status?.phase;

describe('scheduler through the API server', () => {
  it('places pods by constraints, the simulated nodes run them to completion', async () => {
    await create('web', { cpu: '500m', nodeSelector: { 'topology.kubernetes.io/zone': 'zone-1' } });
    await create('task', { cpu: '500m' }, { [RUN_SECONDS_ANNOTATION]: '0.2', [EXIT_CODE_ANNOTATION]: '0' });
    await waitFor('web running', async () => (await phaseOf('web')) === 'Running');
    expect((await pods().get('default', 'web')).spec.nodeName).toBe('sim-node-1');
    await waitFor('task succeeded', async () => (await phaseOf('task')) === 'Succeeded');
    const web = await pods().get('default', 'web');
    expect(web.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
  });

  it('says why a pod cannot be placed (condition and Event)', async () => {
    await create('huge', { memory: '64Gi' });
    const p = await waitFor('PodScheduled=False', async () => {
      const cur = await pods().get('default', 'huge');
      return cur.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? cur : undefined;
    });
    const cond = p.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    const events = conn.resource('v1', 'Event');
    const ev = await waitFor('FailedScheduling event', async () =>
      (await events.list({ namespace: 'default' })).items.find((e) => e.reason === 'FailedScheduling' && (e.involvedObject as { name: string }).name === 'huge'),
    );
    expect(ev.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    expect(ev.type).toBe('Warning');
  });
});
