// Extension points, after kube-scheduler's framework: one-method plugins that return a
// Status value (an expected "does not fit" is a value, never an exception).
import type { ClusterSnapshot, NodeInfo, PodInfo } from './snapshot.js';

export type Code = 'Success' | 'Unschedulable' | 'UnschedulableAndUnresolvable';

export interface Status {
  readonly code: Code;
  /** Human reasons, counted per node in the "0/N nodes are available" message. */
  readonly reasons: readonly string[];
  readonly plugin: string;
}

export const SUCCESS: Status = Object.freeze({ code: 'Success', reasons: [], plugin: '' });

const statusCache = new Map<string, Status>();
/** Interned failure statuses (the same reason is one object, cheap to compare and count). */
export function unschedulable(plugin: string, reasons: readonly string[], unresolvable = false): Status {
  const code: Code = unresolvable ? 'UnschedulableAndUnresolvable' : 'Unschedulable';
  const k = `${plugin}\u0000${code}\u0000${reasons.join('\u0000')}`;
  let s = statusCache.get(k);
  if (!s) {
    s = Object.freeze({ code, reasons: Object.freeze([...reasons]), plugin });
    if (statusCache.size < 10_000) statusCache.set(k, s);
  }
  return s;
}

/** Returned by preFilter/preScore when the plugin has nothing to check for this pod. */
export const SKIP = Symbol('skip');
export type Skip = typeof SKIP;

export interface FilterPlugin<S = unknown> {
  readonly name: string;
  /**
   * True when the answer depends only on the pod and the node itself (not on pods elsewhere):
   * such answers are cached per equivalence class and node generation.
   */
  readonly nodeLocal: boolean;
  /** Per-pod, per-cycle preparation; SKIP when the pod needs no check by this plugin. */
  preFilter(pod: PodInfo, snap: ClusterSnapshot): S | Skip;
  filter(state: S, pod: PodInfo, node: NodeInfo): Status;
}

export interface ScorePlugin<S = unknown> {
  readonly name: string;
  preScore(pod: PodInfo, snap: ClusterSnapshot, nodes: readonly NodeInfo[]): S | Skip;
  /** Raw scores of the feasible nodes into out[0..nodes.length) (one loop per plugin: monomorphic). */
  score(state: S, pod: PodInfo, nodes: readonly NodeInfo[], out: Float64Array): void;
  /** Turns raw scores into 0..MAX_NODE_SCORE in place; absent when score is already in range. */
  normalize?(state: S, scores: Float64Array, n: number): void;
}

export const MAX_NODE_SCORE = 100;

/** Scales so the maximum becomes 100 (or, reversed, the maximum becomes 0). */
export function normalizeByMax(scores: Float64Array, n: number, reverse: boolean): void {
  let max = 0;
  for (let i = 0; i < n; i++) if (scores[i]! > max) max = scores[i]!;
  if (max === 0) {
    if (reverse) scores.fill(MAX_NODE_SCORE, 0, n);
    return;
  }
  for (let i = 0; i < n; i++) {
    const s = (scores[i]! * MAX_NODE_SCORE) / max;
    scores[i] = reverse ? MAX_NODE_SCORE - s : s;
  }
}

/** Min-max scaling to 0..100 (reverse: lowest raw gets 100). */
export function normalizeMinMax(scores: Float64Array, n: number, reverse: boolean): void {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const span = max - min;
  for (let i = 0; i < n; i++) {
    if (span === 0) scores[i] = reverse ? MAX_NODE_SCORE : 0;
    else {
      const s = ((scores[i]! - min) * MAX_NODE_SCORE) / span;
      scores[i] = reverse ? MAX_NODE_SCORE - s : s;
    }
  }
}
