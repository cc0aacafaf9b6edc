import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { startControllerManager, type RunningControllerManager } from '../../src/cluster/controllers/manager.js';
import { startInProcessScheduler } from '../../src/cmd/scheduler.js';
import { SimNodes, RUN_SECONDS_ANNOTATION, EXIT_CODE_ANNOTATION } from '../../src/cluster/scheduler/sim-nodes.js';
import type { Deployment, Job, Obj, Pod } from '../../src/cluster/controllers/objects.js';
import { isPodActive, isPodReady } from '../../src/cluster/controllers/pods.js';

// The controllers on a real `wharf server` (in process, SQLite on a temp data root), with
// the real scheduler and simulated nodes (the scheduler engineer's SimNodes).

const log = silentLogger();
const BIN = join(import.meta.dirname, '../../bin/wharf'); // the built program (npm test builds first)
const suffix = Math.random().toString(36).slice(2, 7);

let srv: TestApiServer;
let cluster: ClusterClient;
let cm: RunningControllerManager;
let sched: { stop(): Promise<void> };
const simAborts: AbortController[] = [];
const simRuns: Promise<void>[] = [];

function startSim(prefix: string, count: number, labels: Record<string, string> = {}, heartbeatSeconds = 1): AbortController {
  const sim = new SimNodes(
    { nodes: cluster.resource('v1', 'Node'), pods: cluster.resource('v1', 'Pod'), leases: cluster.resource('coordination.k8s.io/v1', 'Lease') },
    { clock: systemClock, log, count, namePrefix: prefix, heartbeatSeconds, leaseDurationSeconds: 3, labels },
  );
  const ac = new AbortController();
  simAborts.push(ac);
  simRuns.push(sim.run(ac.signal).catch(() => undefined));
  return ac;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  srv = await startTestApiServer();
  cluster = new ClusterClient({ server: srv.url, token: srv.adminToken, caPem: srv.caPem });
  cm = startControllerManager(cluster, {
    clock: systemClock,
    log,
    identity: `test-${suffix}`,
    leaseDurationMs: 4000,
    renewDeadlineMs: 3000,
    retryPeriodMs: 500,
    jobTiming: { backoffBaseMs: 1000, backoffMaxMs: 8000 },
    node: { gracePeriodMs: 3000, monitorPeriodMs: 500 },
    finalizeNamespace: (ns) => cluster.finalizeNamespace(ns),
  });
  sched = startInProcessScheduler({ url: srv.url, token: srv.adminToken, caPem: srv.caPem, logger: log });
  startSim(`n${suffix}`, 2);
  await until('the controller manager to lead', () => Promise.resolve(cm.isLeader()));
});

afterAll(async () => {
  for (const a of simAborts) a.abort();
  await Promise.all(simRuns);
  await cm?.stop();
  await sched?.stop();
  await cluster?.close();
  await srv?.stop();
});

function deployment(name: string, replicas: number, image: string, extra: Partial<Deployment['spec']> = {}, podSpec: Record<string, unknown> = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }], ...podSpec } },
      ...extra,
    },
  };
}

