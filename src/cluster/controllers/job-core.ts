import { controllerRef, getCondition, setCondition, type Job, type JobStatus, type Pod } from './objects.js';
import { isPodReady, podFromTemplate } from './pods.js';

// The Job controller's pure core. Counts come from the Job's pods (finished pods are
// kept until the Job is deleted). Failed pods back off exponentially before the next
// pod is created: base·2^(failures−1), capped (Kubernetes: 10 s and 6 min).

export const COMPLETION_INDEX = 'batch.kubernetes.io/job-completion-index';
export const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';
export const CONTROLLER_UID_LABEL = 'batch.kubernetes.io/controller-uid';

export interface JobTiming {
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_JOB_TIMING: JobTiming = { backoffBaseMs: 10_000, backoffMaxMs: 360_000 };

export interface JobPlan {
  create: Pod[];
  remove: Pod[];
  status: JobStatus;
  /** ttlSecondsAfterFinished has passed: delete the Job (its pods go with it). */
  deleteJob: boolean;
  requeueAfterMs?: number;
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

export function backoffDelay(failures: number, t: JobTiming): number {
  if (failures <= 0) return 0;
  return Math.min(t.backoffBaseMs * 2 ** Math.min(failures - 1, 40), t.backoffMaxMs);
}

function finishedAt(p: Pod): number {
  const c = getCondition(p.status?.conditions, 'Ready');
  const t = c?.lastTransitionTime ?? p.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

function indexOf(p: Pod): number | undefined {
  const v = p.metadata.annotations?.[COMPLETION_INDEX];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** "0-2,4" style list of sorted indexes. */
export function formatIndexes(xs: readonly number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export function isJobFinished(job: Job): 'Complete' | 'Failed' | undefined {
  for (const t of ['Complete', 'Failed'] as const) if (getCondition(job.status?.conditions, t)?.status === 'True') return t;
  return undefined;
}

export function planJob(job: Job, allPods: readonly Pod[], now: number, timing: JobTiming = DEFAULT_JOB_TIMING): JobPlan {
  const nowIso = new Date(now).toISOString();
  const pods = allPods.filter((p) => p.metadata.namespace === job.metadata.namespace && controllerRef(p)?.uid === job.metadata.uid);
  const active = pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const succeededPods = pods.filter((p) => p.status?.phase === 'Succeeded');
  const failedPods = pods.filter((p) => p.status?.phase === 'Failed');
  const indexed = job.spec.completionMode === 'Indexed';
  const completions = job.spec.completions;
  const parallelism = job.spec.parallelism ?? 1;
  const backoffLimit = job.spec.backoffLimit ?? 6;
  const doneIdx = indexed ? [...new Set(succeededPods.map(indexOf).filter((x): x is number => x !== undefined && x < (completions ?? 0)))] : [];
  const succeeded = indexed ? doneIdx.length : succeededPods.length;
  const failed = failedPods.length;
  const plan: JobPlan = { create: [], remove: [], deleteJob: false, status: {} };
  const status: JobStatus = {
    ...(job.status ?? {}),
    active: active.length,
    succeeded,
    failed,
    ready: active.filter(isPodReady).length,
  };
  if (indexed) status.completedIndexes = formatIndexes(doneIdx);
  let conds = job.status?.conditions ?? [];

  const finished = isJobFinished(job);
  if (finished) {
    plan.remove = active; // leftovers of a finished Job
    status.active = 0;
    const ttl = job.spec.ttlSecondsAfterFinished;
    if (ttl !== undefined) {
      const at = Date.parse(job.status?.completionTime ?? getCondition(conds, finished)?.lastTransitionTime ?? nowIso) + ttl * 1000;
      if (now >= at) plan.deleteJob = true;
      else plan.requeueAfterMs = at - now;
    }
    plan.status = { ...status, conditions: conds };
    return plan;
  }

  if (job.spec.suspend) {
    plan.remove = active;
    status.active = 0;
    conds = setCondition(conds, { type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' }, nowIso);
    plan.status = { ...status, conditions: conds };
    return plan;
  }
  if (getCondition(conds, 'Suspended')?.status === 'True') {
    conds = setCondition(conds, { type: 'Suspended', status: 'False', reason: 'JobResumed', message: 'Job resumed' }, nowIso);
  }
  status.startTime ??= nowIso;
  const start = Date.parse(status.startTime);

  const fail = (reason: string, message: string): JobPlan => {
    plan.remove = active;
    status.active = 0;
    conds = setCondition(conds, { type: 'Failed', status: 'True', reason, message }, nowIso);
    plan.status = { ...status, conditions: conds };
    plan.event = { type: 'Warning', reason, message };
    if (job.spec.ttlSecondsAfterFinished !== undefined) plan.requeueAfterMs = job.spec.ttlSecondsAfterFinished * 1000;
    return plan;
  };

  if (failed > backoffLimit) return fail('BackoffLimitExceeded', 'Job has reached the specified backoff limit');
  const deadline = job.spec.activeDeadlineSeconds;
  if (deadline !== undefined && now - start >= deadline * 1000) return fail('DeadlineExceeded', 'Job was active longer than specified deadline');

  const complete = completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0;
  if (complete) {
    conds = setCondition(conds, { type: 'Complete', status: 'True', reason: 'Completed', message: 'Job completed' }, nowIso);
    status.completionTime = nowIso;
    plan.status = { ...status, conditions: conds };
    plan.event = { type: 'Normal', reason: 'Completed', message: 'Job completed' };
    if (job.spec.ttlSecondsAfterFinished !== undefined) plan.requeueAfterMs = job.spec.ttlSecondsAfterFinished * 1000;
    return plan;
  }

  // how many pods should run now
  let want: number;
  if (completions === undefined) want = succeeded > 0 ? 0 : parallelism;
  else want = Math.min(parallelism, completions - succeeded);
  const delay = backoffDelay(failed, timing);
  const lastFail = failedPods.reduce((m, p) => Math.max(m, finishedAt(p)), 0);
  const wait = failed > 0 ? lastFail + delay - now : 0;
  if (active.length < want) {
    if (wait > 0) {
      plan.requeueAfterMs = wait;
    } else {
      const n = want - active.length;
      const labels = { [JOB_NAME_LABEL]: job.metadata.name ?? '', [CONTROLLER_UID_LABEL]: job.metadata.uid ?? '' };
      if (indexed) {
        const busy = new Set([...doneIdx, ...active.map(indexOf).filter((x): x is number => x !== undefined)]);
        for (let i = 0; i < (completions ?? 0) && plan.create.length < n; i++) {
          if (busy.has(i)) continue;
          const p = podFromTemplate(job.spec.template, job, { generateName: `${job.metadata.name}-${i}-`, labels: { ...labels, [COMPLETION_INDEX]: String(i) }, annotations: { [COMPLETION_INDEX]: String(i) } });
          for (const c of p.spec.containers) c.env = [...(c.env ?? []).filter((e) => e.name !== 'JOB_COMPLETION_INDEX'), { name: 'JOB_COMPLETION_INDEX', value: String(i) }];
          plan.create.push(p);
        }
      } else {
        for (let i = 0; i < n; i++) plan.create.push(podFromTemplate(job.spec.template, job, { generateName: `${job.metadata.name}-`, labels }));
      }
    }
  } else if (active.length > want && !indexed) {
    plan.remove = [...active].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b))).slice(0, active.length - want);
  }
  if (deadline !== undefined) {
    const left = start + deadline * 1000 - now;
    plan.requeueAfterMs = Math.min(plan.requeueAfterMs ?? Infinity, left);
  }
  plan.status = { ...status, conditions: conds };
  return plan;
}
