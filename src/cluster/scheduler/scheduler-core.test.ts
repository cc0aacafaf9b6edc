import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import type { Node, Pod } from './k8s-types.js';
import { defaultProfile } from './profile.js';
import { SchedulerCore, numFeasibleNodesToFind, type ScheduleResult, type SchedulerCoreOptions } from './scheduler-core.js';
import { ClusterSnapshot, PriorityClassTable, nodeInfoFromNode, podInfoFromPod, type PodInfo } from './snapshot.js';
import { makeNode, makePod, type PodShape } from './testing.js';

function cluster(nodes: Node[], placed: [Pod, string][] = [], opts: SchedulerCoreOptions = {}) {
  const snap = new ClusterSnapshot();
  for (const n of nodes) snap.upsertNode(nodeInfoFromNode(n));
  for (const [p, n] of placed) snap.addPod(podInfoFromPod(p), n);
  const core = new SchedulerCore(snap, opts);
  /** Schedules and, when placed, assumes the pod in the snapshot. */
  const place = (p: Pod | PodInfo): ScheduleResult => {
    const info = 'metadata' in p ? podInfoFromPod(p) : p;
    const r = core.schedule(info);
    if (r.status === 'Scheduled') snap.addPod(info, r.node);
    return r;
  };
  return { snap, core, place };
}

const nodeOf = (r: ScheduleResult) => (r.status === 'Scheduled' ? r.node : `unschedulable: ${r.message}`);
const feasibleSet = (nodes: Node[], placed: [Pod, string][], pod: Pod) => {
  const { snap, core } = cluster(nodes, placed);
  const info = podInfoFromPod(pod);
  return snap.nodes.filter((n) => core.filterOne(info, n).code === 'Success').map((n) => n.name);
};

