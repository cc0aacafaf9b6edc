import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { Informer } from '../client/informer.js';
import { clone, controllerRef, keyOf, type Pod, type Workflow } from './objects.js';
import { planWorkflow } from './workflow-core.js';

/** The Workflow controller: runs each Workflow's task DAG, one pod per task attempt. */
export class WorkflowController {
  readonly controller: Controller;
  private readonly wfApi: ResourceApi<Workflow>;
  private readonly podApi: ResourceApi<Pod>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly wfInf: Informer<Workflow>,
    private readonly podInf: Informer<Pod>,
  ) {
    this.wfApi = wfInf.api;
    this.podApi = podInf.api;
    this.controller = new Controller({ name: 'workflow', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    wfInf.addHandlers({ onAdd: (w) => this.controller.enqueue(keyOf(w)), onUpdate: (_o, w) => this.controller.enqueue(keyOf(w)) });
    const podChanged = (p: Pod) => {
      const ref = controllerRef(p);
      if (ref?.kind === 'Workflow') this.controller.enqueue(`${p.metadata.namespace}/${ref.name}`);
    };
    podInf.addHandlers({ onAdd: podChanged, onUpdate: (_o, p) => podChanged(p), onDelete: podChanged });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.wfInf.get(key);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const wf = clone(cached);
    const pods = this.podInf.list((p) => p.metadata.namespace === wf.metadata.namespace);
    const plan = planWorkflow(wf, pods, this.ctx.clock.now());
    for (const p of plan.create) {
      try {
        await this.podApi.create(p);
      } catch (err) {
        if (!isWharfError(err, 'AlreadyExists')) throw err; // same attempt, created before: fine
      }
    }
    for (const p of plan.remove) {
      try {
        await this.podApi.delete(p.metadata.namespace, p.metadata.name ?? '', { uid: p.metadata.uid ?? '' });
      } catch (err) {
        if (!isWharfError(err, 'NotFound')) throw err;
      }
    }
    if (JSON.stringify(wf.status ?? {}) !== JSON.stringify(plan.status)) {
      await this.wfApi.updateStatus({ ...wf, status: plan.status });
      for (const e of plan.events) this.ctx.events?.record(wf, e.type, e.reason, e.message);
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
