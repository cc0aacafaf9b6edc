import { MAX_NODE_SCORE, SKIP, type ScorePlugin } from '../framework.js';
import type { ClusterSnapshot } from '../snapshot.js';

const MB = 1024 * 1024;
const MIN_THRESHOLD = 23 * MB;
const MAX_CONTAINER_THRESHOLD = 1000 * MB;

/**
 * Nodes that already hold the pod's images score higher: the sum of image sizes, each scaled by
 * the share of nodes that have it (so an image everywhere does not pull pods together), between
 * Kubernetes' thresholds (23 MiB .. 1000 MiB per container). The scaled size per node is kept
 * per image as an array by node index, rebuilt when the node set changes.
 */
export function imageLocality(): ScorePlugin<{ arrays: Float64Array[]; max: number }> {
  let gen = -1;
  let byImage = new Map<string, Float64Array>();
  const arrayFor = (img: string, snap: ClusterSnapshot): Float64Array | null => {
    if (gen !== snap.nodeSetGeneration || byImage.size > 500) {
      byImage = new Map();
      gen = snap.nodeSetGeneration;
    }
    let a = byImage.get(img);
    if (a) return a;
    const count = snap.imageNodeCount.get(img) ?? 0;
    if (count === 0) return null;
    const nodes = snap.nodes;
    const spread = count / nodes.length;
    a = new Float64Array(nodes.length);
    for (const n of nodes) {
      const size = n.images.get(img);
      if (size !== undefined) a[n.index] = size * spread;
    }
    byImage.set(img, a);
    return a;
  };
  return {
    name: 'ImageLocality',
    preScore(pod, snap) {
      if (pod.images.length === 0 || snap.imageNodeCount.size === 0) return SKIP;
      const arrays: Float64Array[] = [];
      for (const img of pod.images) {
        const a = arrayFor(img, snap);
        if (a) arrays.push(a);
      }
      return arrays.length === 0 ? SKIP : { arrays, max: MAX_CONTAINER_THRESHOLD * pod.images.length };
    },
    score(s, _pod, nodes, out) {
      const arrays = s.arrays;
      const span = s.max - MIN_THRESHOLD;
      for (let i = 0; i < nodes.length; i++) {
        const idx = nodes[i]!.index;
        let sum = 0;
        for (let k = 0; k < arrays.length; k++) sum += arrays[k]![idx]!;
        const clamped = Math.min(Math.max(sum, MIN_THRESHOLD), s.max);
        out[i] = ((clamped - MIN_THRESHOLD) * MAX_NODE_SCORE) / span;
      }
    },
  };
}
