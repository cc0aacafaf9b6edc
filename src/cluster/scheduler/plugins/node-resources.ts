import { SUCCESS, unschedulable, type FilterPlugin, type ScorePlugin } from '../framework.js';
import type { NodeInfo, PodInfo } from '../snapshot.js';

const CPU = unschedulable('NodeResourcesFit', ['Insufficient cpu']);
const MEM = unschedulable('NodeResourcesFit', ['Insufficient memory']);
const PODS = unschedulable('NodeResourcesFit', ['Too many pods']);

/** Requests against allocatable minus what is already placed: cpu, memory, ephemeral storage, pods, extended. */
export const nodeResourcesFit: FilterPlugin<true> = {
  name: 'NodeResourcesFit',
  nodeLocal: true,
  preFilter: () => true,
  filter(_s, pod, node) {
    const a = node.allocatable;
    const r = node.requested;
    const q = pod.requests;
    const podsOk = r.pods + 1 <= a.pods;
    const cpuOk = q.milliCpu === 0 || r.milliCpu + q.milliCpu <= a.milliCpu;
    const memOk = q.memory === 0 || r.memory + q.memory <= a.memory;
    const ephOk = q.ephemeralStorage === 0 || r.ephemeralStorage + q.ephemeralStorage <= a.ephemeralStorage;
    if (podsOk && cpuOk && memOk && ephOk && q.extended === null) return SUCCESS;
    const reasons: string[] = [];
    if (!podsOk) reasons.push('Too many pods');
    if (!cpuOk) reasons.push('Insufficient cpu');
    if (!memOk) reasons.push('Insufficient memory');
    if (!ephOk) reasons.push('Insufficient ephemeral-storage');
    if (q.extended) {
      for (const [name, amount] of q.extended) {
        if (amount === 0) continue;
        if ((r.extended?.get(name) ?? 0) + amount > (a.extended?.get(name) ?? 0)) reasons.push(`Insufficient ${name}`);
      }
    }
    if (reasons.length === 0) return SUCCESS;
    if (reasons.length === 1) {
      if (reasons[0] === 'Insufficient cpu') return CPU;
      if (reasons[0] === 'Insufficient memory') return MEM;
      if (reasons[0] === 'Too many pods') return PODS;
    }
    return unschedulable('NodeResourcesFit', reasons);
  },
};

const cpuFraction = (pod: PodInfo, node: NodeInfo) => {
  const a = node.allocatable.milliCpu;
  return a > 0 ? Math.min(1, (node.nonZeroMilliCpu + pod.nonZeroMilliCpu) / a) : 1;
};
const memFraction = (pod: PodInfo, node: NodeInfo) => {
  const a = node.allocatable.memory;
  return a > 0 ? Math.min(1, (node.nonZeroMemory + pod.nonZeroMemory) / a) : 1;
};

/** LeastAllocated: the emptier node (CPU and memory, equal weights) scores higher; spreads load. */
export const leastAllocated: ScorePlugin<true> = {
  name: 'NodeResourcesLeastAllocated',
  preScore: () => true,
  score(_s, pod, nodes, out) {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      out[i] = (2 - cpuFraction(pod, node) - memFraction(pod, node)) * 50;
    }
  },
};

/** MostAllocated: the fuller node scores higher; packs (bin-packing, frees whole nodes). */
export const mostAllocated: ScorePlugin<true> = {
  name: 'NodeResourcesMostAllocated',
  preScore: () => true,
  score(_s, pod, nodes, out) {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      out[i] = (cpuFraction(pod, node) + memFraction(pod, node)) * 50;
    }
  },
};

/** BalancedAllocation: CPU and memory fractions close to each other score higher (1 - std dev). */
export const balancedAllocation: ScorePlugin<true> = {
  name: 'NodeResourcesBalancedAllocation',
  preScore: () => true,
  score(_s, pod, nodes, out) {
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!;
      out[i] = (1 - Math.abs(cpuFraction(pod, node) - memFraction(pod, node)) / 2) * 100;
    }
  },
};