describe('filters', () => {
  it('resources fit: cpu, memory, ephemeral storage, pod count, extended resources, counting placed pods', () => {
    const nodes = [makeNode('small', { cpu: '1', memory: '1Gi', pods: 2 }), makeNode('big', { cpu: '8', memory: '16Gi', extended: { 'example.com/gpu': 2 } })];
    expect(feasibleSet(nodes, [], makePod('p', { cpu: '2' }))).toEqual(['big']);
    expect(feasibleSet(nodes, [], makePod('p', { memory: '2Gi' }))).toEqual(['big']);
    expect(feasibleSet(nodes, [], makePod('p', { cpu: '500m', memory: '512Mi' }))).toEqual(['small', 'big']);
    expect(feasibleSet(nodes, [[makePod('a', { cpu: '600m' }), 'small']], makePod('p', { cpu: '500m' }))).toEqual(['big']);
    expect(feasibleSet(nodes, [[makePod('a'), 'small'], [makePod('b'), 'small']], makePod('p'))).toEqual(['big']);
    expect(feasibleSet(nodes, [], makePod('p', { ephemeralStorage: '200Gi' }))).toEqual([]);
    expect(feasibleSet(nodes, [], makePod('p', { extended: { 'example.com/gpu': 1 } }))).toEqual(['big']);
    expect(feasibleSet(nodes, [], makePod('p', { extended: { 'example.com/gpu': 3 } }))).toEqual([]);
  });

  it('nodeSelector and required node affinity with every operator', () => {
    const nodes = [
      makeNode('a', { labels: { zone: 'z1', disk: 'ssd', gen: '3' } }),
      makeNode('b', { labels: { zone: 'z2', gen: '5' } }),
      makeNode('c', { labels: { zone: 'z3' } }),
    ];
    const aff = (matchExpressions: any[]): PodShape => ({
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions }] } } },
    });
    expect(feasibleSet(nodes, [], makePod('p', { nodeSelector: { disk: 'ssd' } }))).toEqual(['a']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'zone', operator: 'In', values: ['z1', 'z3'] }])))).toEqual(['a', 'c']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'zone', operator: 'NotIn', values: ['z1'] }])))).toEqual(['b', 'c']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'disk', operator: 'Exists' }])))).toEqual(['a']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'disk', operator: 'DoesNotExist' }])))).toEqual(['b', 'c']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'gen', operator: 'Gt', values: ['3'] }])))).toEqual(['b']);
    expect(feasibleSet(nodes, [], makePod('p', aff([{ key: 'gen', operator: 'Lt', values: ['4'] }])))).toEqual(['a']);
    // Terms are ORed, expressions within a term ANDed.
    const or = makePod('p', {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }, { key: 'gen', operator: 'Gt', values: ['4'] }] },
              { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z3'] }] },
            ],
          },
        },
      },
    });
    expect(feasibleSet(nodes, [], or)).toEqual(['c']);
    const byName = makePod('p', {
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['b'] }] }] } } },
    });
    expect(feasibleSet(nodes, [], byName)).toEqual(['b']);
  });

  it('taints and tolerations: NoSchedule and NoExecute need a toleration (Equal or Exists); PreferNoSchedule does not', () => {
    const nodes = [
      makeNode('plain'),
      makeNode('gpu', { taints: [{ key: 'gpu', value: 'true', effect: 'NoSchedule' }] }),
      makeNode('draining', { taints: [{ key: 'drain', effect: 'NoExecute' }] }),
      makeNode('soft', { taints: [{ key: 'meh', value: 'x', effect: 'PreferNoSchedule' }] }),
    ];
    expect(feasibleSet(nodes, [], makePod('p'))).toEqual(['plain', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' }] }))).toEqual(['plain', 'gpu', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ key: 'gpu', value: 'false' }] }))).toEqual(['plain', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ key: 'gpu', operator: 'Exists' }] }))).toEqual(['plain', 'gpu', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ key: 'drain', operator: 'Exists', effect: 'NoExecute' }] }))).toEqual(['plain', 'draining', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ key: 'drain', operator: 'Exists', effect: 'NoSchedule' }] }))).toEqual(['plain', 'soft']);
    expect(feasibleSet(nodes, [], makePod('p', { tolerations: [{ operator: 'Exists' }] }))).toEqual(['plain', 'gpu', 'draining', 'soft']);
  });

  it('unschedulable (cordoned) nodes take no pods unless the pod tolerates the unschedulable taint', () => {
    const nodes = [makeNode('cordoned', { unschedulable: true }), makeNode('ok')];
    expect(feasibleSet(nodes, [], makePod('p'))).toEqual(['ok']);
    const tol = makePod('p', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    expect(feasibleSet(nodes, [], tol)).toEqual(['cordoned', 'ok']);
  });

  it('host ports conflict on the same protocol and port when the IPs overlap', () => {
    const nodes = [makeNode('a'), makeNode('b')];
    const placed: [Pod, string][] = [[makePod('web', { hostPorts: [80, { hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' }] }), 'a']];
    expect(feasibleSet(nodes, placed, makePod('p', { hostPorts: [80] }))).toEqual(['b']);
    expect(feasibleSet(nodes, placed, makePod('p', { hostPorts: [{ hostPort: 80, protocol: 'UDP' }] }))).toEqual(['a', 'b']);
    expect(feasibleSet(nodes, placed, makePod('p', { hostPorts: [{ hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.2' }] }))).toEqual(['a', 'b']);
    expect(feasibleSet(nodes, placed, makePod('p', { hostPorts: [{ hostPort: 53, protocol: 'UDP' }] }))).toEqual(['b']);
    expect(feasibleSet(nodes, placed, makePod('p', { hostPorts: [8080] }))).toEqual(['a', 'b']);
  });

  const zones = () => [
    makeNode('a1', { labels: { zone: 'a' } }),
    makeNode('a2', { labels: { zone: 'a' } }),
    makeNode('b1', { labels: { zone: 'b' } }),
    makeNode('c1', { labels: { zone: 'c' } }),
  ];
  const term = (app: string, topologyKey: string) => ({ labelSelector: { matchLabels: { app } }, topologyKey });

  it('required pod affinity by topology key; the first pod of a self-affine group is allowed anywhere', () => {
    const placed: [Pod, string][] = [[makePod('db', { labels: { app: 'db' } }), 'a2']];
    const web = makePod('web', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', 'zone')] } } });
    expect(feasibleSet(zones(), placed, web)).toEqual(['a1', 'a2']);
    const sameHost = makePod('web', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', 'kubernetes.io/hostname')] } } });
    expect(feasibleSet(zones(), placed, sameHost)).toEqual(['a2']);
    // Another namespace's pods do not count unless the term names it.
    const otherNs = makePod('web', { namespace: 'other', affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', 'zone')] } } });
    expect(feasibleSet(zones(), placed, otherNs)).toEqual([]);
    const named = makePod('web', {
      namespace: 'other',
      affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ ...term('db', 'zone'), namespaces: ['default'] }] } },
    });
    expect(feasibleSet(zones(), placed, named)).toEqual(['a1', 'a2']);
    const first = makePod('cache', { labels: { app: 'cache' }, affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('cache', 'zone')] } } });
    expect(feasibleSet(zones(), placed, first)).toEqual(['a1', 'a2', 'b1', 'c1']);
  });

  it('required anti-affinity, and existing pods anti-affinity against the incoming pod', () => {
    const placed: [Pod, string][] = [[makePod('db', { labels: { app: 'db' } }), 'a2']];
    const anti = makePod('db2', { labels: { app: 'db' }, affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('db', 'zone')] } } });
    expect(feasibleSet(zones(), placed, anti)).toEqual(['b1', 'c1']);
    const guard: [Pod, string][] = [
      [makePod('loner', { labels: { app: 'loner' }, affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term('noisy', 'zone')] } } }), 'b1'],
    ];
    expect(feasibleSet(zones(), guard, makePod('n', { labels: { app: 'noisy' } }))).toEqual(['a1', 'a2', 'c1']);
    expect(feasibleSet(zones(), guard, makePod('q', { labels: { app: 'quiet' } }))).toEqual(['a1', 'a2', 'b1', 'c1']);
  });

  it('topology spread DoNotSchedule keeps the skew within maxSkew', () => {
    const spread = (name: string) =>
      makePod(name, {
        labels: { app: 'web' },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }],
      });
    const placed: [Pod, string][] = [
      [makePod('w1', { labels: { app: 'web' } }), 'a1'],
      [makePod('w2', { labels: { app: 'web' } }), 'b1'],
    ];
    // zone a: 1, b: 1, c: 0 -> only zone c keeps skew <= 1.
    expect(feasibleSet(zones(), placed, spread('w3'))).toEqual(['c1']);
    const { place } = cluster(zones());
    const counts: Record<string, number> = {};
    for (let i = 0; i < 9; i++) {
      const r = place(spread(`w${i}`));
      const zone = nodeOf(r)[0]!;
      counts[zone] = (counts[zone] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 3, b: 3, c: 3 });
    // A node without the topology key is not eligible.
    const withUnlabelled = [...zones(), makeNode('bare')];
    expect(feasibleSet(withUnlabelled, [], spread('w'))).not.toContain('bare');
  });
});

describe('scores', () => {
  it('least allocated spreads, most allocated packs, balanced allocation evens cpu and memory', () => {
    const nodes = [makeNode('busy', { cpu: '4', memory: '8Gi' }), makeNode('idle', { cpu: '4', memory: '8Gi' })];
    const placed: [Pod, string][] = [[makePod('x', { cpu: '2', memory: '4Gi' }), 'busy']];
    const pod = makePod('p', { cpu: '1', memory: '1Gi' });
    expect(nodeOf(cluster(nodes, placed).place(pod))).toBe('idle');
    const packing = cluster(nodes, placed, { profile: defaultProfile({ scoringStrategy: 'MostAllocated' }) });
    expect(nodeOf(packing.place(pod))).toBe('busy');
    // Balanced: node "cpuheavy" has cpu used, memory free; a memory-heavy pod balances it.
    const bal = [makeNode('cpuheavy', { cpu: '4', memory: '8Gi' }), makeNode('memheavy', { cpu: '4', memory: '8Gi' })];
    const balPlaced: [Pod, string][] = [
      [makePod('c', { cpu: '3', memory: '1Gi' }), 'cpuheavy'],
      [makePod('m', { cpu: '1', memory: '6Gi' }), 'memheavy'],
    ];
    const onlyBalanced = cluster(bal, balPlaced, { profile: defaultProfile({ weights: { NodeResourcesLeastAllocated: 0 } }) });
    expect(nodeOf(onlyBalanced.place(makePod('p', { cpu: '100m', memory: '4Gi' })))).toBe('cpuheavy');
  });

  it('preferred node affinity picks the node with the heaviest matching terms', () => {
    const nodes = [makeNode('a', { labels: { disk: 'hdd' } }), makeNode('b', { labels: { disk: 'ssd', fast: 'yes' } }), makeNode('c', { labels: { disk: 'ssd' } })];
    const pod = makePod('p', {
      affinity: {
        nodeAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            { weight: 50, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
            { weight: 10, preference: { matchExpressions: [{ key: 'fast', operator: 'Exists' }] } },
          ],
        },
      },
    });
    expect(nodeOf(cluster(nodes).place(pod))).toBe('b');
  });

  it('preferred pod affinity pulls towards, preferred anti-affinity pushes away', () => {
    const nodes = [makeNode('a1', { labels: { zone: 'a' } }), makeNode('b1', { labels: { zone: 'b' } }), makeNode('c1', { labels: { zone: 'c' } })];
    const placed: [Pod, string][] = [[makePod('db', { labels: { app: 'db' } }), 'b1']];
    const pref = (kind: 'podAffinity' | 'podAntiAffinity') =>
      makePod('p', { affinity: { [kind]: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'zone' } }] } } });
    expect(nodeOf(cluster(nodes, placed).place(pref('podAffinity')))).toBe('b1');
    expect(nodeOf(cluster(nodes, placed).place(pref('podAntiAffinity')))).not.toBe('b1');
  });

  it('topology spread ScheduleAnyway prefers the emptiest domain but never refuses', () => {
    const nodes = [makeNode('a1', { labels: { zone: 'a' } }), makeNode('b1', { labels: { zone: 'b' } })];
    const placed: [Pod, string][] = [
      [makePod('w1', { labels: { app: 'w' } }), 'a1'],
      [makePod('w2', { labels: { app: 'w' } }), 'a1'],
    ];
    const soft = makePod('w3', {
      labels: { app: 'w' },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'w' } } }],
    });
    expect(nodeOf(cluster(nodes, placed).place(soft))).toBe('b1');
    expect(nodeOf(cluster([nodes[0]!], placed).place(soft))).toBe('a1');
  });

  it('image locality prefers nodes that already have the image', () => {
    const img = [{ names: ['docker.io/library/postgres:16'], sizeBytes: 400 * 2 ** 20 }];
    const nodes = [makeNode('a'), makeNode('b', { images: img }), makeNode('c')];
    expect(nodeOf(cluster(nodes).place(makePod('p', { image: 'postgres:16' })))).toBe('b');
  });

  it('PreferNoSchedule taints lower the score', () => {
    const nodes = [makeNode('soft', { taints: [{ key: 'meh', effect: 'PreferNoSchedule' }] }), makeNode('clean')];
    expect(nodeOf(cluster(nodes).place(makePod('p')))).toBe('clean');
  });
});

