import { describe, it, expect } from 'vitest';
import { planDeployment, surgeAndUnavailable, REVISION, HASH_LABEL } from './deployment-core.js';
import { DeploymentController } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock, flush } from './fake-clock.js';
import { runSimKubelet } from './sim-kubelet.js';
import { silentLogger } from '../../core/log.js';
import { isPodActive, isPodReady } from './pods.js';
import type { Deployment, Pod, ReplicaSet } from './objects.js';

const T0 = Date.UTC(2026, 0, 1);

function dep(replicas: number, image = 'nginx:1', extra: Partial<Deployment['spec']> = {}): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
      ...extra,
    },
  };
}

describe('planDeployment (pure)', () => {
  it('resolves maxSurge/maxUnavailable percentages like Kubernetes (surge rounds up, unavailable down)', () => {
    const d = dep(10, 'x', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } } });
    expect(surgeAndUnavailable(d)).toEqual({ surge: 3, unavailable: 2 });
    const z = dep(3, 'x', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } });
    expect(surgeAndUnavailable(z)).toEqual({ surge: 0, unavailable: 1 });
  });

  it('creates the first ReplicaSet with the pod-template-hash, revision 1 and the full replicas', () => {
    const plan = planDeployment(dep(3), [], [], T0);
    const rs = plan.create!;
    const hash = rs.metadata.labels![HASH_LABEL]!;
    expect(rs.metadata.name).toBe(`web-${hash}`);
    expect(rs.spec.replicas).toBe(3);
    expect(rs.spec.selector.matchLabels).toEqual({ app: 'web', [HASH_LABEL]: hash });
    expect(rs.spec.template!.metadata!.labels).toEqual({ app: 'web', [HASH_LABEL]: hash });
    expect(rs.metadata.annotations![REVISION]).toBe('1');
    expect(rs.metadata.ownerReferences![0]).toMatchObject({ kind: 'Deployment', uid: 'd-uid', controller: true });
  });

  it('does not start a new ReplicaSet while paused', () => {
    expect(planDeployment(dep(3, 'x', { paused: true }), [], [], T0).create).toBeUndefined();
  });
});

async function setup(opts: { readyDelayMs?: number } = {}) {
  const clock = new FakeClock(T0);
  const c = new MemoryCluster(clock);
  const ctx = { clock, log: silentLogger() };
  const dInf = new Informer<Deployment>(c.resource('apps/v1', 'Deployment'), clock, ctx.log);
  const rsInf = new Informer<ReplicaSet>(c.resource('apps/v1', 'ReplicaSet'), clock, ctx.log);
  const podInf = new Informer<Pod>(c.resource('v1', 'Pod'), clock, ctx.log);
  const dc = new DeploymentController(ctx, dInf, rsInf, podInf);
  const rc = new ReplicaSetController(ctx, rsInf, podInf);
  const ac = new AbortController();
  const runs = [dInf.run(ac.signal), rsInf.run(ac.signal), podInf.run(ac.signal), dc.controller.run(ac.signal), rc.controller.run(ac.signal), runSimKubelet(c.resource('v1', 'Pod'), clock, ac.signal, opts)];
  const stop = async () => {
    ac.abort();
    await Promise.all(runs);
  };
  return { clock, c, stop, dApi: c.resource<Deployment>('apps/v1', 'Deployment') };
}

async function settle(clock: FakeClock, ms = 200, steps = 30) {
  for (let i = 0; i < steps; i++) await clock.advance(ms);
  await flush();
}