describe('controllers on a real API server', () => {
  it('a rolling update never goes below maxUnavailable nor above maxSurge (observed through a watch)', async () => {
    const name = `web-${suffix}`;
    const dApi = cluster.resource<Deployment>('apps/v1', 'Deployment');
    const podApi = cluster.resource<Pod>('v1', 'Pod');
    await dApi.create(deployment(name, 4, 'nginx:1', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }));
    await until('4 ready pods', async () => (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter(isPodReady).length === 4);
    const list = await podApi.list({ namespace: 'default', labelSelector: `app=${name}` });
    const live = new Map<string, Pod>(list.items.map((p) => [p.metadata.name!, p]));
    let maxActive = 0;
    let minReady = Infinity;
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of podApi.watch({ namespace: 'default', labelSelector: `app=${name}`, resourceVersion: list.resourceVersion, signal: ac.signal })) {
        if (ev.type === 'BOOKMARK') continue;
        if (ev.type === 'DELETED') live.delete(ev.object.metadata.name!);
        else live.set(ev.object.metadata.name!, ev.object);
        const active = [...live.values()].filter(isPodActive);
        maxActive = Math.max(maxActive, active.length);
        minReady = Math.min(minReady, active.filter(isPodReady).length);
      }
    })().catch(() => undefined);
    try {
      // The controller writes the Deployment's status meanwhile: get-modify-update until no conflict, as kubectl does.
      await until('the template update', async () => {
        const cur = await dApi.get('default', name);
        cur.spec.template.spec!.containers[0]!.image = 'nginx:2';
        await dApi.update(cur);
        return true;
      });
      await until('rollout complete', async () => {
        const d = await dApi.get('default', name);
        return d.status?.updatedReplicas === 4 && d.status.availableReplicas === 4 && d.status.replicas === 4 && d.status.observedGeneration === d.metadata.generation;
      });
    } finally {
      ac.abort();
      await watching;
    }
    expect(maxActive).toBeLessThanOrEqual(5);
    expect(minReady).toBeGreaterThanOrEqual(3);
    const pods = (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter(isPodActive);
    expect(pods.map((p) => p.spec.containers[0]!.image)).toEqual(['nginx:2', 'nginx:2', 'nginx:2', 'nginx:2']);
    const d = await dApi.get('default', name);
    expect(d.metadata.annotations!['deployment.kubernetes.io/revision']).toBe('2');
    // the CLI: rollout status, undo back to nginx:1, scale
    const cli = (...args: string[]) => run([process.execPath, BIN, ...args, ...srv.cliArgs], { timeoutMs: 60_000 });
    expect((await cli('rollout', 'status', `deployment/${name}`)).stdout).toContain(`deployment "${name}" successfully rolled out`);
    expect((await cli('rollout', 'history', `deployment/${name}`)).stdout).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    expect((await cli('rollout', 'undo', `deployment/${name}`)).stdout).toContain('rolled back');
    await cli('rollout', 'status', `deployment/${name}`, '--timeout', '30');
    await cli('scale', `deployment/${name}`, '--replicas', '2');
    await until('rolled back and scaled', async () => {
      const ps = (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter(isPodActive);
      return ps.length === 2 && ps.every((p) => p.spec.containers[0]!.image === 'nginx:1' && isPodReady(p));
    });
    expect((await dApi.get('default', name)).metadata.annotations!['deployment.kubernetes.io/revision']).toBe('3');
    const bad = await run([process.execPath, BIN, 'scale', `deployment/${name}`, '--replicas=-1', ...srv.cliArgs], { allowFailure: true });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--replicas: must be a non-negative integer/);
    expect((await dApi.get('default', name)).spec.replicas).toBe(2); // bad input changed nothing
    // deleting the Deployment removes its ReplicaSets and pods (garbage collector)
    await dApi.delete('default', name, { propagationPolicy: 'Background' });
    await until('pods garbage collected', async () => (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.length === 0);
  }, 180_000); // eight CLI runs of bin/wharf: slow when two test files share 2 cores

  it('a failing Job retries with exponential backoff and stops at backoffLimit', async () => {
    const name = `fail-${suffix}`;
    const jobApi = cluster.resource<Job>('batch/v1', 'Job');
    const podApi = cluster.resource<Pod>('v1', 'Pod');
    const seen = new Map<string, number>();
    const ac = new AbortController();
    const list = await podApi.list({ namespace: 'default' });
    const watching = (async () => {
      for await (const ev of podApi.watch({ namespace: 'default', labelSelector: `batch.kubernetes.io/job-name=${name}`, resourceVersion: list.resourceVersion, signal: ac.signal })) {
        if (ev.type === 'ADDED' && !seen.has(ev.object.metadata.name!)) seen.set(ev.object.metadata.name!, Date.now());
      }
    })().catch(() => undefined);
    await jobApi.create({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: 'default' },
      spec: { backoffLimit: 2, template: { metadata: { annotations: { [RUN_SECONDS_ANNOTATION]: '0', [EXIT_CODE_ANNOTATION]: '1' } }, spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } } },
    });
    const job = await until('job failed', async () => {
      const j = await jobApi.get('default', name);
      return j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') ? j : undefined;
    });
    await new Promise((r) => setTimeout(r, 2500)); // no further pod after the limit
    ac.abort();
    await watching;
    expect(job.status!.conditions!.find((c) => c.type === 'Failed')!.reason).toBe('BackoffLimitExceeded');
    expect(job.status!.failed).toBe(3);
    const times = [...seen.values()].sort((a, b) => a - b);
    expect(times).toHaveLength(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900); // 1 s backoff (timestamps are whole seconds)
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(1900); // then 2 s
  }, 120_000);

  it('a node that stops heartbeating has its pods evicted and rescheduled within the configured time', async () => {
    const name = `ha-${suffix}`;
    const podApi = cluster.resource<Pod>('v1', 'Pod');
    const dApi = cluster.resource<Deployment>('apps/v1', 'Deployment');
    const pool = { pool: `ha-${suffix}` };
    const doomed = startSim(`x${suffix}`, 1, pool); // node x<suffix>-0
    const doomedNode = `x${suffix}-0`;
    await until('the doomed node registered', async () => (await cluster.resource('v1', 'Node').get(undefined, doomedNode)).metadata.name);
    await dApi.create(
      deployment(name, 2, 'busybox', {}, {
        nodeSelector: pool,
        tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1 }],
      }),
    );
    await until('2 pods running on the doomed node', async () => (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter((p) => isPodReady(p) && p.spec.nodeName === doomedNode).length === 2);
    const spareNode = `y${suffix}-0`;
    startSim(`y${suffix}`, 1, pool); // a spare node in the same pool
    await until('the spare node registered', async () => (await cluster.resource('v1', 'Node').get(undefined, spareNode)).metadata.name);
    doomed.abort(); // the doomed node dies: no more heartbeats, its pods are never finished
    const t0 = Date.now();
    await until('node tainted', async () => ((await cluster.resource<Obj>('v1', 'Node').get(undefined, doomedNode)).spec as { taints?: { key: string }[] } | undefined)?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable'));
    const tainted = Date.now() - t0;
    await until('replacements running on the spare node', async () => (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter((p) => isPodReady(p) && isPodActive(p) && p.spec.nodeName === spareNode).length === 2);
    const rescheduled = Date.now() - t0;
    // grace 3 s (+ up to 1 s of the last heartbeat) + monitor period, then 1 s toleration, then scheduling
    expect(tainted).toBeLessThan(6000);
    expect(rescheduled).toBeLessThan(10_000);
    const evicted = (await podApi.list({ namespace: 'default', labelSelector: `app=${name}` })).items.filter((p) => p.spec.nodeName === doomedNode);
    expect(evicted.every((p) => p.metadata.deletionTimestamp)).toBe(true);
    const node = await cluster.resource<Obj>('v1', 'Node').get(undefined, doomedNode);
    expect(((node.status as { conditions?: { type: string; status: string }[] }).conditions ?? []).find((c) => c.type === 'Ready')!.status).toBe('Unknown');
  }, 120_000);
});