describe('unschedulable pods', () => {
  it('aggregates the reasons per filter like Kubernetes', () => {
    const nodes = [
      makeNode('m1', { memory: '1Gi' }),
      makeNode('m2', { memory: '1Gi' }),
      makeNode('m3', { memory: '1Gi' }),
      makeNode('t1', { taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }),
      makeNode('t2', { taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] }),
    ];
    const r = cluster(nodes).place(makePod('p', { memory: '2Gi' }));
    expect(r.status).toBe('Unschedulable');
    if (r.status !== 'Unschedulable') return;
    expect(r.message).toBe('0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint {k: v}.');
    expect(r.preemption).toBeNull();
    expect(cluster([]).place(makePod('p')).status).toBe('Unschedulable');
  });

  it('one node can fail several resources at once; each is counted', () => {
    const r = cluster([makeNode('a', { cpu: '1', memory: '1Gi' })]).place(makePod('p', { cpu: '2', memory: '2Gi' }));
    expect(r.status === 'Unschedulable' && r.message).toBe('0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.');
  });
});

describe('preemption', () => {
  const lowPods = (): [Pod, string][] => [
    [makePod('low1', { cpu: '1', priority: 10 }), 'a'],
    [makePod('low2', { cpu: '1', priority: 10 }), 'a'],
    [makePod('mid1', { cpu: '1', priority: 50 }), 'b'],
    [makePod('mid2', { cpu: '1', priority: 50 }), 'b'],
  ];
  const nodes = () => [makeNode('a', { cpu: '2' }), makeNode('b', { cpu: '2' })];

  it('evicts the fewest, lowest-priority pods on the best node', () => {
    const r = cluster(nodes(), lowPods()).place(makePod('vip', { cpu: '1', priority: 100 }));
    expect(r.status).toBe('Unschedulable');
    if (r.status !== 'Unschedulable') return;
    expect(r.message).toBe('0/2 nodes are available: 2 Insufficient cpu.');
    expect(r.preemption?.node).toBe('a');
    expect(r.preemption?.victims.map((v) => v.name)).toHaveLength(1);
    const big = cluster(nodes(), lowPods()).place(makePod('vip', { cpu: '2', priority: 100 }));
    expect(big.status === 'Unschedulable' && big.preemption?.victims.map((v) => v.name).sort()).toEqual(['low1', 'low2']);
  });

  it('restores the snapshot after trying victims', () => {
    const { snap, place } = cluster(nodes(), lowPods());
    place(makePod('vip', { cpu: '2', priority: 100 }));
    expect(snap.node('a')!.requested.milliCpu).toBe(2000);
    expect([...snap.node('a')!.pods.keys()].sort()).toEqual(['default/low1', 'default/low2']);
  });

  it('does not preempt equal or higher priority pods, nodes it cannot fix, or with preemptionPolicy Never', () => {
    const r = cluster(nodes(), lowPods()).place(makePod('p', { cpu: '1', priority: 10 }));
    expect(r.status === 'Unschedulable' && r.preemption).toBeNull();
    const never = cluster(nodes(), lowPods()).place(makePod('p', { cpu: '1', priority: 100, preemptionPolicy: 'Never' }));
    expect(never.status === 'Unschedulable' && never.preemption).toBeNull();
    const tainted = [makeNode('a', { cpu: '2', taints: [{ key: 'x', effect: 'NoSchedule' }] }), makeNode('b', { cpu: '2' })];
    const t = cluster(tainted, lowPods()).place(makePod('vip', { cpu: '1', priority: 100 }));
    expect(t.status === 'Unschedulable' && t.preemption?.node).toBe('b');
  });

  it('resolves priorityClassName, and rejects an unknown class', () => {
    const table = new PriorityClassTable([{ metadata: { name: 'high' }, value: 1000 }]);
    expect(podInfoFromPod(makePod('p', { priorityClassName: 'high' }), { priorityClasses: table }).priority).toBe(1000);
    expect(podInfoFromPod(makePod('p', { priorityClassName: 'system-node-critical' })).priority).toBe(2_000_001_000);
    expect(() => podInfoFromPod(makePod('p', { priorityClassName: 'nope' }), { priorityClasses: table })).toThrow(/no PriorityClass with name nope/);
  });
});

