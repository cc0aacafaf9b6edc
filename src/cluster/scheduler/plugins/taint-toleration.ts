import type { Taint, Toleration } from '../k8s-types.js';
import { SKIP, SUCCESS, normalizeByMax, unschedulable, type FilterPlugin, type ScorePlugin, type Status } from '../framework.js';
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

const taintStatus = new WeakMap<Taint, Status>();
function untolerated(taint: Taint): Status {
  let s = taintStatus.get(taint);
  if (!s) taintStatus.set(taint, (s = unschedulable('TaintToleration', [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], true)));
  return s;
}

/** NoSchedule and NoExecute taints must be tolerated. */
export const taintToleration: FilterPlugin<true> = {
  name: 'TaintToleration',
  nodeLocal: true,
  preFilter: () => true,
  filter(_s, pod, node) {
    for (const taint of node.taints) {
      if (taint.effect === 'PreferNoSchedule') continue;
      if (!tolerated(pod, taint)) return untolerated(taint);
    }
    return SUCCESS;
  },
};

/** Fewer untolerated PreferNoSchedule taints score higher. */
export const taintTolerationScore: ScorePlugin<true> = {
  name: 'TaintToleration',
  preScore: (_pod, _snap, nodes: readonly NodeInfo[]) => (nodes.some((n) => n.taints.length > 0) ? true : SKIP),
  score(_s, pod, nodes, out) {
    for (let i = 0; i < nodes.length; i++) {
      const taints = nodes[i]!.taints;
      let n = 0;
      for (let k = 0; k < taints.length; k++) {
        const taint = taints[k]!;
        if (taint.effect === 'PreferNoSchedule' && !tolerated(pod, taint)) n++;
      }
      out[i] = n;
    }
  },
  normalize: (_s, scores, n) => normalizeByMax(scores, n, true),
};
