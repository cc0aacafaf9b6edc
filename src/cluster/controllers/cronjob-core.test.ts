import { describe, it, expect } from 'vitest';
import { jobNameFor, planCronJob, withCreated, SCHEDULED_TIMESTAMP_ANNOTATION } from './cronjob-core.js';
import type { CronJob, Job } from './objects.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const min = (n: number, s = 0) => T0 + n * 60_000 + s * 1000;

function cj(spec: Partial<CronJob['spec']> = {}, status: CronJob['status'] = {}): CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'c', namespace: 'default', uid: 'cj-uid', creationTimestamp: new Date(T0).toISOString() },
    spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'x', image: 'busybox' }] } } } }, ...spec },
    status,
  };
}
function job(minute: number, state?: 'Complete' | 'Failed', finishedMin = minute): Job {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `c-${(T0 / 60_000) + minute}`, namespace: 'default', uid: `j${minute}`, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'c', uid: 'cj-uid', controller: true }], creationTimestamp: new Date(min(minute)).toISOString() },
    spec: { template: {} },
    status: state ? { conditions: [{ type: state, status: 'True', lastTransitionTime: new Date(min(finishedMin, 30)).toISOString() }] } : {},
  };
}

describe('planCronJob', () => {
  it('starts the Job of the most recent scheduled time, named after it, and requeues for the next', () => {
    const p = planCronJob(cj(), [], min(3, 10));
    expect(p.create?.metadata.name).toBe(jobNameFor(cj(), min(3)));
    expect(p.create?.metadata.annotations?.[SCHEDULED_TIMESTAMP_ANNOTATION]).toBe('2026-01-01T00:03:00Z');
    expect(p.create?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', uid: 'cj-uid', controller: true });
    expect(p.status.lastScheduleTime).toBe('2026-01-01T00:03:00Z');
    expect(p.requeueAfterMs).toBe(50_000 + 100);
  });
  it('is idempotent: a Job already made for that time is not made again', () => {
    const p = planCronJob(cj(), [job(3)], min(3, 10));
    expect(p.create).toBeUndefined();
    expect(p.status.active?.map((a) => a.uid)).toEqual(['j3']);
  });
  it('Forbid skips while a Job runs; Replace deletes it; Allow runs both', () => {
    const running = [job(2)];
    const f = planCronJob(cj({ concurrencyPolicy: 'Forbid' }, { lastScheduleTime: '2026-01-01T00:02:00Z' }), running, min(3, 1));
    expect(f.create).toBeUndefined();
    expect(f.events.map((e) => e.reason)).toEqual(['JobAlreadyActive']);
    expect(f.status.lastScheduleTime).toBe('2026-01-01T00:02:00Z');
    const r = planCronJob(cj({ concurrencyPolicy: 'Replace' }, { lastScheduleTime: '2026-01-01T00:02:00Z' }), running, min(3, 1));
    expect(r.replace.map((j) => j.metadata.uid)).toEqual(['j2']);
    expect(r.create).toBeDefined();
    const a = planCronJob(cj({ concurrencyPolicy: 'Allow' }, { lastScheduleTime: '2026-01-01T00:02:00Z' }), running, min(3, 1));
    expect(a.replace).toEqual([]);
    withCreated(a, { ...a.create!, metadata: { ...a.create!.metadata, uid: 'new' } });
    expect(a.status.active?.map((x) => x.uid).sort()).toEqual(['j2', 'new']);
  });
  it('suspend starts nothing; startingDeadlineSeconds drops a late start', () => {
    expect(planCronJob(cj({ suspend: true }), [], min(5)).create).toBeUndefined();
    const late = planCronJob(cj({ startingDeadlineSeconds: 10 }), [], min(5, 30));
    expect(late.create).toBeUndefined();
    const onTime = planCronJob(cj({ startingDeadlineSeconds: 10 }), [], min(5, 8));
    expect(onTime.create?.metadata.name).toBe(jobNameFor(cj(), min(5)));
  });
  it('warns about too many missed times and starts only the latest', () => {
    const p = planCronJob(cj(), [], min(500, 1));
    expect(p.events.map((e) => e.reason)).toContain('TooManyMissedTimes');
    expect(p.create?.metadata.name).toBe(jobNameFor(cj(), min(500)));
  });
  it('prunes finished Jobs beyond the history limits, oldest first, and records the last success', () => {
    const jobs = [job(1, 'Complete'), job(2, 'Complete'), job(3, 'Complete'), job(4, 'Failed'), job(5, 'Failed')];
    const p = planCronJob(cj({ successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1 }, { lastScheduleTime: '2026-01-01T00:05:00Z' }), jobs, min(5, 40));
    expect(p.prune.map((j) => j.metadata.uid).sort()).toEqual(['j1', 'j4']);
    expect(p.status.lastSuccessfulTime).toBe('2026-01-01T00:03:30Z');
    expect(p.status.active).toBeUndefined();
  });
});
