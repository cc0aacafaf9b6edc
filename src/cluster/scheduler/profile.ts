// The default plugin set, cheapest filters first (Nomad's feasibility chain order;
// kube-scheduler's default profile and weights).
import type { FilterPlugin, ScorePlugin } from './framework.js';
import { imageLocality } from './plugins/image-locality.js';
import { interPodAffinity, interPodAffinityScore } from './plugins/inter-pod-affinity.js';
import { nodeAffinity, nodeAffinityScore } from './plugins/node-affinity.js';
import { nodePorts } from './plugins/node-ports.js';
import { balancedAllocation, leastAllocated, mostAllocated, nodeResourcesFit } from './plugins/node-resources.js';
import { nodeUnschedulable } from './plugins/node-unschedulable.js';
import { taintToleration, taintTolerationScore } from './plugins/taint-toleration.js';
import { podTopologySpread, podTopologySpreadScore } from './plugins/topology-spread.js';

export interface WeightedScore {
  plugin: ScorePlugin<any>;
  weight: number;
}

export interface Profile {
  filters: FilterPlugin<any>[];
  scores: WeightedScore[];
}

export interface ProfileOptions {
  /** LeastAllocated (spread, default) or MostAllocated (bin-pack). */
  scoringStrategy?: 'LeastAllocated' | 'MostAllocated';
  /** Override the weight of a score plugin by name; 0 disables it. */
  weights?: Record<string, number>;
}

export function defaultProfile(opts: ProfileOptions = {}): Profile {
  const scores: WeightedScore[] = [
    { plugin: opts.scoringStrategy === 'MostAllocated' ? mostAllocated : leastAllocated, weight: 1 },
    { plugin: balancedAllocation, weight: 1 },
    { plugin: imageLocality(), weight: 1 },
    { plugin: interPodAffinityScore, weight: 2 },
    { plugin: nodeAffinityScore, weight: 2 },
    { plugin: podTopologySpreadScore(), weight: 2 },
    { plugin: taintTolerationScore, weight: 3 },
  ];
  for (const s of scores) {
    const w = opts.weights?.[s.plugin.name];
    if (w !== undefined) s.weight = w;
  }
  return {
    filters: [nodeUnschedulable, taintToleration, nodeAffinity, nodePorts, nodeResourcesFit, podTopologySpread(), interPodAffinity],
    scores: scores.filter((s) => s.weight > 0),
  };
}
