// The pure scheduling core: filter (cheap checks first, on a rotating sample of nodes),
// score, pick; aggregated reasons when nothing fits; preemption candidates. It reads the
// ClusterSnapshot and never writes it except to try preemption victims (restored after).
import { SKIP, SUCCESS, type FilterPlugin, type Status } from './framework.js';
import { findPreemption, type Preemption } from './preemption.js';
import { defaultProfile, type Profile } from './profile.js';
import type { ClusterSnapshot, NodeInfo, PodInfo } from './snapshot.js';

export interface Scheduled {
  readonly status: 'Scheduled';
  readonly node: string;
  readonly score: number;
  /** Nodes examined (filtering stops after enough feasible ones on large clusters). */
  readonly evaluatedNodes: number;
  readonly feasibleNodes: number;
}

export interface Unschedulable {
  readonly status: 'Unschedulable';
  /** "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint {k: v}." */
  readonly message: string;
  /** Reason -> number of nodes. */
  readonly reasons: ReadonlyMap<string, number>;
  /** When evicting lower-priority pods would make room: where, and whom. */
  readonly preemption: Preemption | null;
  /** True when the answer was reused from the equivalence cache (same class, unchanged snapshot). */
  readonly cached: boolean;
}

export type ScheduleResult = Scheduled | Unschedulable;

export interface SchedulerCoreOptions {
  profile?: Profile;
  /** 0 (default) = adaptive like Kubernetes: 50% - nodes/125, at least 5%; 100 = all nodes. */
  percentageOfNodesToScore?: number;
  /** Below this many feasible nodes to find, every node is examined (Kubernetes: 100). */
  minFeasibleNodesToFind?: number;
  equivalenceCache?: boolean;
}

/** How many feasible nodes to find before scoring (Kubernetes' numFeasibleNodesToFind). */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0, minFeasible = 100): number {
  if (numAllNodes < minFeasible || percentage >= 100) return numAllNodes;
  let pct = percentage;
  if (pct <= 0) {
    pct = 50 - numAllNodes / 125;
    if (pct < 5) pct = 5;
  }
  const n = Math.floor((numAllNodes * pct) / 100);
  return n < minFeasible ? minFeasible : n;
}

/** Borg-style equivalence class: node-local filter answers per node, stamped with the node's generation. */
interface EqClass {
  stamps: Float64Array;
  codes: Int32Array; // 0 = fits, k > 0 = statuses[k - 1]
  statuses: Status[];
}

/** Aggregates per-node failure reasons like Kubernetes' FitError. */
export function fitErrorMessage(numNodes: number, reasons: ReadonlyMap<string, number>): string {
  const parts = [...reasons].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([r, n]) => `${n} ${r}`);
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}

interface Active {
  plugin: FilterPlugin<unknown>;
  state: unknown;
}

export class SchedulerCore {
  readonly profile: Profile;
  private readonly percentage: number;
  private readonly minFeasible: number;
  private readonly useEq: boolean;
  private nextStart = 0;
  private eq = new Map<string, EqClass>();
  private unsched = new Map<string, { at: number; result: Unschedulable }>();
  private eqNodeSetGen = -1;
  private scoreBuf = new Float64Array(256);
  private totalBuf = new Float64Array(256);
  /** Counters for tests and benchmarks. */
  readonly stats = { cycles: 0, eqNodeHits: 0, eqNodeMisses: 0, eqClassHits: 0 };

  constructor(
    readonly snapshot: ClusterSnapshot,
    opts: SchedulerCoreOptions = {},
  ) {
    this.profile = opts.profile ?? defaultProfile();
    this.percentage = opts.percentageOfNodesToScore ?? 0;
    this.minFeasible = opts.minFeasibleNodesToFind ?? 100;
    this.useEq = opts.equivalenceCache ?? true;
  }

  /** Runs every filter for `pod` on one node, with fresh per-pod state (used by preemption). */
  filterOne(pod: PodInfo, node: NodeInfo): Status {
    for (const plugin of this.profile.filters) {
      const state = plugin.preFilter(pod, this.snapshot);
      if (state === SKIP) continue;
      const s = plugin.filter(state, pod, node);
      if (s !== SUCCESS && s.code !== 'Success') return s;
    }
    return SUCCESS;
  }

