import { clone, controllerRef, getCondition, matchesSelector, ownerRefTo, setCondition, type Deployment, type Pod, type ReplicaSet, type WorkloadStatus } from './objects.js';
import { isPodActive, isPodAvailable, isPodReady, nextAvailableIn, stableJson, templateHash } from './pods.js';

// The Deployment controller's pure core: from a Deployment, the ReplicaSets it owns and
// their pods, compute one step of the rollout (which ReplicaSets to create, scale or
// delete) and the Deployment's status. One step per reconcile, like Kubernetes'
// rolloutRolling: scale the new ReplicaSet up, or else scale old ones down; every step
// keeps total pods ≤ replicas + maxSurge and available pods ≥ replicas − maxUnavailable,
// counting pods conservatively (a ReplicaSet counts for the larger of its spec and its
// live pods, and for the smaller of its spec and its available pods).

export const REVISION = 'deployment.kubernetes.io/revision';
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';
export const HASH_LABEL = 'pod-template-hash';

export interface DeploymentPlan {
  create?: ReplicaSet;
  /** ReplicaSets with new spec.replicas or annotations (written with their resourceVersion). */
  update: ReplicaSet[];
  /** Old ReplicaSets beyond revisionHistoryLimit. */
  remove: ReplicaSet[];
  /** Orphan ReplicaSets matching the selector: to adopt. */
  adopt: ReplicaSet[];
  status: WorkloadStatus;
  /** New revision annotation for the Deployment itself, when it changes. */
  revision?: string;
  requeueAfterMs?: number;
}

export function resolveIntOrPercent(v: number | string | undefined, total: number, roundUp: boolean, dflt: string): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) {
    const n = Number(x);
    if (Number.isInteger(n) && n >= 0) return n;
    throw new Error(`invalid value ${JSON.stringify(x)}: must be an integer or a percentage`);
  }
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

/** maxSurge and maxUnavailable as pod counts (both zero is not allowed: unavailable becomes 1). */
export function surgeAndUnavailable(d: Deployment): { surge: number; unavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  const ru = d.spec.strategy?.rollingUpdate;
  const surge = resolveIntOrPercent(ru?.maxSurge, replicas, true, '25%');
  let unavailable = resolveIntOrPercent(ru?.maxUnavailable, replicas, false, '25%');
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

function templateKey(t: ReplicaSet['spec']['template']): string {
  const c = clone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels[HASH_LABEL];
  }
  return stableJson(c);
}

export function revisionOf(rs: { metadata: { annotations?: Record<string, string> } }): number {
  return Number(rs.metadata.annotations?.[REVISION] ?? '0') || 0;
}

interface Counted {
  rs: ReplicaSet;
  spec: number;
  live: number;
  available: number;
  ready: number;
}

