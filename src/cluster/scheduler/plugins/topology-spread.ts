import { MAX_NODE_SCORE, SKIP, SUCCESS, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { ClusterSnapshot, NodeInfo, PodInfo, SpreadConstraint } from '../snapshot.js';

const SKEW = unschedulable('PodTopologySpread', ["node(s) didn't match pod topology spread constraints"]);
const MISSING = unschedulable('PodTopologySpread', ["node(s) didn't match pod topology spread constraints (missing required label)"], true);

interface Counted {
  key: string;
  maxSkew: number;
  selfMatch: number;
  counts: Map<string, number>;
  minMatch: number;
}

/**
 * Nodes that count for a pod's spread: they carry every constraint key and pass the pod's
 * nodeSelector / required node affinity (nodeAffinityPolicy Honor). Cached per node set.
 */
class EligibleNodes {
  private cache = new Map<string, { gen: number; eligible: Uint8Array; domains: Map<string, Set<string>> }>();
  get(pod: PodInfo, keys: readonly string[], snap: ClusterSnapshot) {
    const ck = `${keys.join('\u0000')}\u0001${pod.nodeAffinityKey}`;
    const hit = this.cache.get(ck);
    if (hit && hit.gen === snap.nodeSetGeneration) return hit;
    const nodes = snap.nodes;
    const eligible = new Uint8Array(nodes.length);
    const domains = new Map<string, Set<string>>(keys.map((k) => [k, new Set<string>()]));
    for (const n of nodes) {
      if (!keys.every((k) => n.labels.has(k))) continue;
      if (!pod.nodeSelector.every(([k, v]) => n.labels.get(k) === v)) continue;
      if (pod.requiredNodeAffinity && !pod.requiredNodeAffinity(n)) continue;
      eligible[n.index] = 1;
      for (const k of keys) domains.get(k)!.add(n.labels.get(k)!);
    }
    if (this.cache.size > 1000) this.cache.clear();
    const entry = { gen: snap.nodeSetGeneration, eligible, domains };
    this.cache.set(ck, entry);
    return entry;
  }
}

function count(pod: PodInfo, cs: readonly SpreadConstraint[], snap: ClusterSnapshot, elig: EligibleNodes): Counted[] {
  const { eligible, domains } = elig.get(pod, cs.map((c) => c.topologyKey), snap);
  return cs.map((c) => {
    const counts = new Map<string, number>();
    for (const v of domains.get(c.topologyKey)!) counts.set(v, 0);
    for (const p of snap.candidates(c.selector)) {
      if (p.key === pod.key || p.nodeName === null || p.namespace !== pod.namespace || !c.selector.matches(p.labels)) continue;
      const n = snap.node(p.nodeName);
      if (!n || eligible[n.index] !== 1) continue;
      const v = n.labels.get(c.topologyKey)!;
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    let minMatch = Infinity;
    for (const x of counts.values()) if (x < minMatch) minMatch = x;
    if (!Number.isFinite(minMatch) || counts.size < c.minDomains) minMatch = 0;
    return {
      key: c.topologyKey,
      maxSkew: c.maxSkew,
      selfMatch: pod.namespace !== undefined && c.selector.matches(pod.labels) ? 1 : 0,
      counts,
      minMatch,
    };
  });
}

/** DoNotSchedule constraints: placing here must keep (count in domain + 1) - global minimum <= maxSkew. */
export function podTopologySpread(): FilterPlugin<Counted[]> {
  const elig = new EligibleNodes();
  return {
    name: 'PodTopologySpread',
    nodeLocal: false,
    preFilter(pod, snap) {
      const hard = pod.spread.filter((c) => c.hard);
      return hard.length === 0 ? SKIP : count(pod, hard, snap, elig);
    },
    filter(state, _pod, node) {
      for (const c of state) {
        const v = node.labels.get(c.key);
        if (v === undefined) return MISSING;
        if ((c.counts.get(v) ?? 0) + c.selfMatch - c.minMatch > c.maxSkew) return SKEW;
      }
      return SUCCESS;
    },
  };
}

/** ScheduleAnyway constraints: fewer matching pods in the node's domains scores higher. */
export function podTopologySpreadScore(): ScorePlugin<Counted[]> {
  const elig = new EligibleNodes();
  return {
    name: 'PodTopologySpread',
    preScore(pod, snap) {
      const soft = pod.spread.filter((c) => !c.hard);
      return soft.length === 0 ? SKIP : count(pod, soft, snap, elig);
    },
    score(state, _pod, nodes: readonly NodeInfo[], out) {
      for (let i = 0; i < nodes.length; i++) {
        const labels = nodes[i]!.labels;
        let s = 0;
        for (const c of state) {
          const v = labels.get(c.key);
          if (v === undefined) {
            s = Infinity; // nodes without the key score lowest
            break;
          }
          s += c.counts.get(v) ?? 0;
        }
        out[i] = s;
      }
    },
    normalize(_s, scores, n) {
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < n; i++) {
        const x = scores[i]!;
        if (!Number.isFinite(x)) continue;
        if (x < min) min = x;
        if (x > max) max = x;
      }
      for (let i = 0; i < n; i++) {
        const x = scores[i]!;
        if (!Number.isFinite(x)) scores[i] = 0;
        else scores[i] = max === min ? MAX_NODE_SCORE : ((max - x) * MAX_NODE_SCORE) / (max - min);
      }
    },
  };
}
