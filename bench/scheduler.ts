// Scheduler core benchmark: 5,000 nodes, 50,000 pods of mixed shapes and constraints, placed
// one by one against the snapshot (each placement assumed before the next pod).
// Run: npx tsx bench/scheduler.ts [--nodes N] [--pods N] [--no-eq]
import type { Node, Pod } from '../src/cluster/scheduler/k8s-types.js';
import { SchedulerCore } from '../src/cluster/scheduler/scheduler-core.js';
import { ClusterSnapshot, nodeInfoFromNode, podInfoFromPod } from '../src/cluster/scheduler/snapshot.js';
import { makeNode, makePod } from '../src/cluster/scheduler/testing.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const NODES = arg('nodes', 5000);
const PODS = arg('pods', 50_000);
const EQ = !process.argv.includes('--no-eq');

// Deterministic PRNG (mulberry32) so runs compare.
let seed = 42;
const rnd = () => {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const ZONES = Array.from({ length: 10 }, (_, i) => `zone-${i}`);
const TYPES = [
  { type: 'small', cpu: '4', memory: '16Gi' },
  { type: 'medium', cpu: '8', memory: '32Gi' },
  { type: 'large', cpu: '16', memory: '64Gi' },
];
const IMAGES = ['nginx:1.27', 'redis:7', 'postgres:16', 'busybox:1.36', 'python:3.12'];

function nodes(): Node[] {
  return Array.from({ length: NODES }, (_, i) => {
    const t = pick(TYPES);
    const r = rnd();
    return makeNode(`node-${i}`, {
      cpu: t.cpu,
      memory: t.memory,
      pods: 110,
      labels: { 'topology.kubernetes.io/zone': ZONES[i % ZONES.length]!, 'node.kubernetes.io/instance-type': t.type, rack: `r${i % 200}` },
      ...(r < 0.05 ? { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' as const }] } : {}),
      ...(r > 0.98 ? { unschedulable: true } : {}),
      images: IMAGES.filter(() => rnd() < 0.3).map((n) => ({ names: [`docker.io/library/${n}`], sizeBytes: 200 * 2 ** 20 })),
    });
  });
}

function pods(): Pod[] {
  const shapes = [
    { cpu: '100m', memory: '128Mi' },
    { cpu: '250m', memory: '256Mi' },
    { cpu: '500m', memory: '512Mi' },
    { cpu: '1', memory: '2Gi' },
  ];
  return Array.from({ length: PODS }, (_, i) => {
    const app = `app-${i % 500}`;
    const base = { ...pick(shapes), labels: { app }, image: pick(IMAGES) };
    const r = rnd();
    const zone = 'topology.kubernetes.io/zone';
    if (r < 0.6) return makePod(`p-${i}`, base);
    if (r < 0.7) return makePod(`p-${i}`, { ...base, nodeSelector: { 'node.kubernetes.io/instance-type': pick(TYPES).type } });
    if (r < 0.8) {
      return makePod(`p-${i}`, {
        ...base,
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: zone, operator: 'In', values: [pick(ZONES), pick(ZONES)] }] }] } } },
      });
    }
    if (r < 0.85) return makePod(`p-${i}`, { ...base, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] });
    if (r < 0.9) {
      return makePod(`p-${i}`, {
        ...base,
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: zone, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app } } }],
      });
    }
    if (r < 0.95) {
      return makePod(`p-${i}`, {
        ...base,
        affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app } }, topologyKey: 'kubernetes.io/hostname' }] } },
      });
    }
    if (r < 0.98) {
      return makePod(`p-${i}`, {
        ...base,
        affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app } }, topologyKey: zone } }] } },
      });
    }
    return makePod(`p-${i}`, { ...base, hostPorts: [8000 + (i % 50)] });
  });
}

const snap = new ClusterSnapshot();
for (const n of nodes()) snap.upsertNode(nodeInfoFromNode(n));
const raw = pods();
const t0 = performance.now();
const infos = raw.map((p) => podInfoFromPod(p));
const convertMs = performance.now() - t0;

const core = new SchedulerCore(snap, { equivalenceCache: EQ });
const lat = new Float64Array(infos.length);
let placed = 0;
let unschedulable = 0;
const cpu0 = process.cpuUsage();
const start = performance.now();
for (let i = 0; i < infos.length; i++) {
  const p = infos[i]!;
  const a = performance.now();
  const r = core.schedule(p);
  if (r.status === 'Scheduled') {
    snap.addPod(p, r.node);
    placed++;
  } else unschedulable++;
  lat[i] = performance.now() - a;
}
const total = performance.now() - start;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const kinds = new Map<string, number[]>();
infos.forEach((p, i) => {
  const k = p.spread.length ? 'spread' : p.antiAffinity.length ? 'anti' : p.preferredAffinity.length ? 'prefAff' : p.ports.length ? 'ports' : p.requiredNodeAffinity ? 'nodeAff' : p.nodeSelector.length ? 'selector' : p.tolerations.length ? 'toleration' : 'plain';
  const l = kinds.get(k) ?? [];
  l.push(lat[i]!);
  kinds.set(k, l);
});
const perKind = Object.fromEntries(
  [...kinds].map(([k, l]) => {
    l.sort((a, b) => a - b);
    return [k, { n: l.length, p50us: Math.round(l[Math.floor(l.length / 2)]! * 1000), p99us: Math.round(l[Math.floor(l.length * 0.99)]! * 1000) }];
  }),
);
lat.sort();
const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
const rate = infos.length / (total / 1000);
const out = {
  nodes: NODES,
  pods: PODS,
  equivalenceCache: EQ,
  placed,
  unschedulable,
  seconds: +(total / 1000).toFixed(2),
  podsPerSecond: Math.round(rate),
  cpuSeconds: +cpuSeconds.toFixed(2),
  podsPerCpuSecond: Math.round(infos.length / cpuSeconds),
  p50us: Math.round(q(0.5) * 1000),
  p99us: Math.round(q(0.99) * 1000),
  maxMs: +lat[lat.length - 1]!.toFixed(1),
  convertPodsPerSecond: Math.round(infos.length / (convertMs / 1000)),
  eqNodeHitRate: +(core.stats.eqNodeHits / Math.max(1, core.stats.eqNodeHits + core.stats.eqNodeMisses)).toFixed(2),
};
console.log(JSON.stringify(out));
if (process.argv.includes('--kinds')) console.log(JSON.stringify(perKind));
