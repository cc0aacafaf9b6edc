import { describe, it, expect } from 'vitest';
import { NodeLifecycleController, tolerationSecondsFor, UNREACHABLE } from './node-lifecycle.js';
import { EventRecorder } from '../client/event-recorder.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock, flush } from './fake-clock.js';
import { silentLogger } from '../../core/log.js';
import type { KEvent, Lease, Node, Pod } from './objects.js';

const T0 = Date.UTC(2026, 0, 1);

describe('tolerationSecondsFor', () => {
  const taint = { key: UNREACHABLE, effect: 'NoExecute' as const };
  it('no matching toleration: evict now; tolerationSeconds: then; no seconds: never', () => {
    expect(tolerationSecondsFor([], taint)).toBe(0);
    expect(tolerationSecondsFor([{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }], taint)).toBe(300);
    expect(tolerationSecondsFor([{ operator: 'Exists' }], taint)).toBeUndefined();
    expect(tolerationSecondsFor([{ key: 'other', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }], taint)).toBe(0);
  });
});

describe('NodeLifecycleController', () => {
  it('taints a node whose lease went stale, evicts its pods after their toleration, untaints on renewal', async () => {
    const clock = new FakeClock(T0);
    const c = new MemoryCluster(clock);
    const log = silentLogger();
    const events = new EventRecorder(c.resource<KEvent>('v1', 'Event'), clock, log);
    const nodes = new Informer<Node>(c.resource('v1', 'Node'), clock, log);
    const leases = new Informer<Lease>(c.resource('coordination.k8s.io/v1', 'Lease'), clock, log, { namespace: 'kube-node-lease' });
    const pods = new Informer<Pod>(c.resource('v1', 'Pod'), clock, log);
    const ctl = new NodeLifecycleController({ clock, log, events }, nodes, leases, pods, { gracePeriodMs: 5000, monitorPeriodMs: 500 });
    const ac = new AbortController();
    const runs = [nodes.run(ac.signal), leases.run(ac.signal), pods.run(ac.signal), ctl.controller.run(ac.signal)];
    const leaseApi = c.resource<Lease>('coordination.k8s.io/v1', 'Lease');
    await c.resource<Node>('v1', 'Node').create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    let lease = await leaseApi.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'n1', renewTime: new Date(T0).toISOString() } });
    const pod = (name: string, secs?: number): Pod => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { containers: [], nodeName: 'n1', tolerations: secs === undefined ? [] : [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: secs }] },
      status: { phase: 'Running' },
    });
    await c.resource<Pod>('v1', 'Pod').create(pod('intolerant'));
    await c.resource<Pod>('v1', 'Pod').create(pod('tolerates-3s', 3));
    await clock.advance(4000);
    expect(c.all<Node>('Node')[0]!.spec?.taints ?? []).toHaveLength(0);
    await clock.advance(2000); // lease now 6 s old > 5 s grace
    await flush();
    const n = c.all<Node>('Node')[0]!;
    expect(n.spec!.taints).toEqual([expect.objectContaining({ key: UNREACHABLE, effect: 'NoExecute' })]);
    expect(n.status!.conditions!.find((x) => x.type === 'Ready')!.status).toBe('Unknown');
    expect(c.all<Pod>('Pod').map((p) => p.metadata.name)).toEqual(['tolerates-3s']);
    await clock.advance(3000);
    expect(c.all<Pod>('Pod')).toHaveLength(0);
    lease = await leaseApi.get('kube-node-lease', 'n1');
    await leaseApi.update({ ...lease, spec: { ...lease.spec, renewTime: new Date(clock.now()).toISOString() } });
    await clock.advance(1000);
    expect(c.all<Node>('Node')[0]!.spec!.taints).toHaveLength(0);
    await events.flush();
    const evs = c.all<KEvent>('Event');
    expect(evs.map((e) => e.reason)).toContain('NodeNotReady');
    ac.abort();
    await Promise.all(runs);
  });
});

describe('EventRecorder', () => {
  it('de-duplicates repeated events into one with a count and lastTimestamp', async () => {
    const clock = new FakeClock(T0);
    const c = new MemoryCluster(clock);
    const rec = new EventRecorder(c.resource<KEvent>('v1', 'Event'), clock, silentLogger());
    const obj = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u' } };
    rec.record(obj, 'Warning', 'BackOff', 'restarting');
    await clock.advance(1000);
    rec.record(obj, 'Warning', 'BackOff', 'restarting');
    rec.record(obj, 'Warning', 'BackOff', 'restarting');
    rec.record(obj, 'Normal', 'Other', 'x');
    await rec.flush();
    const evs = c.all<KEvent>('Event');
    expect(evs).toHaveLength(2);
    const b = evs.find((e) => e.reason === 'BackOff')!;
    expect(b.count).toBe(3);
    expect(b.firstTimestamp).toBe(new Date(T0).toISOString());
    expect(b.lastTimestamp).toBe(new Date(T0 + 1000).toISOString());
    expect(b.involvedObject).toMatchObject({ kind: 'Pod', name: 'p', uid: 'u' });
  });
});
