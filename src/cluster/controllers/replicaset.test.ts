import { describe, it, expect } from 'vitest';
import { planReplicaSet, ReplicaSetController } from './replicaset.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock, flush } from './fake-clock.js';
import { silentLogger } from '../../core/log.js';
import type { Pod, ReplicaSet } from './objects.js';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

function rs(replicas: number, extra: Partial<ReplicaSet['spec']> = {}): ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web', namespace: 'default', uid: 'rs-uid', generation: 2 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }, ...extra },
  };
}

function pod(name: string, o: { owner?: string; labels?: Record<string, string>; node?: string; phase?: Pod['status'] extends infer S ? S extends { phase?: infer P } ? P : never : never; readyAt?: number; created?: number; restarts?: number } = {}): Pod {
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: o.labels ?? { app: 'web' }, creationTimestamp: iso(o.created ?? T0) },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...(o.node ? { nodeName: o.node } : {}) },
    status: { phase: o.phase ?? 'Pending' },
  };
  if (o.owner) p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: o.owner, controller: true }];
  if (o.readyAt !== undefined) p.status!.conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: iso(o.readyAt) }];
  if (o.restarts) p.status!.containerStatuses = [{ name: 'c', restartCount: o.restarts }];
  return p;
}

describe('planReplicaSet', () => {
  it('creates the missing pods with a controller ownerReference and the template labels', () => {
    const plan = planReplicaSet(rs(3), [pod('a', { owner: 'rs-uid' })], T0);
    expect(plan.create).toHaveLength(2);
    expect(plan.create[0]!.metadata.ownerReferences![0]).toMatchObject({ kind: 'ReplicaSet', uid: 'rs-uid', controller: true });
    expect(plan.create[0]!.metadata.labels).toEqual({ app: 'web' });
    expect(plan.create[0]!.metadata.generateName).toBe('web-');
    expect(plan.status).toMatchObject({ replicas: 1, readyReplicas: 0, observedGeneration: 2 });
  });

  it('adopts matching orphans, releases owned pods that stopped matching, ignores pods of other controllers', () => {
    const pods = [pod('orphan'), pod('mine', { owner: 'rs-uid', labels: { app: 'other' } }), pod('theirs', { owner: 'other-uid' })];
    const plan = planReplicaSet(rs(1), pods, T0);
    expect(plan.adopt.map((p) => p.metadata.name)).toEqual(['orphan']);
    expect(plan.release.map((p) => p.metadata.name)).toEqual(['mine']);
    expect(plan.create).toHaveLength(0);
    expect(plan.remove).toHaveLength(0);
  });

  it('deletes unscheduled, then pending, then not-ready, then recently ready pods first', () => {
    const pods = [
      pod('old-ready', { owner: 'rs-uid', node: 'n1', phase: 'Running', readyAt: T0 - 100_000 }),
      pod('new-ready', { owner: 'rs-uid', node: 'n1', phase: 'Running', readyAt: T0 - 1000 }),
      pod('running-not-ready', { owner: 'rs-uid', node: 'n1', phase: 'Running' }),
      pod('pending-bound', { owner: 'rs-uid', node: 'n1', phase: 'Pending' }),
      pod('unscheduled', { owner: 'rs-uid' }),
    ];
    const order = (n: number) => planReplicaSet(rs(5 - n), pods, T0).remove.map((p) => p.metadata.name);
    expect(order(5)).toEqual(['unscheduled', 'pending-bound', 'running-not-ready', 'new-ready', 'old-ready']);
    expect(order(2)).toEqual(['unscheduled', 'pending-bound']);
  });

  it('prefers pods with more restarts, then newer pods', () => {
    const pods = [
      pod('a', { owner: 'rs-uid', node: 'n', phase: 'Running', created: T0 - 10 }),
      pod('b', { owner: 'rs-uid', node: 'n', phase: 'Running', created: T0 - 5 }),
      pod('c', { owner: 'rs-uid', node: 'n', phase: 'Running', created: T0 - 20, restarts: 3 }),
    ];
    expect(planReplicaSet(rs(1), pods, T0).remove.map((p) => p.metadata.name)).toEqual(['c', 'b']);
  });

  it('counts available only after minReadySeconds and asks to be requeued then', () => {
    const pods = [pod('a', { owner: 'rs-uid', node: 'n', phase: 'Running', readyAt: T0 - 4000 }), pod('b', { owner: 'rs-uid', node: 'n', phase: 'Running', readyAt: T0 - 20_000 })];
    const plan = planReplicaSet(rs(2, { minReadySeconds: 10 }), pods, T0);
    expect(plan.status).toMatchObject({ replicas: 2, readyReplicas: 2, availableReplicas: 1 });
    expect(plan.requeueAfterMs).toBe(6000);
  });

  it('ignores finished and terminating pods when counting', () => {
    const done = pod('done', { owner: 'rs-uid', phase: 'Succeeded' });
    const dying = pod('dying', { owner: 'rs-uid' });
    dying.metadata.deletionTimestamp = iso(T0);
    const plan = planReplicaSet(rs(1), [done, dying], T0);
    expect(plan.create).toHaveLength(1);
  });
});

