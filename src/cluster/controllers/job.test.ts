import { describe, it, expect } from 'vitest';
import { backoffDelay, formatIndexes, COMPLETION_INDEX } from './job-core.js';
import { JobController } from './job.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock, flush } from './fake-clock.js';
import { runSimKubelet, type SimKubeletOptions } from './sim-kubelet.js';
import { silentLogger } from '../../core/log.js';
import { isPodActive } from './pods.js';
import type { Job, Pod } from './objects.js';

const T0 = Date.UTC(2026, 0, 1);

function job(spec: Partial<Job['spec']> = {}, ann: Record<string, string> = {}): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j', namespace: 'default' },
    spec: { template: { metadata: { annotations: ann }, spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } }, ...spec },
  };
}

async function setup(sim: SimKubeletOptions = {}) {
  const clock = new FakeClock(T0);
  const c = new MemoryCluster(clock);
  const ctx = { clock, log: silentLogger() };
  const jobInf = new Informer<Job>(c.resource('batch/v1', 'Job'), clock, ctx.log);
  const podInf = new Informer<Pod>(c.resource('v1', 'Pod'), clock, ctx.log);
  const jc = new JobController(ctx, jobInf, podInf, { backoffBaseMs: 1000, backoffMaxMs: 4000 });
  const ac = new AbortController();
  const runs = [jobInf.run(ac.signal), podInf.run(ac.signal), jc.controller.run(ac.signal), runSimKubelet(c.resource('v1', 'Pod'), clock, ac.signal, sim)];
  return {
    clock,
    c,
    api: c.resource<Job>('batch/v1', 'Job'),
    stop: async () => {
      ac.abort();
      await Promise.all(runs);
    },
  };
}

describe('Job core', () => {
  it('backs off 10s·2^n capped at 6 minutes by default, configurable', () => {
    const t = { backoffBaseMs: 10_000, backoffMaxMs: 360_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, t))).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 360_000]);
  });
  it('formats completed indexes as ranges', () => {
    expect(formatIndexes([4, 0, 1, 2, 7, 8])).toBe('0-2,4,7-8');
  });
});

describe('JobController (in memory)', () => {
  it('runs completions with at most parallelism pods at once and completes', async () => {
    const { clock, c, api, stop } = await setup();
    let maxActive = 0;
    c.beforeWrite = () => {
      maxActive = Math.max(maxActive, c.all<Pod>('Pod').filter(isPodActive).length);
    };
    await api.create(job({ completions: 5, parallelism: 2 }, { 'wharf.dev/sim-run-ms': '500' }));
    for (let i = 0; i < 40; i++) await clock.advance(200);
    const j = (await api.list()).items[0]!;
    expect(j.status).toMatchObject({ succeeded: 5, failed: 0, active: 0 });
    expect(j.status!.conditions!.find((x) => x.type === 'Complete')!.status).toBe('True');
    expect(c.all<Pod>('Pod')).toHaveLength(5);
    expect(maxActive).toBe(2);
    await stop();
  });

  it('retries a failing pod with exponential backoff and stops at backoffLimit', async () => {
    const { clock, c, api, stop } = await setup();
    await api.create(job({ backoffLimit: 2 }, { 'wharf.dev/sim-exit-code': '1' }));
    const created: number[] = [];
    await flush();
    if (c.all<Pod>('Pod').length > 0) created.push(0);
    for (let t = 0; t < 20_000; t += 100) {
      await clock.advance(100);
      const n = c.all<Pod>('Pod').length;
      while (created.length < n) created.push(clock.now() - T0);
    }
    expect(created).toHaveLength(3); // first try + backoffLimit retries
    expect(created[1]! - created[0]!).toBeGreaterThanOrEqual(1000); // 1s backoff
    expect(created[2]! - created[1]!).toBeGreaterThanOrEqual(2000); // then 2s
    const j = (await api.list()).items[0]!;
    expect(j.status!.failed).toBe(3);
    expect(j.status!.conditions!.find((x) => x.type === 'Failed')).toMatchObject({ status: 'True', reason: 'BackoffLimitExceeded' });
    await stop();
  });

  it('Indexed completion gives each pod its index annotation and env', async () => {
    const { clock, c, api, stop } = await setup();
    await api.create(job({ completions: 3, parallelism: 3, completionMode: 'Indexed' }));
    for (let i = 0; i < 10; i++) await clock.advance(100);
    const pods = c.all<Pod>('Pod');
    expect(pods.map((p) => p.metadata.annotations![COMPLETION_INDEX]).sort()).toEqual(['0', '1', '2']);
    for (const p of pods) expect(p.spec.containers[0]!.env).toContainEqual({ name: 'JOB_COMPLETION_INDEX', value: p.metadata.annotations![COMPLETION_INDEX] });
    expect((await api.list()).items[0]!.status!.completedIndexes).toBe('0-2');
    await stop();
  });

  it('fails at activeDeadlineSeconds and deletes the running pods; ttlSecondsAfterFinished deletes the Job', async () => {
    const { clock, c, api, stop } = await setup();
    await api.create(job({ activeDeadlineSeconds: 3, ttlSecondsAfterFinished: 5 }, { 'wharf.dev/sim-run-ms': '100000' }));
    for (let i = 0; i < 35; i++) await clock.advance(100);
    const j = (await api.list()).items[0]!;
    expect(j.status!.conditions!.find((x) => x.type === 'Failed')).toMatchObject({ reason: 'DeadlineExceeded' });
    expect(c.all<Pod>('Pod').filter(isPodActive)).toHaveLength(0);
    for (let i = 0; i < 60; i++) await clock.advance(100);
    await flush();
    expect((await api.list()).items).toHaveLength(0);
    await stop();
  });
});