export function planDeployment(d: Deployment, allRs: readonly ReplicaSet[], pods: readonly Pod[], now: number): DeploymentPlan {
  const ns = d.metadata.namespace;
  const uid = d.metadata.uid;
  const adopt: ReplicaSet[] = [];
  const owned: ReplicaSet[] = [];
  for (const rs of allRs) {
    if (rs.metadata.namespace !== ns) continue;
    const ref = controllerRef(rs);
    if (ref) {
      if (ref.uid === uid) owned.push(rs);
    } else if (matchesSelector(d.spec.selector, rs.spec.template?.metadata?.labels) && !rs.metadata.deletionTimestamp && !d.metadata.deletionTimestamp) {
      const a = clone(rs);
      a.metadata.ownerReferences = [...(a.metadata.ownerReferences ?? []), ownerRefTo(d)];
      adopt.push(a);
      owned.push(a);
    }
  }
  const replicas = d.spec.replicas ?? 1;
  const minReady = d.spec.minReadySeconds ?? 0;
  const podsOf = (rs: ReplicaSet) => pods.filter((p) => p.metadata.namespace === ns && controllerRef(p)?.uid === rs.metadata.uid && isPodActive(p));
  const count = (rs: ReplicaSet): Counted => {
    const ps = podsOf(rs);
    const spec = rs.spec.replicas ?? 0;
    return {
      rs,
      spec,
      live: Math.max(spec, ps.length),
      available: Math.min(spec, ps.filter((p) => isPodAvailable(p, minReady, now)).length),
      ready: ps.filter(isPodReady).length,
    };
  };

  const wantKey = templateKey(d.spec.template);
  const maxRevision = owned.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
  let newRs = owned.filter((rs) => templateKey(rs.spec.template) === wantKey).sort((a, b) => revisionOf(b) - revisionOf(a))[0];
  const olds = owned.filter((rs) => rs !== newRs);
  const update = new Map<string, ReplicaSet>();
  const touch = (rs: ReplicaSet): ReplicaSet => {
    const k = rs.metadata.name ?? '';
    let u = update.get(k);
    if (!u) {
      u = clone(rs);
      update.set(k, u);
    }
    return u;
  };
  const plan: DeploymentPlan = { update: [], remove: [], adopt, status: {} };
  const paused = d.spec.paused === true;
  const recreate = d.spec.strategy?.type === 'Recreate';
  let progressed = false;

  // The new ReplicaSet: create it (not while paused), or make it the newest revision again (a rollback).
  if (!newRs && !paused && !d.metadata.deletionTimestamp) {
    const hash = templateHash(d.spec.template, d.status?.collisionCount ?? 0);
    const tpl = clone(d.spec.template);
    tpl.metadata = { ...(tpl.metadata ?? {}), labels: { ...(tpl.metadata?.labels ?? {}), [HASH_LABEL]: hash } };
    const oldAvailable = olds.map(count).reduce((n, c) => n + c.live, 0);
    let initial = 0;
    if (!recreate) {
      const { surge } = surgeAndUnavailable(d);
      initial = Math.max(0, Math.min(replicas, replicas + surge - oldAvailable));
    } else if (oldAvailable === 0 && olds.every((o) => podsOf(o).length === 0)) {
      initial = replicas;
    }
    newRs = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: ns ?? 'default',
        labels: { ...(d.spec.template.metadata?.labels ?? {}), [HASH_LABEL]: hash },
        annotations: { [REVISION]: String(maxRevision + 1), ...(d.metadata.annotations?.[CHANGE_CAUSE] ? { [CHANGE_CAUSE]: d.metadata.annotations[CHANGE_CAUSE] } : {}) },
        ownerReferences: [ownerRefTo(d)],
      },
      spec: {
        replicas: initial,
        minReadySeconds: minReady,
        selector: { ...clone(d.spec.selector), matchLabels: { ...(d.spec.selector.matchLabels ?? {}), [HASH_LABEL]: hash } },
        template: tpl,
      },
    };
    plan.create = newRs;
    progressed = true;
  } else if (newRs && !paused && revisionOf(newRs) < maxRevision) {
    const u = touch(newRs);
    u.metadata.annotations = { ...(u.metadata.annotations ?? {}), [REVISION]: String(maxRevision + 1) };
    newRs = u;
    progressed = true;
  }
  if (newRs && (newRs.spec.minReadySeconds ?? 0) !== minReady && !plan.create) {
    touch(newRs).spec.minReadySeconds = minReady;
  }

  const cur = (rs: ReplicaSet): ReplicaSet => update.get(rs.metadata.name ?? '') ?? rs;
  const setReplicas = (rs: ReplicaSet, n: number) => {
    if ((cur(rs).spec.replicas ?? 0) === n) return;
    touch(rs).spec.replicas = n;
    progressed = true;
  };

  if (d.metadata.deletionTimestamp) {
    // being deleted: the garbage collector removes the ReplicaSets; do nothing more
  } else if (paused) {
    // Paused: no rollout; keep the total at spec.replicas by scaling the newest active ReplicaSet.
    const target = newRs ?? [...olds].sort((a, b) => revisionOf(b) - revisionOf(a))[0];
    if (target) {
      const others = owned.filter((r) => r !== target).reduce((n, r) => n + (r.spec.replicas ?? 0), 0);
      setReplicas(target, Math.max(0, replicas - others));
    }
  } else if (recreate) {
    const oldLive = olds.reduce((n, r) => n + podsOf(r).length + (r.spec.replicas ?? 0), 0);
    if (oldLive > 0) {
      for (const o of olds) setReplicas(o, 0);
    } else if (newRs && !plan.create) {
      setReplicas(newRs, replicas);
    }
  } else if (newRs) {
    const { surge, unavailable } = surgeAndUnavailable(d);
    const newC = count(cur(newRs));
    const oldCs = olds.map((o) => count(cur(o)));
    const newSpec = cur(newRs).spec.replicas ?? 0;
    if (newSpec > replicas) {
      setReplicas(newRs, replicas);
    } else if (newSpec < replicas && !plan.create) {
      const all = newC.live + oldCs.reduce((n, c) => n + c.live, 0);
      const maxTotal = replicas + surge;
      if (all < maxTotal) setReplicas(newRs, newSpec + Math.min(maxTotal - all, replicas - newSpec));
    }
    if (!progressed) {
      // scale old ReplicaSets down without going below minAvailable
      const minAvailable = replicas - unavailable;
      const all = newC.live + oldCs.reduce((n, c) => n + c.live, 0);
      const newUnavailable = newC.spec - newC.available;
      let maxScaledDown = all - minAvailable - newUnavailable;
      // first the unhealthy replicas of old ReplicaSets (oldest first)
      const byAge = [...oldCs].sort((a, b) => revisionOf(a.rs) - revisionOf(b.rs));
      for (const c of byAge) {
        if (maxScaledDown <= 0) break;
        const unhealthy = c.spec - c.available;
        if (unhealthy <= 0) continue;
        const n = Math.min(unhealthy, maxScaledDown);
        setReplicas(c.rs, c.spec - n);
        c.spec -= n;
        maxScaledDown -= n;
      }
      // then available ones, as long as enough stay available
      const totalAvailable = newC.available + byAge.reduce((n, c) => n + Math.min(c.spec, c.available), 0);
      let canRemove = Math.min(totalAvailable - minAvailable, Math.max(0, maxScaledDown));
      for (const c of byAge) {
        if (canRemove <= 0) break;
        if (c.spec <= 0) continue;
        const n = Math.min(c.spec, canRemove);
        setReplicas(c.rs, c.spec - n);
        canRemove -= n;
      }
    }
  }

  // history: delete old ReplicaSets with no replicas and no pods beyond revisionHistoryLimit
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const idle = olds.filter((o) => (cur(o).spec.replicas ?? 0) === 0 && podsOf(o).length === 0 && !o.metadata.deletionTimestamp).sort((a, b) => revisionOf(a) - revisionOf(b));
  if (idle.length > limit) plan.remove = idle.slice(0, idle.length - limit);

  plan.update = [...update.values()];

  // status
  const allNow = owned.map((r) => ({ r, ps: podsOf(r) }));
  const active = allNow.flatMap((x) => x.ps);
  const newPods = newRs && !plan.create ? podsOf(newRs) : [];
  const available = active.filter((p) => isPodAvailable(p, minReady, now)).length;
  const { unavailable: maxUnavail } = recreate ? { unavailable: 0 } : surgeAndUnavailable(d);
  const status: WorkloadStatus = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: active.length,
    updatedReplicas: newPods.length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, replicas - available),
  };
  if (d.status?.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
  const nowIso = new Date(now).toISOString();
  let conds = d.status?.conditions ?? [];
  conds = setCondition(
    conds,
    available >= replicas - maxUnavail
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: nowIso }
      : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.', lastUpdateTime: nowIso },
    nowIso,
  );
  const prev = d.status;
  const countsChanged =
    prev?.replicas !== status.replicas || prev?.updatedReplicas !== status.updatedReplicas || prev?.availableReplicas !== status.availableReplicas || prev?.readyReplicas !== status.readyReplicas;
  const complete = newPods.length === replicas && available >= replicas && active.length === replicas && olds.every((o) => (cur(o).spec.replicas ?? 0) === 0);
  const prog = getCondition(conds, 'Progressing');
  const rsName = newRs?.metadata.name ?? '';
  const deadline = d.spec.progressDeadlineSeconds ?? 600;
  if (paused) {
    conds = setCondition(conds, { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused', message: 'Deployment is paused', lastUpdateTime: nowIso }, nowIso);
  } else if (complete) {
    if (prog?.reason !== 'NewReplicaSetAvailable') {
      conds = setCondition(conds, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${rsName}" has successfully progressed.`, lastUpdateTime: nowIso }, nowIso);
    }
  } else if (progressed || countsChanged || !prog || prog.reason === 'DeploymentPaused' || prog.reason === 'NewReplicaSetAvailable') {
    conds = setCondition(conds, { type: 'Progressing', status: 'True', reason: plan.create ? 'NewReplicaSetCreated' : 'ReplicaSetUpdated', message: `ReplicaSet "${rsName}" is progressing.`, lastUpdateTime: nowIso }, nowIso, true);
    plan.requeueAfterMs = deadline * 1000 + 1;
  } else if (prog.reason !== 'ProgressDeadlineExceeded') {
    const last = Date.parse(prog.lastUpdateTime ?? prog.lastTransitionTime ?? nowIso);
    if (now - last > deadline * 1000) {
      conds = setCondition(conds, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`, lastUpdateTime: nowIso }, nowIso);
    } else {
      plan.requeueAfterMs = last + deadline * 1000 - now + 1;
    }
  }
  status.conditions = conds;
  plan.status = status;
  const nextAvail = nextAvailableIn(active, minReady, now);
  if (nextAvail !== undefined) plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, nextAvail);
  const rev = newRs ? (update.get(newRs.metadata.name ?? '') ?? newRs).metadata.annotations?.[REVISION] : undefined;
  if (rev && d.metadata.annotations?.[REVISION] !== rev) plan.revision = rev;
  return plan;
}
