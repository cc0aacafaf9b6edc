import { createHash } from 'node:crypto';
import { compileNodeSelectorTerms } from '../scheduler/selectors.js';
import { tolerates } from '../scheduler/plugins/taint-toleration.js';
import { controllerRef, type DaemonSet, type Node, type Pod, type Taint, type Toleration } from './objects.js';
import { isPodAvailable, isPodReady, isPodTerminal, nextAvailableIn, podFromTemplate, templateHash } from './pods.js';

// The DaemonSet controller's pure core: one pod per node that should run it. Pods are bound
// directly to their node at creation (spec.nodeName, as Kubernetes did before it moved
// DaemonSet placement into the scheduler): the controller decides placement from the node's
// labels (nodeSelector, required node affinity) and taints; it does not check resource fit.
// Each pod's name is derived from the DaemonSet and the node, so a repeated decision after a
// crash or with a lagging cache finds the same pod (AlreadyExists) instead of making a second.

export const DS_HASH_LABEL = 'controller-revision-hash';

/** Tolerations Kubernetes' DaemonSet controller adds to every daemon pod. */
export const DAEMON_TOLERATIONS: readonly Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

export interface DaemonSetPlan {
  create: Pod[];
  remove: Pod[];
  status: NonNullable<DaemonSet['status']>;
  requeueAfterMs?: number;
}

type Obj = Record<string, any>;

/** The template's tolerations plus the daemon defaults (as they are written on the pods). */
export function daemonTolerations(ds: DaemonSet): Toleration[] {
  const own = (ds.spec.template.spec?.tolerations ?? []).slice();
  for (const d of DAEMON_TOLERATIONS) if (!own.some((t) => t.key === d.key && t.effect === d.effect)) own.push({ ...d });
  return own;
}

/** Whether a node matches the template's nodeSelector and required node affinity. */
export function nodeMatches(ds: DaemonSet, node: Node): boolean {
  const spec = (ds.spec.template.spec ?? {}) as Obj;
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries((spec.nodeSelector as Record<string, string> | undefined) ?? {})) if (labels[k] !== v) return false;
  const req = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req) {
    const m = compileNodeSelectorTerms(req.nodeSelectorTerms, 'spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms');
    if (!m({ name: node.metadata.name ?? '', labels: new Map(Object.entries(labels)) })) return false;
  }
  return true;
}

function untolerated(tols: readonly Toleration[], taints: readonly Taint[], effects: readonly string[]): Taint | undefined {
  return taints.find((t) => effects.includes(t.effect) && !tols.some((x) => tolerates(x as never, t)));
}

/**
 * shouldRun: a new daemon pod belongs on the node (labels match; NoSchedule and NoExecute
 * taints tolerated). shouldContinue: an existing one may stay (labels match; NoExecute
 * taints tolerated) — a NoSchedule taint added later does not evict it, as in Kubernetes.
 */
export function placement(ds: DaemonSet, node: Node): { shouldRun: boolean; shouldContinue: boolean } {
  if (node.metadata.deletionTimestamp || !nodeMatches(ds, node)) return { shouldRun: false, shouldContinue: false };
  const tols = daemonTolerations(ds);
  const taints = node.spec?.taints ?? [];
  const cont = !untolerated(tols, taints, ['NoExecute']);
  return { shouldRun: cont && !untolerated(tols, taints, ['NoSchedule']), shouldContinue: cont };
}

export function daemonPodName(ds: DaemonSet, node: string): string {
  return `${ds.metadata.name ?? 'ds'}-${createHash('sha256').update(node).digest('hex').slice(0, 5)}`;
}