  schedule(pod: PodInfo): ScheduleResult {
    this.stats.cycles++;
    const snap = this.snapshot;
    const nodes = snap.nodes;
    const n = nodes.length;
    if (n === 0) {
      return { status: 'Unschedulable', message: '0/0 nodes are available: no nodes available to schedule pods.', reasons: new Map(), preemption: null, cached: false };
    }

    // Equivalence caches: whole answers by eqKey (valid while the snapshot generation is the
    // same), node-local filter answers by localKey and node generation.
    let cls: EqClass | null = null;
    if (this.useEq) {
      if (this.eqNodeSetGen !== snap.nodeSetGeneration || this.eq.size > 2000) {
        this.eq.clear();
        this.unsched.clear();
        this.eqNodeSetGen = snap.nodeSetGeneration;
      }
      const u = this.unsched.get(pod.eqKey);
      if (u && u.at === snap.generation) {
        this.stats.eqClassHits++;
        return { ...u.result, cached: true };
      }
      cls = this.eq.get(pod.localKey) ?? null;
      if (!cls) {
        cls = { stamps: new Float64Array(n).fill(-1), codes: new Int32Array(n), statuses: [] };
        this.eq.set(pod.localKey, cls);
      }
    }

    const local: Active[] = [];
    const global: Active[] = [];
    for (const plugin of this.profile.filters) {
      const state = plugin.preFilter(pod, snap);
      if (state === SKIP) continue;
      (plugin.nodeLocal ? local : global).push({ plugin, state });
    }

    const toFind = numFeasibleNodesToFind(n, this.percentage, this.minFeasible);
    const feasible: NodeInfo[] = [];
    // Visit only the nodes the pod's node selection allows (label index), in rotating order.
    const candidates = snap.candidateNodes(pod) ?? nodes;
    const m = candidates.length;
    let start = 0;
    if (candidates === nodes) start = this.nextStart % n;
    else {
      let lo = 0;
      let hi = m;
      const want = this.nextStart;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (candidates[mid]!.index < want) lo = mid + 1;
        else hi = mid;
      }
      start = lo >= m ? 0 : lo;
    }
    let processed = 0;
    let lastIndex = -1;
    for (; processed < m && feasible.length < toFind; processed++) {
      let i = start + processed;
      if (i >= m) i -= m;
      const node = candidates[i]!;
      lastIndex = node.index;
      if (this.check(pod, node, cls, local, global) === SUCCESS) feasible.push(node);
    }
    if (lastIndex >= 0) this.nextStart = (lastIndex + 1) % n;

    const failed: Status[] = [];
    const failedNodes: NodeInfo[] = [];
    if (feasible.length === 0) {
      // Nothing fits (so every candidate was examined): examine every node for the reasons and preemption.
      for (const node of nodes) {
        const status = this.check(pod, node, cls, local, global);
        failed.push(status);
        failedNodes.push(node);
      }
    }

    if (feasible.length === 0) {
      const reasons = new Map<string, number>();
      for (const s of failed) for (const r of s.reasons) reasons.set(r, (reasons.get(r) ?? 0) + 1);
      const generation = snap.generation;
      const preemption = findPreemption(this, pod, failedNodes, failed);
      const result: Unschedulable = { status: 'Unschedulable', message: fitErrorMessage(n, reasons), reasons, preemption, cached: false };
      // Preemption trials remove and re-add pods (bumping generations); the cluster itself is unchanged.
      if (this.useEq && snap.generation === generation) this.unsched.set(pod.eqKey, { at: generation, result });
      return result;
    }
    if (feasible.length === 1) {
      return { status: 'Scheduled', node: feasible[0]!.name, score: 0, evaluatedNodes: processed, feasibleNodes: 1 };
    }
    return this.pick(pod, feasible, processed);
  }

  private check(pod: PodInfo, node: NodeInfo, cls: EqClass | null, local: Active[], global: Active[]): Status {
    let status: Status = SUCCESS;
    const i = node.index;
    if (cls !== null && cls.stamps[i] === node.generation) {
      this.stats.eqNodeHits++;
      const c = cls.codes[i]!;
      if (c !== 0) return cls.statuses[c - 1]!;
    } else {
      for (let k = 0; k < local.length; k++) {
        const a = local[k]!;
        const s = a.plugin.filter(a.state, pod, node);
        if (s !== SUCCESS) {
          status = s;
          break;
        }
      }
      if (cls !== null) {
        this.stats.eqNodeMisses++;
        cls.stamps[i] = node.generation;
        if (status === SUCCESS) cls.codes[i] = 0;
        else {
          let idx = cls.statuses.indexOf(status);
          if (idx < 0) idx = cls.statuses.push(status) - 1;
          cls.codes[i] = idx + 1;
        }
      }
      if (status !== SUCCESS) return status;
    }
    for (let k = 0; k < global.length; k++) {
      const a = global[k]!;
      const s = a.plugin.filter(a.state, pod, node);
      if (s !== SUCCESS) return s;
    }
    return SUCCESS;
  }

  private pick(pod: PodInfo, feasible: NodeInfo[], processed: number): Scheduled {
    const m = feasible.length;
    if (this.totalBuf.length < m) {
      this.totalBuf = new Float64Array(m * 2);
      this.scoreBuf = new Float64Array(m * 2);
    }
    const total = this.totalBuf;
    const buf = this.scoreBuf;
    total.fill(0, 0, m);
    for (const { plugin, weight } of this.profile.scores) {
      const state = plugin.preScore(pod, this.snapshot, feasible);
      if (state === SKIP) continue;
      plugin.score(state, pod, feasible, buf);
      plugin.normalize?.(state, buf, m);
      for (let i = 0; i < m; i++) total[i]! += weight * buf[i]!;
    }
    let best = 0;
    for (let i = 1; i < m; i++) if (total[i]! > total[best]!) best = i;
    return { status: 'Scheduled', node: feasible[best]!.name, score: total[best]!, evaluatedNodes: processed, feasibleNodes: m };
  }
}
