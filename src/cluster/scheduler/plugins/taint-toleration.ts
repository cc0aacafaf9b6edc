import type { Taint, Toleration } from '../k8s-types.js';
import { SKIP, SUCCESS, normalizeByMax, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { NodeInfo, PodInfo } from '../snapshot.js';

/** Kubernetes' ToleratesTaint: empty effect matches every effect; empty key with Exists matches every key. */
export function tolerates(t: Toleration, taint: Pick<Taint, 'key' | 'value' | 'effect'>): boolean {
  if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
  if (t.key !== undefined && t.key !== '' && t.key !== taint.key) return false;
  if ((t.operator ?? 'Equal') === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

const tolerated = (pod: PodInfo, taint: Taint) => {
  for (const t of pod.tolerations) if (tolerates(t, taint)) return true;
  return false;
};

/** NoSchedule and NoExecute taints must be tolerated. */
export const taintToleration: FilterPlugin<true> = {
  name: 'TaintToleration',
  nodeLocal: true,
  preFilter: () => true,
  filter(_s, pod, node) {
    for (const taint of node.taints) {
      if (taint.effect === 'PreferNoSchedule') continue;
      if (!tolerated(pod, taint)) {
        return unschedulable('TaintToleration', [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], true);
      }
    }
    return SUCCESS;
  },
};

/** Fewer untolerated PreferNoSchedule taints score higher. */
export const taintTolerationScore: ScorePlugin<true> = {
  name: 'TaintToleration',
  preScore: (_pod, _snap, nodes: readonly NodeInfo[]) => (nodes.some((n) => n.taints.length > 0) ? true : SKIP),
  score(_s, pod, node) {
    let n = 0;
    for (const taint of node.taints) if (taint.effect === 'PreferNoSchedule' && !tolerated(pod, taint)) n++;
    return n;
  },
  normalize: (_s, scores, n) => normalizeByMax(scores, n, true),
};