/** maxUnavailable of a RollingUpdate, scaled against the desired count (percentages round up), at least 1. */
export function maxUnavailableOf(ds: DaemonSet, desired: number): number {
  const v = ds.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? 1;
  let n: number;
  if (typeof v === 'number') n = v;
  else {
    const m = /^(\d+)%$/.exec(v);
    n = m ? Math.ceil((Number(m[1]) * desired) / 100) : Number(v);
  }
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export function planDaemonSet(ds: DaemonSet, nodes: readonly Node[], allPods: readonly Pod[], now: number): DaemonSetPlan {
  const hash = templateHash(ds.spec.template);
  const minReady = ds.spec.minReadySeconds ?? 0;
  const pods = allPods.filter((p) => p.metadata.namespace === ds.metadata.namespace && controllerRef(p)?.uid === ds.metadata.uid);
  const byNode = new Map<string, Pod[]>();
  for (const p of pods) {
    const n = p.spec.nodeName ?? '';
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const plan: DaemonSetPlan = { create: [], remove: [], status: {} };
  const nodeNames = new Set(nodes.map((n) => n.metadata.name ?? ''));
  let desired = 0;
  let current = 0;
  let misscheduled = 0;
  let ready = 0;
  let available = 0;
  let updated = 0;
  // Per desired node: its one kept pod (if any), for the rolling update below.
  const kept: { node: string; pod: Pod | undefined; terminating: boolean }[] = [];

  for (const node of nodes) {
    const name = node.metadata.name ?? '';
    const { shouldRun, shouldContinue } = placement(ds, node);
    const here = byNode.get(name) ?? [];
    const failed = here.filter((p) => p.status?.phase === 'Failed' && !p.metadata.deletionTimestamp);
    const live = here.filter((p) => !isPodTerminal(p) && !p.metadata.deletionTimestamp);
    const terminating = here.some((p) => p.metadata.deletionTimestamp);
    plan.remove.push(...failed, ...here.filter((p) => p.status?.phase === 'Succeeded' && !p.metadata.deletionTimestamp));
    if (shouldRun) desired++;
    if (!shouldContinue) {
      if (live.length > 0) misscheduled++;
      plan.remove.push(...live);
      continue;
    }
    if (!shouldRun && live.length === 0) continue;
    if (shouldRun && live.length > 0) current++;
    // Keep one: the updated one if any, else the oldest.
    const sorted = live.slice().sort((a, b) => {
      const ua = a.metadata.labels?.[DS_HASH_LABEL] === hash ? 0 : 1;
      const ub = b.metadata.labels?.[DS_HASH_LABEL] === hash ? 0 : 1;
      if (ua !== ub) return ua - ub;
      return (Date.parse(a.metadata.creationTimestamp ?? '') || 0) - (Date.parse(b.metadata.creationTimestamp ?? '') || 0);
    });
    const keep = sorted[0];
    plan.remove.push(...sorted.slice(1));
    if (keep) {
      if (isPodReady(keep)) ready++;
      if (isPodAvailable(keep, minReady, now)) available++;
      if (keep.metadata.labels?.[DS_HASH_LABEL] === hash) updated++;
    } else if (shouldRun && !terminating && failed.length === 0) {
      plan.create.push(newPod(ds, name, hash));
    }
    if (shouldRun) kept.push({ node: name, pod: keep, terminating });
  }
  // Pods on nodes that no longer exist.
  for (const [n, ps] of byNode) {
    if (nodeNames.has(n)) continue;
    if (ps.some((p) => !isPodTerminal(p) && !p.metadata.deletionTimestamp)) misscheduled++;
    plan.remove.push(...ps); // terminating ones too: nobody is left to finish their deletion
  }

  if ((ds.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const maxUnavailable = maxUnavailableOf(ds, desired);
    const old = kept.filter((k) => k.pod && k.pod.metadata.labels?.[DS_HASH_LABEL] !== hash);
    // Old pods that are not available anyway go at once; available ones within the budget.
    let unavailable = kept.filter((k) => !k.pod || !isPodAvailable(k.pod, minReady, now)).length;
    for (const k of old) if (!isPodAvailable(k.pod!, minReady, now)) plan.remove.push(k.pod!);
    for (const k of old) {
      if (!isPodAvailable(k.pod!, minReady, now)) continue;
      if (unavailable >= maxUnavailable) break;
      plan.remove.push(k.pod!);
      unavailable++;
    }
  }

  const wait = nextAvailableIn(pods.filter((p) => !p.metadata.deletionTimestamp), minReady, now);
  if (wait !== undefined) plan.requeueAfterMs = wait;
  plan.status = {
    ...(ds.status ?? {}),
    desiredNumberScheduled: desired,
    currentNumberScheduled: current,
    numberMisscheduled: misscheduled,
    numberReady: ready,
    numberAvailable: available,
    numberUnavailable: Math.max(0, desired - available),
    updatedNumberScheduled: updated,
    observedGeneration: ds.metadata.generation ?? 0,
  };
  // No duplicates in remove (a pod may be picked twice).
  const seen = new Set<string>();
  plan.remove = plan.remove.filter((p) => {
    const u = p.metadata.uid ?? p.metadata.name ?? '';
    if (seen.has(u)) return false;
    seen.add(u);
    return true;
  });
  return plan;
}

function newPod(ds: DaemonSet, node: string, hash: string): Pod {
  const pod = podFromTemplate(ds.spec.template, ds, { name: daemonPodName(ds, node), labels: { [DS_HASH_LABEL]: hash } });
  pod.spec = { ...pod.spec, nodeName: node, tolerations: daemonTolerations(ds) };
  return pod;
}
