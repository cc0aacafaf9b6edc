import { describe, it, expect } from 'vitest';
import { GarbageCollector } from './gc.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock } from './fake-clock.js';
import { silentLogger } from '../../core/log.js';
import { ownerRefTo, type Obj } from './objects.js';

async function setup() {
  const clock = new FakeClock();
  const c = new MemoryCluster(clock);
  const log = silentLogger();
  const infs = [new Informer<Obj>(c.resource('apps/v1', 'ReplicaSet'), clock, log), new Informer<Obj>(c.resource('v1', 'Pod'), clock, log)];
  const gc = new GarbageCollector({ clock, log }, infs);
  const ac = new AbortController();
  const runs = [...infs.map((i) => i.run(ac.signal)), gc.controller.run(ac.signal)];
  const rsApi = c.resource('apps/v1', 'ReplicaSet');
  const podApi = c.resource('v1', 'Pod');
  const owner = await rsApi.create({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs', namespace: 'default' }, spec: {} });
  for (const n of ['p1', 'p2']) await podApi.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: n, namespace: 'default', ownerReferences: [ownerRefTo(owner)] }, spec: {} });
  await podApi.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'free', namespace: 'default' }, spec: {} });
  const tick = async () => {
    for (let i = 0; i < 10; i++) await clock.advance(500);
  };
  return { c, rsApi, podApi, tick, stop: async () => (ac.abort(), await Promise.all(runs)) };
}

describe('GarbageCollector', () => {
  it('background: deleting the owner deletes its dependents and nothing else', async () => {
    const h = await setup();
    await h.rsApi.delete('default', 'rs', { propagationPolicy: 'Background' });
    await h.tick();
    expect(h.c.all('Pod').map((p) => p.metadata.name)).toEqual(['free']);
    await h.stop();
  });

  it('foreground: dependents go first, then the owner', async () => {
    const h = await setup();
    await h.rsApi.delete('default', 'rs', { propagationPolicy: 'Foreground' });
    expect(h.c.all('ReplicaSet')[0]!.metadata.finalizers).toEqual(['foregroundDeletion']);
    await h.tick();
    expect(h.c.all('Pod').map((p) => p.metadata.name)).toEqual(['free']);
    expect(h.c.all('ReplicaSet')).toHaveLength(0);
    await h.stop();
  });

  it('orphan: dependents lose their ownerReference and stay; the owner goes', async () => {
    const h = await setup();
    await h.rsApi.delete('default', 'rs', { propagationPolicy: 'Orphan' });
    await h.tick();
    expect(h.c.all('ReplicaSet')).toHaveLength(0);
    const pods = h.c.all('Pod');
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['free', 'p1', 'p2']);
    expect(pods.every((p) => (p.metadata.ownerReferences ?? []).length === 0)).toBe(true);
    await h.stop();
  });
});