describe('bad input', () => {
  it('names the field of an invalid operator, value or quantity', () => {
    const cases: [PodShape, RegExp][] = [
      [{ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'g', operator: 'Gt', values: ['x'] }] }] } } } }, /Gt needs exactly one integer/],
      [{ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'g', operator: 'Near' as any }] }] } } } }, /unknown operator/],
      [{ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'g', operator: 'In', values: [] }] }] } } } }, /In needs at least one value/],
      [{ cpu: 'lots' }, /spec\.containers\[0\]\.resources\.requests\.cpu: invalid quantity/],
      [{ topologySpreadConstraints: [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }] }, /maxSkew/],
      [{ affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: {}, topologyKey: '' }] } } }, /topologyKey: required/],
      [{ hostPorts: [70000] }, /hostPort: must be from 1 to 65535/],
    ];
    for (const [shape, re] of cases) {
      let err: unknown;
      try {
        podInfoFromPod(makePod('p', shape));
      } catch (e) {
        err = e;
      }
      expect(isWharfError(err, 'InvalidArgument'), String(re)).toBe(true);
      expect((err as Error).message).toMatch(re);
    }
  });
});

describe('sampling and round robin', () => {
  it('finds an adaptive share of feasible nodes like Kubernetes (at least 100)', () => {
    expect(numFeasibleNodesToFind(50)).toBe(50);
    expect(numFeasibleNodesToFind(100)).toBe(100);
    expect(numFeasibleNodesToFind(1000)).toBe(420);
    expect(numFeasibleNodesToFind(5000)).toBe(500);
    expect(numFeasibleNodesToFind(10_000)).toBe(500);
    expect(numFeasibleNodesToFind(150)).toBe(100);
    expect(numFeasibleNodesToFind(5000, 100)).toBe(5000);
    expect(numFeasibleNodesToFind(5000, 20)).toBe(1000);
  });

  it('examines only the sample on large clusters and rotates the start', () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => makeNode(`n${i}`));
    const { place } = cluster(nodes);
    const r1 = place(makePod('p1'));
    const r2 = place(makePod('p2'));
    expect(r1.status === 'Scheduled' && r1.evaluatedNodes).toBe(420);
    expect(r2.status === 'Scheduled' && r2.evaluatedNodes).toBe(420);
    // The second pod sees nodes 420..839, so it lands elsewhere than the first.
    const idx = (r: ScheduleResult) => Number(nodeOf(r).slice(1));
    expect(idx(r1)).toBeLessThan(420);
    expect(idx(r2)).toBeGreaterThanOrEqual(420);
    expect(idx(r2)).toBeLessThan(840);
  });
});

