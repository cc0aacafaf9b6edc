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
  anti: { key: string; values: Map<string, number> }[];
  existingAnti: Map<string, Set<string>>; // topologyKey -> forbidden values
}

/** Required pod affinity and anti-affinity by topology key, including existing pods' anti-affinity. */
export const interPodAffinity: FilterPlugin<FilterState> = {
  name: 'InterPodAffinity',
  nodeLocal: false,
  preFilter(pod, snap) {
    const existingAnti = new Map<string, Set<string>>();
    for (const { pod: e, term: t } of snap.antiAffinityTerms.matching(pod)) {
      if (e.nodeName === null) continue;
      const v = snap.node(e.nodeName)?.labels.get(t.topologyKey);
      if (v === undefined) continue;
      let s = existingAnti.get(t.topologyKey);
      if (!s) existingAnti.set(t.topologyKey, (s = new Set()));
      s.add(v);
    }
    if (pod.affinity.length === 0 && pod.antiAffinity.length === 0 && existingAnti.size === 0) return SKIP;
    const affinity = pod.affinity.map((t) => ({ key: t.topologyKey, values: domainsOf(t, snap, pod) }));
    const affinityWaived = affinity.length > 0 && affinity.every((a) => a.values.size === 0) && pod.affinity.every((t) => termMatches(t, pod));
    const anti = pod.antiAffinity.map((t) => ({ key: t.topologyKey, values: domainsOf(t, snap, pod) }));
    return { affinity, affinityWaived, anti, existingAnti };
  },
  filter(s, _pod, node) {
    for (const [key, values] of s.existingAnti) {
      const v = node.labels.get(key);
      if (v !== undefined && values.has(v)) return EXISTING_ANTI;
    }
    for (const a of s.anti) {
      const v = node.labels.get(a.key);
      if (v !== undefined && a.values.has(v)) return ANTI;
    }
    if (s.affinity.length > 0) {
      for (const a of s.affinity) {
        const v = node.labels.get(a.key);
        if (v === undefined) return AFFINITY;
        if (!s.affinityWaived && !a.values.has(v)) return AFFINITY;
      }
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
    const entries: { key: string; values: Map<string, number> }[] = [];
    const add = (t: AffinityTerm, sign: number, counts: Map<string, number>) => {
      const values = new Map<string, number>();
      for (const [v, c] of counts) values.set(v, sign * t.weight * c);
      if (values.size > 0) entries.push({ key: t.topologyKey, values });
    };
    for (const t of pod.preferredAffinity) add(t, +1, domainsOf(t, snap, pod));
    for (const t of pod.preferredAntiAffinity) add(t, -1, domainsOf(t, snap, pod));
    for (const { pod: e, term: t, sign } of snap.preferredTerms.matching(pod)) {
      if (e.nodeName === null) continue;
      const v = snap.node(e.nodeName)?.labels.get(t.topologyKey);
      if (v !== undefined) entries.push({ key: t.topologyKey, values: new Map([[v, sign * t.weight]]) });
    }
    return entries.length === 0 ? SKIP : entries;
  },
  score(entries, _pod, node: NodeInfo) {
    let s = 0;
    for (const e of entries) {
      const v = node.labels.get(e.key);
      if (v !== undefined) s += e.values.get(v) ?? 0;
    }
    return s;
  },
  normalize: (_s, scores, n) => normalizeMinMax(scores, n, false),
};
