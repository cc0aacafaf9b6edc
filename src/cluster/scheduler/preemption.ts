// Priority preemption: when nothing fits, find the node where evicting the fewest and
// lowest-priority pods makes the pod fit (kube-scheduler's DefaultPreemption, without PDBs).
import type { Status } from './framework.js';
import type { NodeInfo, PodInfo } from './snapshot.js';

export interface Preemption {
  readonly node: string;
  /** Pods to evict, highest priority first. */
  readonly victims: readonly PodInfo[];
}

/** What preemption needs from the core: the snapshot and a one-node filter run. */
export interface PreemptionHost {
  readonly snapshot: {
    nodes: readonly NodeInfo[];
    addPod(pod: PodInfo, nodeName: string): void;
    removePod(key: string): PodInfo | undefined;
  };
  filterOne(pod: PodInfo, node: NodeInfo): Status;
}

/**
 * Tries each node whose failure could be resolved by removing pods (Unschedulable, not
 * UnschedulableAndUnresolvable): removes all lower-priority pods, checks the pod fits, then
 * reprieves pods from the highest priority down while it still fits. The remaining evictions
 * are the victims. Picks the node with the lowest highest-victim priority, then fewest
 * victims, then lowest priority sum. The snapshot is restored before returning.
 */
export function findPreemption(host: PreemptionHost, pod: PodInfo, nodes: readonly NodeInfo[], statuses: readonly Status[]): Preemption | null {
  if (pod.preemptionPolicy === 'Never') return null;
  const maxCandidates = Math.max(100, Math.floor(host.snapshot.nodes.length / 10));
  let best: { node: NodeInfo; victims: PodInfo[]; maxPrio: number; sum: number } | null = null;
  let found = 0;
  for (let i = 0; i < nodes.length && found < maxCandidates; i++) {
    if (statuses[i]!.code !== 'Unschedulable') continue;
    const node = nodes[i]!;
    const lower = [...node.pods.values()].filter((p) => p.priority < pod.priority);
    if (lower.length === 0) continue;
    for (const p of lower) host.snapshot.removePod(p.key);
    const victims: PodInfo[] = [];
    try {
      if (host.filterOne(pod, node).code !== 'Success') continue;
      lower.sort((a, b) => b.priority - a.priority || (a.key < b.key ? -1 : 1));
      for (const p of lower) {
        host.snapshot.addPod(p, node.name);
        if (host.filterOne(pod, node).code !== 'Success') {
          host.snapshot.removePod(p.key);
          victims.push(p);
        }
      }
    } finally {
      for (const p of lower) if (!node.pods.has(p.key)) host.snapshot.addPod(p, node.name);
    }
    if (victims.length === 0) continue;
    found++;
    const maxPrio = Math.max(...victims.map((v) => v.priority));
    const sum = victims.reduce((s, v) => s + v.priority, 0);
    if (
      !best ||
      maxPrio < best.maxPrio ||
      (maxPrio === best.maxPrio && (victims.length < best.victims.length || (victims.length === best.victims.length && sum < best.sum)))
    ) {
      best = { node, victims, maxPrio, sum };
    }
  }
  return best ? { node: best.node.name, victims: best.victims } : null;
}
