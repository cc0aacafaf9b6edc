import { SKIP, SUCCESS, normalizeByMax, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { PodInfo } from '../snapshot.js';

const FAIL = unschedulable('NodeAffinity', ["node(s) didn't match Pod's node affinity/selector"], true);

/** spec.nodeSelector and required node affinity (In, NotIn, Exists, DoesNotExist, Gt, Lt). */
export const nodeAffinity: FilterPlugin<PodInfo> = {
  name: 'NodeAffinity',
  nodeLocal: true,
  preFilter: (pod) => (pod.nodeSelector.length === 0 && pod.requiredNodeAffinity === null ? SKIP : pod),
  filter(pod, _p, node) {
    for (const [k, v] of pod.nodeSelector) if (node.labels.get(k) !== v) return FAIL;
    if (pod.requiredNodeAffinity !== null && !pod.requiredNodeAffinity(node)) return FAIL;
    return SUCCESS;
  },
};

/** Sum of the weights of matching preferred terms, scaled so the best node gets 100. */
export const nodeAffinityScore: ScorePlugin<true> = {
  name: 'NodeAffinity',
  preScore: (pod) => (pod.preferredNodeAffinity.length === 0 ? SKIP : true),
  score(_s, pod, nodes, out) {
    const terms = pod.preferredNodeAffinity;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      let s = 0;
      for (const t of terms) if (t.matches(node)) s += t.weight;
      out[i] = s;
    }
  },
  normalize: (_s, scores, n) => normalizeByMax(scores, n, false),
};
