import { describe, it, expect } from 'vitest';
import { DS_HASH_LABEL, daemonPodName, maxUnavailableOf, placement, planDaemonSet } from './daemonset-core.js';
import { templateHash } from './pods.js';
import type { DaemonSet, Node, Pod } from './objects.js';

const NOW = Date.parse('2026-01-01T01:00:00Z');
function ds(extra: Partial<DaemonSet['spec']> = {}, podSpec: Record<string, unknown> = {}): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', uid: 'ds-uid', generation: 2 },
    spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'agent:1' }], ...podSpec } }, ...extra },
  };
}
const node = (name: string, labels: Record<string, string> = {}, taints: Node['spec'] extends infer S ? (S extends { taints?: infer T } ? T : never) : never = []): Node => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: { taints } });
function pod(d: DaemonSet, nodeName: string, hash = templateHash(d.spec.template), ready = true): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: daemonPodName(d, nodeName), namespace: 'default', uid: `${nodeName}-${hash}`, labels: { app: 'a', [DS_HASH_LABEL]: hash }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent', uid: 'ds-uid', controller: true }] },
    spec: { containers: [], nodeName },
    status: { phase: 'Running', conditions: ready ? [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(NOW - 60_000).toISOString() }] : [] },
  };
}

describe('DaemonSet placement', () => {
  it('follows nodeSelector, required node affinity and taints, with the daemon default tolerations', () => {
    const d = ds({}, { nodeSelector: { role: 'w' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['z9'] }] }] } } } });
    expect(placement(d, node('a', { role: 'w' })).shouldRun).toBe(true);
    expect(placement(d, node('b', { role: 'x' })).shouldRun).toBe(false);
    expect(placement(d, node('c', { role: 'w', zone: 'z9' })).shouldRun).toBe(false);
    // tolerated by default: not-ready (NoExecute) and unschedulable (NoSchedule)
    expect(placement(d, node('d', { role: 'w' }, [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' }, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }])).shouldRun).toBe(true);
    // a NoSchedule taint stops new pods but keeps a running one; NoExecute removes it
    const ns = placement(d, node('e', { role: 'w' }, [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }]));
    expect(ns).toEqual({ shouldRun: false, shouldContinue: true });
    expect(placement(d, node('f', { role: 'w' }, [{ key: 'dedicated', value: 'x', effect: 'NoExecute' }]))).toEqual({ shouldRun: false, shouldContinue: false });
  });
  it('scales maxUnavailable against the desired count (percentages round up), at least 1', () => {
    expect(maxUnavailableOf(ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } } }), 10)).toBe(3);
    expect(maxUnavailableOf(ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } } }), 10)).toBe(2);
    expect(maxUnavailableOf(ds(), 0)).toBe(1);
  });
});

describe('planDaemonSet', () => {
  it('creates a pod bound to each matching node that lacks one, and removes pods from nodes that are gone or no longer match', () => {
    const d = ds({}, { nodeSelector: { role: 'w' } });
    const nodes = [node('a', { role: 'w' }), node('b', { role: 'w' }), node('c', { role: 'x' })];
    const p = planDaemonSet(d, nodes, [pod(d, 'a'), pod(d, 'c'), pod(d, 'gone')], NOW);
    expect(p.create.map((x) => [x.metadata.name, x.spec.nodeName])).toEqual([[daemonPodName(d, 'b'), 'b']]);
    expect(p.remove.map((x) => x.spec.nodeName).sort()).toEqual(['c', 'gone']);
    expect(p.status).toMatchObject({ desiredNumberScheduled: 2, currentNumberScheduled: 1, numberMisscheduled: 2, numberReady: 1, numberAvailable: 1, numberUnavailable: 1, updatedNumberScheduled: 1, observedGeneration: 2 });
  });
  it('waits for a terminating pod to go before creating its replacement', () => {
    const d = ds();
    const old = pod(d, 'a', 'oldhash');
    old.metadata.deletionTimestamp = new Date(NOW).toISOString();
    expect(planDaemonSet(d, [node('a')], [old], NOW).create).toEqual([]);
  });
  it('RollingUpdate deletes outdated pods within maxUnavailable (unavailable old ones first, for free); OnDelete deletes none', () => {
    const d = ds({ updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } });
    const nodes = ['a', 'b', 'c', 'd'].map((n) => node(n));
    const pods = [pod(d, 'a', 'old'), pod(d, 'b', 'old'), pod(d, 'c', 'old', false), pod(d, 'd')];
    const p = planDaemonSet(d, nodes, pods, NOW);
    // c is old and already unavailable: it goes, and it uses up the budget of 1
    expect(p.remove.map((x) => x.spec.nodeName)).toEqual(['c']);
    const all = planDaemonSet(d, nodes, [pod(d, 'a', 'old'), pod(d, 'b', 'old'), pod(d, 'c'), pod(d, 'd')], NOW);
    expect(all.remove.map((x) => x.spec.nodeName)).toEqual(['a']);
    const od = ds({ updateStrategy: { type: 'OnDelete' } });
    expect(planDaemonSet(od, nodes, [pod(od, 'a', 'old'), pod(od, 'b', 'old'), pod(od, 'c', 'old'), pod(od, 'd', 'old')], NOW).remove).toEqual([]);
  });
  it('replaces a failed daemon pod and keeps one pod per node', () => {
    const d = ds();
    const failed = pod(d, 'a');
    failed.status = { phase: 'Failed' };
    expect(planDaemonSet(d, [node('a')], [failed], NOW).remove).toEqual([failed]);
    const dup = { ...pod(d, 'b'), metadata: { ...pod(d, 'b').metadata, uid: 'dup', creationTimestamp: new Date(NOW).toISOString() } };
    const first = { ...pod(d, 'b'), metadata: { ...pod(d, 'b').metadata, creationTimestamp: new Date(NOW - 1000).toISOString() } };
    expect(planDaemonSet(d, [node('b')], [first, dup], NOW).remove.map((x) => x.metadata.uid)).toEqual(['dup']);
  });
});