describe('DeploymentController with ReplicaSetController (in memory)', () => {
  it('rolls out a new template within maxSurge and maxUnavailable at every step', async () => {
    const { clock, c, stop, dApi } = await setup({ readyDelayMs: 100 });
    const d = dep(4);
    delete d.metadata.uid;
    await dApi.create(d);
    await settle(clock);
    expect(c.all<Pod>('Pod').filter(isPodReady)).toHaveLength(4);
    let maxActive = 0;
    let minReady = Infinity;
    const podApi = c.resource<Pod>('v1', 'Pod');
    const ac = new AbortController();
    const watching = (async () => {
      for await (const _ev of podApi.watch({ resourceVersion: '0', signal: ac.signal })) {
        const all = c.all<Pod>('Pod').filter(isPodActive);
        maxActive = Math.max(maxActive, all.length);
        minReady = Math.min(minReady, all.filter(isPodReady).length);
      }
    })();
    const cur = (await dApi.list()).items[0]!;
    cur.spec.template.spec!.containers[0]!.image = 'nginx:2';
    await dApi.update(cur);
    await settle(clock, 200, 60);
    ac.abort();
    await watching;
    const pods = c.all<Pod>('Pod').filter(isPodActive);
    expect(pods).toHaveLength(4);
    expect(pods.every((p) => p.spec.containers[0]!.image === 'nginx:2')).toBe(true);
    expect(maxActive).toBe(5); // replicas + maxSurge, used but never exceeded
    expect(minReady).toBe(3); // replicas - maxUnavailable, used but never crossed
    const final = (await dApi.list()).items[0]!;
    expect(final.metadata.annotations![REVISION]).toBe('2');
    expect(final.status).toMatchObject({ replicas: 4, updatedReplicas: 4, availableReplicas: 4 });
    expect(final.status!.conditions!.find((x) => x.type === 'Progressing')!.reason).toBe('NewReplicaSetAvailable');
    const rss = c.all<ReplicaSet>('ReplicaSet');
    expect(rss.map((r) => r.spec.replicas).sort()).toEqual([0, 4]);
    await stop();
  });

  it('Recreate stops every old pod before starting new ones', async () => {
    const { clock, c, stop, dApi } = await setup({ readyDelayMs: 100 });
    const d = dep(3, 'a', { strategy: { type: 'Recreate' } });
    delete d.metadata.uid;
    await dApi.create(d);
    await settle(clock);
    let mixed = false;
    const ac = new AbortController();
    const watching = (async () => {
      for await (const _ev of c.resource<Pod>('v1', 'Pod').watch({ resourceVersion: '0', signal: ac.signal })) {
        const imgs = new Set(c.all<Pod>('Pod').filter(isPodActive).map((p) => p.spec.containers[0]!.image));
        if (imgs.size > 1) mixed = true;
      }
    })();
    const cur = (await dApi.list()).items[0]!;
    cur.spec.template.spec!.containers[0]!.image = 'b';
    await dApi.update(cur);
    await settle(clock);
    ac.abort();
    await watching;
    expect(mixed).toBe(false);
    expect(c.all<Pod>('Pod').filter(isPodReady).map((p) => p.spec.containers[0]!.image)).toEqual(['b', 'b', 'b']);
    await stop();
  });

  it('rolls back to an earlier revision by reusing its ReplicaSet, and keeps revisionHistoryLimit', async () => {
    const { clock, c, stop, dApi } = await setup();
    const d = dep(2, 'v1', { revisionHistoryLimit: 1 });
    delete d.metadata.uid;
    await dApi.create(d);
    await settle(clock);
    for (const img of ['v2', 'v3']) {
      const cur = (await dApi.list()).items[0]!;
      cur.spec.template.spec!.containers[0]!.image = img;
      await dApi.update(cur);
      await settle(clock);
    }
    // history limit 1: the v1 ReplicaSet is gone, v2 kept
    let rss = c.all<ReplicaSet>('ReplicaSet');
    expect(rss.map((r) => r.spec.template!.spec!.containers[0]!.image).sort()).toEqual(['v2', 'v3']);
    const v2 = rss.find((r) => r.spec.template!.spec!.containers[0]!.image === 'v2')!;
    // undo: put v2's template (without the hash label) back, as `wharf rollout undo` does
    const cur = (await dApi.list()).items[0]!;
    cur.spec.template = structuredClone(v2.spec.template!);
    delete cur.spec.template.metadata!.labels![HASH_LABEL];
    await dApi.update(cur);
    await settle(clock);
    rss = c.all<ReplicaSet>('ReplicaSet');
    const again = rss.find((r) => r.metadata.name === v2.metadata.name)!;
    expect(again.spec.replicas).toBe(2);
    expect(again.metadata.annotations![REVISION]).toBe('4');
    expect((await dApi.list()).items[0]!.metadata.annotations![REVISION]).toBe('4');
    await stop();
  });

  it('reports ProgressDeadlineExceeded when pods never become ready', async () => {
    const { clock, c, stop, dApi } = await setup({ readyDelayMs: 10_000_000 });
    const d = dep(2, 'x', { progressDeadlineSeconds: 5 });
    delete d.metadata.uid;
    await dApi.create(d);
    await settle(clock, 1000, 10);
    const cond = (await dApi.list()).items[0]!.status!.conditions!.find((x) => x.type === 'Progressing')!;
    expect(cond).toMatchObject({ status: 'False', reason: 'ProgressDeadlineExceeded' });
    expect(c.all<Pod>('Pod')).toHaveLength(2);
    await stop();
  });

  it('scales and honours paused (no new ReplicaSet until resumed)', async () => {
    const { clock, c, stop, dApi } = await setup();
    const d = dep(2);
    delete d.metadata.uid;
    await dApi.create(d);
    await settle(clock);
    let cur = (await dApi.list()).items[0]!;
    cur.spec.paused = true;
    cur.spec.replicas = 3;
    cur.spec.template.spec!.containers[0]!.image = 'nginx:9';
    await dApi.update(cur);
    await settle(clock);
    expect(c.all<ReplicaSet>('ReplicaSet')).toHaveLength(1);
    expect(c.all<Pod>('Pod').filter(isPodActive).map((p) => p.spec.containers[0]!.image)).toEqual(['nginx:1', 'nginx:1', 'nginx:1']);
    cur = (await dApi.list()).items[0]!;
    cur.spec.paused = false;
    await dApi.update(cur);
    await settle(clock);
    expect(c.all<Pod>('Pod').filter(isPodActive).map((p) => p.spec.containers[0]!.image)).toEqual(['nginx:9', 'nginx:9', 'nginx:9']);
    await stop();
  });
});
