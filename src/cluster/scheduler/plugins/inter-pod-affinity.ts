import { SKIP, SUCCESS, normalizeMinMax, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { AffinityTerm, ClusterSnapshot, NodeInfo, PodInfo } from '../snapshot.js';

const AFFINITY = unschedulable('InterPodAffinity', ["node(s) didn't match pod affinity rules"], true);
const ANTI = unschedulable('InterPodAffinity', ["node(s) didn't match pod anti-affinity rules"]);
const EXISTING_ANTI = unschedulable('InterPodAffinity', ["node(s) didn't satisfy existing pods anti-affinity rules"]);

const termMatches = (t: AffinityTerm, p: PodInfo) => t.namespaces.has(p.namespace) && t.selector.matches(p.labels);

/** Topology values (of t.topologyKey) of the nodes holding pods that match t, with counts. */
function domainsOf(t: AffinityTerm, snap: ClusterSnapshot, exclude?: PodInfo): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of snap.candidates(t.selector)) {
    if (p === exclude || p.nodeName === null || !termMatches(t, p)) continue;
    const v = snap.node(p.nodeName)?.labels.get(t.topologyKey);
    if (v !== undefined) out.set(v, (out.get(v) ?? 0) + 1);
  }
  return out;
}

interface FilterState {
  affinity: { key: string; values: Map<string, number> }[];
  /** No pod anywhere matches the affinity terms, and the pod matches them itself: the first of its group. */
  affinityWaived: boolean;
  /** By node index: 1 = blocked by an existing pod's anti-affinity, 2 = by the pod's own anti-affinity. */
  blocked: Uint8Array | null;
}

const BLOCK_EXISTING = 1;
const BLOCK_OWN = 2;

/** Required pod affinity and anti-affinity by topology key, including existing pods' anti-affinity. */
export const interPodAffinity: FilterPlugin<FilterState> = {
  name: 'InterPodAffinity',
  nodeLocal: false,
  preFilter(pod, snap) {
    let blocked: Uint8Array | null = null;
    const block = (key: string, value: string, code: number) => {
      blocked ??= new Uint8Array(snap.nodes.length);
      for (const n of snap.nodesWithLabel(`${key}=${value}`)) if (blocked[n.index] === 0) blocked[n.index] = code;
    };
    for (const { pod: e, term: t } of snap.antiAffinityTerms.matching(pod)) {
      if (e.nodeName === null) continue;
      const v = snap.node(e.nodeName)?.labels.get(t.topologyKey);
      if (v !== undefined) block(t.topologyKey, v, BLOCK_EXISTING);
    }
    for (const t of pod.antiAffinity) for (const v of domainsOf(t, snap, pod).keys()) block(t.topologyKey, v, BLOCK_OWN);
    if (pod.affinity.length === 0 && blocked === null) return SKIP;
    const affinity = pod.affinity.map((t) => ({ key: t.topologyKey, values: domainsOf(t, snap, pod) }));
    const affinityWaived = affinity.length > 0 && affinity.every((a) => a.values.size === 0) && pod.affinity.every((t) => termMatches(t, pod));
    return { affinity, affinityWaived, blocked };
  },
  filter(s, _pod, node) {
    if (s.blocked !== null) {
      const b = s.blocked[node.index];
      if (b === BLOCK_EXISTING) return EXISTING_ANTI;
      if (b === BLOCK_OWN) return ANTI;
    }
    for (let i = 0; i < s.affinity.length; i++) {
      const a = s.affinity[i]!;
      const v = node.labels.get(a.key);
      if (v === undefined) return AFFINITY;
      if (!s.affinityWaived && !a.values.has(v)) return AFFINITY;
    }
    return SUCCESS;
  },
};

/**
 * Preferred pod affinity (+weight per matching pod in the node's domain) and anti-affinity
 * (-weight), plus existing pods' preferred terms that match this pod (symmetry); min-max scaled.
 */
export const interPodAffinityScore: ScorePlugin<{ key: string; values: Map<string, number> }[]> = {
  name: 'InterPodAffinity',
  preScore(pod, snap) {
    const byKey = new Map<string, Map<string, number>>();
    const addTo = (key: string, v: string, w: number) => {
      let m = byKey.get(key);
      if (!m) byKey.set(key, (m = new Map()));
      m.set(v, (m.get(v) ?? 0) + w);
    };
    for (const t of pod.preferredAffinity) for (const [v, c] of domainsOf(t, snap, pod)) addTo(t.topologyKey, v, t.weight * c);
    for (const t of pod.preferredAntiAffinity) for (const [v, c] of domainsOf(t, snap, pod)) addTo(t.topologyKey, v, -t.weight * c);
    for (const { pod: e, term: t, sign } of snap.preferredTerms.matching(pod)) {
      if (e.nodeName === null) continue;
      const v = snap.node(e.nodeName)?.labels.get(t.topologyKey);
      if (v !== undefined) addTo(t.topologyKey, v, sign * t.weight);
    }
    return byKey.size === 0 ? SKIP : [...byKey].map(([key, values]) => ({ key, values }));
  },
  score(entries, _pod, nodes: readonly NodeInfo[], out) {
    for (let i = 0; i < nodes.length; i++) {
      const labels = nodes[i]!.labels;
      let s = 0;
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k]!;
        const v = labels.get(e.key);
        if (v !== undefined) s += e.values.get(v) ?? 0;
      }
      out[i] = s;
    }
  },
  normalize: (_s, scores, n) => normalizeMinMax(scores, n, false),
};