describe('ReplicaSetController', () => {
  it('converges to spec.replicas without creating duplicates, and replaces a deleted pod', async () => {
    const clock = new FakeClock(T0);
    const c = new MemoryCluster(clock);
    const ctx = { clock, log: silentLogger() };
    const rsInf = new Informer<ReplicaSet>(c.resource('apps/v1', 'ReplicaSet'), clock, ctx.log);
    const podInf = new Informer<Pod>(c.resource('v1', 'Pod'), clock, ctx.log);
    const ctl = new ReplicaSetController(ctx, rsInf, podInf);
    const ac = new AbortController();
    const runs = [rsInf.run(ac.signal), podInf.run(ac.signal), ctl.controller.run(ac.signal)];
    const r = rs(3);
    delete r.metadata.uid;
    await c.resource<ReplicaSet>('apps/v1', 'ReplicaSet').create(r);
    await flush();
    expect(c.all<Pod>('Pod')).toHaveLength(3);
    // a user-made orphan with matching labels is adopted and the extra one removed
    await c.resource<Pod>('v1', 'Pod').create(pod('stray'));
    await flush();
    const pods = c.all<Pod>('Pod');
    expect(pods).toHaveLength(3);
    const owner = c.all<ReplicaSet>('ReplicaSet')[0]!.metadata.uid;
    expect(pods.every((p) => p.metadata.ownerReferences?.[0]?.uid === owner)).toBe(true);
    await c.resource('v1', 'Pod').delete('default', pods[0]!.metadata.name!);
    await flush();
    expect(c.all<Pod>('Pod')).toHaveLength(3);
    expect(c.all<ReplicaSet>('ReplicaSet')[0]!.status?.replicas).toBe(3);
    ac.abort();
    await Promise.all(runs);
  });

  it('a failing create for one ReplicaSet does not stop another from being served', async () => {
    const clock = new FakeClock(T0);
    const c = new MemoryCluster(clock);
    const ctx = { clock, log: silentLogger() };
    const rsInf = new Informer<ReplicaSet>(c.resource('apps/v1', 'ReplicaSet'), clock, ctx.log);
    const podInf = new Informer<Pod>(c.resource('v1', 'Pod'), clock, ctx.log);
    const ctl = new ReplicaSetController(ctx, rsInf, podInf);
    c.beforeWrite = (verb, o) => {
      if (verb === 'create' && o.kind === 'Pod' && o.metadata.generateName === 'bad-') throw new Error('quota exceeded');
    };
    const ac = new AbortController();
    const runs = [rsInf.run(ac.signal), podInf.run(ac.signal), ctl.controller.run(ac.signal)];
    const bad = rs(2);
    bad.metadata = { name: 'bad', namespace: 'default' };
    bad.spec.selector = { matchLabels: { app: 'bad' } };
    bad.spec.template!.metadata = { labels: { app: 'bad' } };
    const good = rs(2);
    delete good.metadata.uid;
    await c.resource<ReplicaSet>('apps/v1', 'ReplicaSet').create(bad);
    await c.resource<ReplicaSet>('apps/v1', 'ReplicaSet').create(good);
    await flush();
    await clock.advance(1000);
    expect(c.all<Pod>('Pod').filter((p) => p.metadata.generateName === 'web-')).toHaveLength(2);
    expect(ctl.controller.stats.failed).toBeGreaterThan(1); // retried with backoff
    ac.abort();
    await Promise.all(runs);
  });
});
