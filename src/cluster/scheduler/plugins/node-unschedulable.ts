import { SKIP, SUCCESS, unschedulable, type FilterPlugin } from '../framework.js';
import type { PodInfo } from '../snapshot.js';
import { tolerates } from './taint-toleration.js';

const UNSCHEDULABLE_TAINT = { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' as const };
const FAIL = unschedulable('NodeUnschedulable', ['node(s) were unschedulable'], true);

/** spec.unschedulable nodes (cordoned) take no new pods unless the pod tolerates the unschedulable taint. */
export const nodeUnschedulable: FilterPlugin<true> = {
  name: 'NodeUnschedulable',
  nodeLocal: true,
  preFilter: (pod: PodInfo) => (pod.tolerations.some((t) => tolerates(t, UNSCHEDULABLE_TAINT)) ? SKIP : true),
  filter: (_s, _pod, node) => (node.unschedulable ? FAIL : SUCCESS),
};
