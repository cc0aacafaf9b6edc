import { MAX_NODE_SCORE, SKIP, type ScorePlugin } from '../framework.js';

const MB = 1024 * 1024;
const MIN_THRESHOLD = 23 * MB;
const MAX_CONTAINER_THRESHOLD = 1000 * MB;

/**
 * Nodes that already hold the pod's images score higher: the sum of image sizes, each scaled by
 * the share of nodes that have it (so an image everywhere does not pull pods together), between
 * Kubernetes' thresholds (23 MiB .. 1000 MiB per container).
 */
export const imageLocality: ScorePlugin<{ total: number; counts: number[] }> = {
  name: 'ImageLocality',
  preScore(pod, snap) {
    if (pod.images.length === 0 || snap.imageNodeCount.size === 0) return SKIP;
    const counts = pod.images.map((i) => snap.imageNodeCount.get(i) ?? 0);
    if (counts.every((c) => c === 0)) return SKIP;
    return { total: snap.nodes.length, counts };
  },
  score(s, pod, node) {
    let sum = 0;
    for (let i = 0; i < pod.images.length; i++) {
      const size = node.images.get(pod.images[i]!);
      if (size !== undefined) sum += size * (s.counts[i]! / s.total);
    }
    const max = MAX_CONTAINER_THRESHOLD * pod.images.length;
    const clamped = Math.min(Math.max(sum, MIN_THRESHOLD), max);
    return ((clamped - MIN_THRESHOLD) * MAX_NODE_SCORE) / (max - MIN_THRESHOLD);
  },
};