describe('equivalence cache', () => {
  it('reuses an unschedulable answer only while the snapshot is unchanged', () => {
    const { snap, core, place } = cluster([makeNode('a', { cpu: '1' })]);
    const pod = (n: string) => podInfoFromPod(makePod(n, { cpu: '2' }));
    const r1 = core.schedule(pod('p1'));
    const r2 = core.schedule(pod('p2'));
    expect(r1.status === 'Unschedulable' && r1.cached).toBe(false);
    expect(r2.status === 'Unschedulable' && r2.cached).toBe(true);
    snap.upsertNode(nodeInfoFromNode(makeNode('b', { cpu: '4' })));
    expect(nodeOf(core.schedule(pod('p3')))).toBe('b');
    // A pod placement also changes the snapshot: the cached "no" is not reused.
    place(makePod('filler', { cpu: '3' }));
    const r4 = core.schedule(pod('p4'));
    expect(r4.status === 'Unschedulable' && r4.cached).toBe(false);
    snap.removePod('default/filler');
    expect(nodeOf(core.schedule(pod('p5')))).toBe('b');
  });

  it('reuses per-node answers for identical pods and re-checks a node after it changes', () => {
    const nodes = [makeNode('a', { cpu: '2' }), makeNode('b', { cpu: '2' }), makeNode('c', { cpu: '2', taints: [{ key: 'x', effect: 'NoSchedule' }] })];
    const { core, place } = cluster(nodes);
    const placedOn: string[] = [];
    for (let i = 0; i < 5; i++) placedOn.push(nodeOf(place(makePod(`p${i}`, { cpu: '1' }))));
    expect(placedOn.slice(0, 4).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(placedOn[4]).toMatch(/^unschedulable: 0\/3 nodes are available: 2 Insufficient cpu, 1 node\(s\) had untolerated taint \{x: \}\.$/);
    expect(core.stats.eqNodeHits).toBeGreaterThan(0);
  });

  it('gives the same placements with and without the cache (property)', () => {
    fc.assert(
      fc.property(arbCluster(), ({ nodes, pods }) => {
        const withCache = cluster(nodes, [], { equivalenceCache: true });
        const without = cluster(nodes, [], { equivalenceCache: false });
        for (const p of pods) expect(nodeOf(withCache.place(p))).toBe(nodeOf(without.place(p)));
      }),
      { numRuns: 60 },
    );
  });
});

function arbCluster() {
  const zone = fc.constantFrom('a', 'b', 'c');
  const arbNode = fc.record({
    cpu: fc.integer({ min: 1, max: 8 }),
    memGi: fc.integer({ min: 1, max: 16 }),
    pods: fc.integer({ min: 1, max: 6 }),
    zone,
    tainted: fc.boolean(),
  });
  const arbPod = fc.record({
    cpuM: fc.integer({ min: 0, max: 4000 }),
    memMi: fc.integer({ min: 0, max: 8192 }),
    app: fc.constantFrom('x', 'y', 'z'),
    zoneSel: fc.option(zone, { nil: undefined }),
    tolerate: fc.boolean(),
    anti: fc.boolean(),
    spread: fc.boolean(),
    port: fc.option(fc.constantFrom(80, 443), { nil: undefined }),
  });
  return fc.record({ nodes: fc.array(arbNode, { minLength: 1, maxLength: 8 }), pods: fc.array(arbPod, { minLength: 1, maxLength: 25 }) }).map(({ nodes, pods }) => ({
    nodes: nodes.map((n, i) =>
      makeNode(`n${i}`, { cpu: String(n.cpu), memory: `${n.memGi}Gi`, pods: n.pods, labels: { zone: n.zone }, ...(n.tainted ? { taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' as const }] } : {}) }),
    ),
    pods: pods.map((p, i) =>
      makePod(`p${i}`, {
        cpu: `${p.cpuM}m`,
        memory: `${p.memMi}Mi`,
        labels: { app: p.app },
        ...(p.zoneSel ? { nodeSelector: { zone: p.zoneSel } } : {}),
        ...(p.tolerate ? { tolerations: [{ key: 'dedicated', operator: 'Exists' as const }] } : {}),
        ...(p.anti ? { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: p.app } }, topologyKey: 'kubernetes.io/hostname' }] } } } : {}),
        ...(p.spread ? { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' as const, labelSelector: { matchLabels: { app: p.app } } }] } : {}),
        ...(p.port ? { hostPorts: [p.port] } : {}),
      }),
    ),
  }));
}

describe('properties', () => {
  it('a placed pod always fits, and an unschedulable pod fits nowhere', () => {
    fc.assert(
      fc.property(arbCluster(), ({ nodes, pods }) => {
        const { snap, core } = cluster(nodes);
        for (const p of pods) {
          const info = podInfoFromPod(p);
          // Brute force: every filter on every node, no sampling, no cache.
          const fits = snap.nodes.filter((n) => core.filterOne(info, n).code === 'Success').map((n) => n.name);
          const r = core.schedule(info);
          if (r.status === 'Scheduled') {
            expect(fits).toContain(r.node);
            snap.addPod(info, r.node);
          } else expect(fits).toEqual([]);
        }
        for (const n of snap.nodes) {
          expect(n.requested.milliCpu).toBeLessThanOrEqual(n.allocatable.milliCpu);
          expect(n.requested.memory).toBeLessThanOrEqual(n.allocatable.memory);
          expect(n.requested.pods).toBeLessThanOrEqual(n.allocatable.pods);
          for (const p of n.pods.values()) {
            if (n.taints.length > 0) expect(p.tolerations.length).toBeGreaterThan(0);
            for (const [k, v] of p.nodeSelector) expect(n.labels.get(k)).toBe(v);
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
