import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { WharfError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { MemoryCluster } from '../controllers/memory-cluster.js';
import type { Obj } from '../controllers/objects.js';
import type { NodeObj, PodObj } from './scheduler.js';
import { RUN_SECONDS_ANNOTATION, SimNodes } from './sim-nodes.js';

// The simulated "kubelet" must behave like a real one across outages: a status write that
// fails while the API server is away is retried, and a Running pod it does not know (after its
// own or the server's restart) is adopted and finished on time.

const acs: AbortController[] = [];
afterEach(() => acs.splice(0).forEach((a) => a.abort()));

function setup() {
  const cluster = new MemoryCluster(systemClock);
  const pods = cluster.resource<PodObj>('v1', 'Pod');
  const sim = new SimNodes(
    { nodes: cluster.resource<NodeObj>('v1', 'Node'), pods, leases: cluster.resource<Obj>('coordination.k8s.io/v1', 'Lease') },
    { clock: systemClock, log: silentLogger(), count: 1, namePrefix: 'n', heartbeatSeconds: 0.2 },
  );
  const ac = new AbortController();
  acs.push(ac);
  return { cluster, pods, sim, ac };
}

function pod(name: string, runSeconds: string, status?: PodObj['status']): PodObj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', annotations: { [RUN_SECONDS_ANNOTATION]: runSeconds } },
    spec: { nodeName: 'n-0', containers: [{ name: 'c', image: 'busybox' }] },
    ...(status ? { status } : {}),
  } as PodObj;
}

async function phaseOf(pods: ReturnType<typeof setup>['pods'], name: string, want: string, ms = 5000): Promise<string | undefined> {
  const end = Date.now() + ms;
  let phase: string | undefined;
  while (Date.now() < end) {
    phase = (await pods.get('default', name)).status?.phase;
    if (phase === want) return phase;
    await new Promise((r) => setTimeout(r, 20));
  }
  return phase;
}

describe('SimNodes across API outages', () => {
  it('retries the Succeeded write that failed while the API server was away', async () => {
    const { cluster, pods, sim, ac } = setup();
    let failing = 0;
    cluster.beforeWrite = (verb, obj) => {
      const phase = (obj as PodObj).status?.phase;
      if (obj.kind === 'Pod' && verb.includes('status') && phase === 'Succeeded' && failing < 3) {
        failing++;
        throw new WharfError('Unavailable', 'connect ECONNREFUSED (simulated server restart)');
      }
    };
    const run = sim.run(ac.signal);
    await pods.create(pod('p1', '0.1'));
    expect(await phaseOf(pods, 'p1', 'Succeeded')).toBe('Succeeded');
    expect(failing).toBe(3);
    ac.abort();
    await run;
  });

  it('adopts a Running pod it does not track and finishes it after the rest of its run time', async () => {
    const { pods, sim, ac } = setup();
    const startTime = new Date(Date.now() - 300).toISOString();
    await pods.create(pod('p2', '0.5', { phase: 'Running', startTime }));
    const t0 = Date.now();
    const run = sim.run(ac.signal);
    expect(await phaseOf(pods, 'p2', 'Succeeded')).toBe('Succeeded');
    const waited = Date.now() - t0;
    expect(waited).toBeLessThan(3000); // the remaining ~200 ms, not a fresh 500 ms run or never
    const p = await pods.get('default', 'p2');
    expect(p.status?.startTime).toBe(startTime);
    ac.abort();
    await run;
  });
});
