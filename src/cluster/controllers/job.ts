import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { Expectations } from './expectations.js';
import { Informer } from '../client/informer.js';
import { DEFAULT_JOB_TIMING, planJob, type JobTiming } from './job-core.js';
import { clone, controllerRef, keyOf, type Job, type Pod } from './objects.js';
import { ignoreNotFound } from './replicaset.js';

export class JobController {
  readonly controller: Controller;
  private readonly expectations: Expectations;
  private readonly jobApi: ResourceApi<Job>;
  private readonly podApi: ResourceApi<Pod>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly jobInf: Informer<Job>,
    private readonly podInf: Informer<Pod>,
    private readonly timing: JobTiming = DEFAULT_JOB_TIMING,
  ) {
    this.jobApi = jobInf.api;
    this.podApi = podInf.api;
    this.expectations = new Expectations(ctx.clock);
    this.controller = new Controller({ name: 'job', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    jobInf.addHandlers({
      onAdd: (j) => this.controller.enqueue(keyOf(j)),
      onUpdate: (_o, j) => this.controller.enqueue(keyOf(j)),
      onDelete: (j) => this.expectations.delete(keyOf(j)),
    });
    const podChanged = (p: Pod, op: 'add' | 'update' | 'delete') => {
      const ref = controllerRef(p);
      if (ref?.kind !== 'Job') return;
      const key = `${p.metadata.namespace}/${ref.name}`;
      if (op === 'add') this.expectations.observedAdd(key);
      if (op === 'delete') this.expectations.observedDelete(key);
      this.controller.enqueue(key);
    };
    podInf.addHandlers({ onAdd: (p) => podChanged(p, 'add'), onUpdate: (_o, p) => podChanged(p, 'update'), onDelete: (p) => podChanged(p, 'delete') });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.jobInf.get(key);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const job = clone(cached);
    if (!this.expectations.satisfied(key)) return { requeueAfterMs: 1000 };
    const pods = this.podInf.list((p) => p.metadata.namespace === job.metadata.namespace);
    const plan = planJob(job, pods, this.ctx.clock.now(), this.timing);
    if (plan.deleteJob) {
      await ignoreNotFound(this.jobApi.delete(job.metadata.namespace, job.metadata.name ?? '', { propagationPolicy: 'Background', uid: job.metadata.uid ?? '' }));
      return;
    }
    if (plan.create.length > 0 || plan.remove.length > 0) this.expectations.expect(key, plan.create.length, plan.remove.length);
    for (let i = 0; i < plan.create.length; i++) {
      try {
        await this.podApi.create(plan.create[i]!);
      } catch (err) {
        this.expectations.lower(key, plan.create.length - i, plan.remove.length);
        this.ctx.events?.record(job, 'Warning', 'FailedCreate', `Error creating pod: ${(err as Error).message}`);
        throw err;
      }
    }
    for (const p of plan.remove) {
      try {
        await this.podApi.delete(p.metadata.namespace, p.metadata.name ?? '', { uid: p.metadata.uid ?? '' });
      } catch (err) {
        this.expectations.lower(key, 0, 1);
        if (!isWharfError(err, 'NotFound')) throw err;
      }
    }
    if (plan.event) this.ctx.events?.record(job, plan.event.type, plan.event.reason, plan.event.message);
    if (JSON.stringify(job.status ?? {}) !== JSON.stringify(plan.status)) await this.jobApi.updateStatus({ ...job, status: plan.status });
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: Math.max(1, plan.requeueAfterMs) } : undefined;
  }
}
