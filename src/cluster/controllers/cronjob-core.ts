import { CronSchedule } from '../apis/cron.js';
import { isJobFinished } from './job-core.js';
import { controllerRef, ownerRefTo, type CronJob, type Job, type ObjectReference } from './objects.js';

// The CronJob controller's pure core, after Kubernetes' cronjob_controllerv2: from the CronJob,
// the Jobs it owns and the time, decide which Job to create (one per scheduled time, named
// NAME-<minutes since the epoch> so a repeated decision after a crash finds the same Job),
// which to delete (Replace, history limits), the new status, and when to look again.

export const SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** More missed start times than this are not all run: only the most recent one (Kubernetes: 100). */
export const MAX_MISSED = 100;

export interface CronJobPlan {
  create?: Job;
  /** Active Jobs to delete (concurrencyPolicy Replace). */
  replace: Job[];
  /** Finished Jobs beyond the history limits. */
  prune: Job[];
  status: NonNullable<CronJob['status']>;
  /** When to reconcile again (the next scheduled time); undefined when suspended. */
  requeueAfterMs?: number;
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
}

const isoSeconds = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function jobNameFor(cj: CronJob, scheduled: number): string {
  return `${cj.metadata.name ?? 'cronjob'}-${Math.floor(scheduled / 60_000)}`;
}

function refTo(j: Job): ObjectReference {
  return { apiVersion: 'batch/v1', kind: 'Job', namespace: j.metadata.namespace, name: j.metadata.name, uid: j.metadata.uid };
}

function finishTime(j: Job): number {
  const c = j.status?.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True');
  return Date.parse(j.status?.completionTime ?? c?.lastTransitionTime ?? j.metadata.creationTimestamp ?? '') || 0;
}

/** The Job a CronJob starts for the given scheduled time. */
export function jobFromTemplate(cj: CronJob, scheduled: number): Job {
  const t = structuredClone(cj.spec.jobTemplate);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobNameFor(cj, scheduled),
      namespace: cj.metadata.namespace ?? 'default',
      labels: { ...(t.metadata?.labels ?? {}) },
      annotations: { ...(t.metadata?.annotations ?? {}), [SCHEDULED_TIMESTAMP_ANNOTATION]: isoSeconds(scheduled) },
      ownerReferences: [ownerRefTo(cj)],
    },
    spec: t.spec,
  };
}

export function planCronJob(cj: CronJob, allJobs: readonly Job[], now: number): CronJobPlan {
  const owned = allJobs.filter((j) => j.metadata.namespace === cj.metadata.namespace && controllerRef(j)?.uid === cj.metadata.uid);
  const active = owned.filter((j) => !isJobFinished(j) && !j.metadata.deletionTimestamp);
  const finished = owned.filter((j) => isJobFinished(j));
  const plan: CronJobPlan = { replace: [], prune: [], events: [], status: { ...(cj.status ?? {}) } };
  const status = plan.status;

  // Status from the Jobs: active references, the last success.
  for (const j of finished) {
    if (isJobFinished(j) === 'Complete') {
      const t = finishTime(j);
      if (!status.lastSuccessfulTime || Date.parse(status.lastSuccessfulTime) < t) status.lastSuccessfulTime = isoSeconds(t);
    }
  }
  const wasActive = new Set((cj.status?.active ?? []).map((r) => r.uid));
  for (const j of finished) {
    if (wasActive.has(j.metadata.uid)) plan.events.push({ type: 'Normal', reason: 'SawCompletedJob', message: `Saw completed job: ${j.metadata.name}, condition: ${isJobFinished(j)}` });
  }

  // History limits (oldest first).
  const byAge = (a: Job, b: Job) => finishTime(a) - finishTime(b);
  const ok = finished.filter((j) => isJobFinished(j) === 'Complete').sort(byAge);
  const bad = finished.filter((j) => isJobFinished(j) === 'Failed').sort(byAge);
  plan.prune.push(...ok.slice(0, Math.max(0, ok.length - (cj.spec.successfulJobsHistoryLimit ?? 3))));
  plan.prune.push(...bad.slice(0, Math.max(0, bad.length - (cj.spec.failedJobsHistoryLimit ?? 1))));

  let activeNow = active;
  const finish = (): CronJobPlan => {
    status.active = activeNow.map(refTo).sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
    if (status.active.length === 0) delete status.active;
    return plan;
  };

  if (cj.metadata.deletionTimestamp || cj.spec.suspend) return finish();

  const sched = CronSchedule.parse(cj.spec.schedule, cj.spec.timeZone);
  const created = Date.parse(cj.metadata.creationTimestamp ?? '') || now;
  let earliest = cj.status?.lastScheduleTime ? Date.parse(cj.status.lastScheduleTime) : created;
  const deadline = cj.spec.startingDeadlineSeconds;
  if (deadline !== undefined) earliest = Math.max(earliest, now - deadline * 1000);
  const next = sched.next(now);
  if (next !== undefined) plan.requeueAfterMs = Math.max(1, next - now + 100);
  const { time: scheduled, missed } = sched.mostRecent(earliest, now, MAX_MISSED + 1);
  if (scheduled === undefined) return finish();
  if (missed > MAX_MISSED) {
    plan.events.push({ type: 'Warning', reason: 'TooManyMissedTimes', message: `too many missed start times (> ${MAX_MISSED}): starting only the most recent; set or decrease .spec.startingDeadlineSeconds or check clock skew` });
  }
  if (deadline !== undefined && scheduled + deadline * 1000 < now) {
    plan.events.push({ type: 'Warning', reason: 'MissSchedule', message: `Missed scheduled time to start a job: ${isoSeconds(scheduled)}` });
    return finish();
  }
  const name = jobNameFor(cj, scheduled);
  if (owned.some((j) => j.metadata.name === name)) {
    status.lastScheduleTime = isoSeconds(scheduled);
    return finish();
  }
  if (cj.spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
    // Like Kubernetes: lastScheduleTime stays, so this start happens when the active Job ends (within the deadline).
    plan.events.push({ type: 'Normal', reason: 'JobAlreadyActive', message: `Not starting job because prior execution is running and concurrency policy is Forbid` });
    return finish();
  }
  if (cj.spec.concurrencyPolicy === 'Replace' && active.length > 0) {
    plan.replace = active;
    activeNow = [];
  }
  plan.create = jobFromTemplate(cj, scheduled);
  status.lastScheduleTime = isoSeconds(scheduled);
  return finish();
}

/** Adds the Job just created to the plan's status (its uid is known only after the create). */
export function withCreated(plan: CronJobPlan, job: Job): void {
  const active = (plan.status.active ?? []).filter((r) => r.name !== job.metadata.name);
  active.push(refTo(job));
  plan.status.active = active.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}
