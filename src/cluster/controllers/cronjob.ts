import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { planCronJob, withCreated } from './cronjob-core.js';
import { Informer } from '../client/informer.js';
import { clone, controllerRef, keyOf, type CronJob, type Job } from './objects.js';
import { ignoreNotFound } from './replicaset.js';

// The CronJob controller: reconcile(key) runs planCronJob on the cached CronJob and its Jobs,
// creates the Job for the most recent scheduled time (AlreadyExists means a previous attempt
// made it), deletes replaced and pruned Jobs (their pods go with them), writes the status, and
// asks to be called again at the next scheduled time of the injected clock.

export class CronJobController {
  readonly controller: Controller;
  private readonly cjApi: ResourceApi<CronJob>;
  private readonly jobApi: ResourceApi<Job>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly cjInf: Informer<CronJob>,
    private readonly jobInf: Informer<Job>,
  ) {
    this.cjApi = cjInf.api;
    this.jobApi = jobInf.api;
    this.controller = new Controller({ name: 'cronjob', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    cjInf.addHandlers({ onAdd: (c) => this.controller.enqueue(keyOf(c)), onUpdate: (_o, c) => this.controller.enqueue(keyOf(c)) });
    const jobChanged = (j: Job) => {
      const ref = controllerRef(j);
      if (ref?.kind === 'CronJob') this.controller.enqueue(`${j.metadata.namespace}/${ref.name}`);
    };
    jobInf.addHandlers({ onAdd: jobChanged, onUpdate: (_o, j) => jobChanged(j), onDelete: jobChanged });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.cjInf.get(key);
    if (!cached) return;
    const cj = clone(cached);
    const jobs = this.jobInf.list((j) => j.metadata.namespace === cj.metadata.namespace);
    const plan = planCronJob(cj, jobs, this.ctx.clock.now());
    for (const e of plan.events) this.ctx.events?.record(cj, e.type, e.reason, e.message);
    for (const j of plan.replace) {
      await ignoreNotFound(this.jobApi.delete(j.metadata.namespace, j.metadata.name ?? '', { propagationPolicy: 'Background', uid: j.metadata.uid ?? '' }));
      this.ctx.events?.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name} (concurrencyPolicy Replace)`);
    }
    if (plan.create) {
      let made: Job;
      try {
        made = await this.jobApi.create(plan.create);
        this.ctx.events?.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${made.metadata.name}`);
      } catch (err) {
        if (!isWharfError(err, 'AlreadyExists')) {
          this.ctx.events?.record(cj, 'Warning', 'FailedCreate', `Error creating job: ${(err as Error).message}`);
          throw err;
        }
        made = await this.jobApi.get(plan.create.metadata.namespace, plan.create.metadata.name ?? '');
        if (controllerRef(made)?.uid !== cj.metadata.uid) throw new Error(`job ${made.metadata.name} exists and is not owned by this CronJob`);
      }
      withCreated(plan, made);
    }
    for (const j of plan.prune) {
      await ignoreNotFound(this.jobApi.delete(j.metadata.namespace, j.metadata.name ?? '', { propagationPolicy: 'Background', uid: j.metadata.uid ?? '' }));
    }
    if (JSON.stringify(cj.status ?? {}) !== JSON.stringify(plan.status)) await this.cjApi.updateStatus({ ...cj, status: plan.status });
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
