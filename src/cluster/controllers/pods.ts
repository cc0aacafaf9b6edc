import { createHash } from 'node:crypto';
import { getCondition, clone, ownerRefTo, type Obj, type Pod, type PodTemplate } from './objects.js';

// Pod helpers shared by the workload controllers.

export function isPodTerminal(p: Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}

/** Counts toward a controller's replicas: not finished and not being deleted. */
export function isPodActive(p: Pod): boolean {
  return !isPodTerminal(p) && p.metadata.deletionTimestamp === undefined;
}

export function isPodReady(p: Pod): boolean {
  return getCondition(p.status?.conditions, 'Ready')?.status === 'True';
}

/** Ready for at least minReadySeconds at `now`. */
export function isPodAvailable(p: Pod, minReadySeconds: number, now: number): boolean {
  if (!isPodReady(p)) return false;
  if (minReadySeconds <= 0) return true;
  const since = readySince(p);
  return since !== undefined && since + minReadySeconds * 1000 <= now;
}

export function readySince(p: Pod): number | undefined {
  const t = getCondition(p.status?.conditions, 'Ready')?.lastTransitionTime;
  return t ? Date.parse(t) : undefined;
}

/** Ms until a ready-but-not-yet-available pod becomes available (undefined: none pending). */
export function nextAvailableIn(pods: readonly Pod[], minReadySeconds: number, now: number): number | undefined {
  if (minReadySeconds <= 0) return undefined;
  let best: number | undefined;
  for (const p of pods) {
    if (!isPodReady(p) || isPodAvailable(p, minReadySeconds, now)) continue;
    const since = readySince(p) ?? now;
    const d = Math.max(1, since + minReadySeconds * 1000 - now);
    best = best === undefined ? d : Math.min(best, d);
  }
  return best;
}

/** A new pod from a template, owned by `owner` (controller reference). */
export function podFromTemplate(template: PodTemplate | undefined, owner: Obj, opts: { generateName?: string; name?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Pod {
  const t = clone(template ?? {});
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      namespace: owner.metadata.namespace ?? 'default',
      labels: { ...(t.metadata?.labels ?? {}), ...(opts.labels ?? {}) },
      ownerReferences: [ownerRefTo(owner)],
    },
    spec: t.spec ?? { containers: [] },
  };
  const ann = { ...(t.metadata?.annotations ?? {}), ...(opts.annotations ?? {}) };
  if (Object.keys(ann).length > 0) pod.metadata.annotations = ann;
  if (opts.name) pod.metadata.name = opts.name;
  else pod.metadata.generateName = opts.generateName ?? `${owner.metadata.name ?? 'pod'}-`;
  return pod;
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * Orders pods so that the first ones are the best to delete when scaling down, like
 * Kubernetes' ActivePods ordering: unscheduled before scheduled; Pending before Unknown
 * before Running; not ready before ready; ready for less time before longer; more
 * container restarts first; newer before older.
 */
export function compareForDeletion(a: Pod, b: Pod): number {
  const sa = a.spec.nodeName ? 1 : 0;
  const sb = b.spec.nodeName ? 1 : 0;
  if (sa !== sb) return sa - sb;
  const pa = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const pb = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a) ? 1 : 0;
  const rb = isPodReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  if (ra === 1) {
    const ta = readySince(a) ?? 0;
    const tb = readySince(b) ?? 0;
    if (ta !== tb) return tb - ta; // more recently ready first
  }
  const ca = restarts(a);
  const cb = restarts(b);
  if (ca !== cb) return cb - ca;
  const xa = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const xb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return xb - xa; // newer first
}

function restarts(p: Pod): number {
  return (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

/** A stable short hash of a pod template (the pod-template-hash label's value). */
export function templateHash(template: PodTemplate | undefined, collisionCount = 0): string {
  const h = createHash('sha256').update(stableJson(template ?? {}));
  if (collisionCount > 0) h.update(String(collisionCount));
  // Kubernetes uses "safe" alphanumerics for the label value; 10 hex chars are enough here.
  return h.digest('hex').slice(0, 10);
}

export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
