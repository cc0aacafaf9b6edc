// Scheduler end to end through the real API server (SQLite store): simulated nodes are
// registered, pods are created over HTTP, the scheduler (same process, as in `wharf server`)
// binds them through pods/{name}/binding; a watch records when each pod got its node.
// Figures: pods placed per second (first create to last bind) and p50/p99 create->bind.
// Run: npx tsx bench/scheduler-api.ts [--nodes 500] [--pods 5000] [--concurrency 32]
import { mkdtempSync, rmSync } from 'node:fs';
import { systemClock } from '../src/core/clock.js';
import { silentLogger } from '../src/core/log.js';
import { serveApi } from '../src/cluster/apiserver/serve.js';
import { ClusterClient } from '../src/cluster/client/cluster-client.js';
import { clusterSchedulerBackend } from '../src/cluster/scheduler/cluster-backend.js';
import { startScheduler, type PodObj } from '../src/cluster/scheduler/scheduler.js';
import { SimNodes } from '../src/cluster/scheduler/sim-nodes.js';
import { makePod } from '../src/cluster/scheduler/testing.js';
import { openStore } from '../src/store/open-store.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 500);
const PODS = arg('pods', 5000);
const CONCURRENCY = arg('concurrency', 32);

const dir = mkdtempSync('/var/tmp/wharf-bench-sched-');
const log = silentLogger();
const store = await openStore(`sqlite://${dir}/cluster.db`, { logger: log, clock: systemClock });
const server = await serveApi({ dataRoot: dir, listen: '127.0.0.1:0', store, clock: systemClock, logger: log, version: 'bench' });
const conn = new ClusterClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
const backend = clusterSchedulerBackend(conn, { clock: systemClock, log });
backend.events = undefined; // Events are not what this measures (and double the writes)
try {
  const sim = new SimNodes(
    { nodes: backend.nodes, pods: backend.pods, leases: conn.resource('coordination.k8s.io/v1', 'Lease') },
    { clock: systemClock, log, count: NODES, zones: 10, shape: { cpu: '32', memory: '128Gi', pods: 250 } },
  );
  await sim.register();
  const sched = startScheduler(backend, { clock: systemClock, log });
  while (sched.scheduler.snapshot.nodes.length < NODES) await new Promise((r) => setTimeout(r, 50));

  const created = new Map<string, number>();
  const bound = new Map<string, number>();
  const ac = new AbortController();
  let allBound: () => void = () => undefined;
  const done = new Promise<void>((r) => (allBound = r));
  const pods = conn.resource<PodObj>('v1', 'Pod');
  const start = await pods.list({ namespace: 'default' });
  const watching = (async () => {
    for await (const ev of pods.watch({ namespace: 'default', resourceVersion: start.resourceVersion, signal: ac.signal })) {
      const name = ev.object.metadata.name!;
      if (ev.object.spec?.nodeName && !bound.has(name)) {
        bound.set(name, performance.now());
        if (bound.size === PODS) allBound();
      }
    }
  })().catch(() => undefined);

  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < PODS) {
        const i = next++;
        const r = i % 10;
        const name = `bench-${i}`;
        const app = `app-${i % 100}`;
        const p = makePod(name, {
          cpu: ['100m', '250m', '500m'][i % 3]!,
          memory: ['128Mi', '256Mi', '512Mi'][i % 3]!,
          labels: { app },
          ...(r === 8 ? { nodeSelector: { 'topology.kubernetes.io/zone': `zone-${i % 10}` } } : {}),
          ...(r === 9
            ? { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' }] } } }
            : {}),
        }) as unknown as PodObj;
        p.apiVersion = 'v1';
        p.kind = 'Pod';
        delete (p.metadata as { uid?: string }).uid;
        created.set(name, performance.now());
        await pods.create(p);
      }
    }),
  );
  const createdAll = performance.now();
  const timeout = setTimeout(allBound, 300_000);
  await done;
  clearTimeout(timeout);
  const t1 = Math.max(...bound.values());
  ac.abort();
  await watching;
  const lat = [...bound].map(([n, t]) => t - created.get(n)!).sort((a, b) => a - b);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
  console.log(
    JSON.stringify({
      nodes: NODES,
      pods: PODS,
      bound: bound.size,
      createSeconds: +((createdAll - t0) / 1000).toFixed(2),
      seconds: +((t1 - t0) / 1000).toFixed(2),
      podsPlacedPerSecond: Math.round(bound.size / ((t1 - t0) / 1000)),
      p50ms: Math.round(q(0.5)),
      p99ms: Math.round(q(0.99)),
      schedulerStats: sched.scheduler.stats,
    }),
  );
  await sched.stop();
} finally {
  await conn.close();
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
