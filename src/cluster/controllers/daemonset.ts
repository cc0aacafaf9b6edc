import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { planDaemonSet } from './daemonset-core.js';
import { Informer } from '../client/informer.js';
import { clone, controllerRef, keyOf, type DaemonSet, type Node, type Pod } from './objects.js';

// The DaemonSet controller: reconcile(key) runs planDaemonSet over the cached DaemonSet, nodes
// and pods, creates missing daemon pods (bound to their node), deletes misplaced, surplus,
// failed and — within maxUnavailable — outdated ones, and writes the status counts. A node
// added, changed or removed re-queues every DaemonSet.

export class DaemonSetController {
  readonly controller: Controller;
  private readonly dsApi: ResourceApi<DaemonSet>;
  private readonly podApi: ResourceApi<Pod>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly dsInf: Informer<DaemonSet>,
    private readonly podInf: Informer<Pod>,
    private readonly nodeInf: Informer<Node>,
  ) {
    this.dsApi = dsInf.api;
    this.podApi = podInf.api;
    this.controller = new Controller({ name: 'daemonset', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    dsInf.addHandlers({ onAdd: (d) => this.controller.enqueue(keyOf(d)), onUpdate: (_o, d) => this.controller.enqueue(keyOf(d)) });
    const podChanged = (p: Pod) => {
      const ref = controllerRef(p);
      if (ref?.kind === 'DaemonSet') this.controller.enqueue(`${p.metadata.namespace}/${ref.name}`);
    };
    podInf.addHandlers({ onAdd: podChanged, onUpdate: (_o, p) => podChanged(p), onDelete: podChanged });
    const all = () => {
      for (const d of this.dsInf.list()) this.controller.enqueue(keyOf(d));
    };
    const nodeKey = (n: Node) => JSON.stringify([n.metadata.labels ?? {}, n.spec?.taints ?? [], n.metadata.deletionTimestamp ?? '']);
    nodeInf.addHandlers({ onAdd: all, onUpdate: (o, n) => nodeKey(o) !== nodeKey(n) && all(), onDelete: all });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.dsInf.get(key);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const ds = clone(cached);
    const plan = planDaemonSet(ds, this.nodeInf.list(), this.podInf.list((p) => p.metadata.namespace === ds.metadata.namespace), this.ctx.clock.now());
    for (const p of plan.remove) {
      // A pod on a node that is gone has no kubelet to finish a graceful deletion: force it (as Kubernetes' pod GC does).
      const orphan = p.spec.nodeName !== undefined && !this.nodeInf.get(p.spec.nodeName);
      try {
        await this.podApi.delete(p.metadata.namespace, p.metadata.name ?? '', { uid: p.metadata.uid ?? '', ...(orphan ? { gracePeriodSeconds: 0 } : {}) });
        this.ctx.events?.record(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name} on node ${p.spec.nodeName ?? ''}`);
      } catch (err) {
        if (!isWharfError(err, 'NotFound') && !isWharfError(err, 'Conflict')) throw err;
      }
    }
    for (const p of plan.create) {
      try {
        await this.podApi.create(p);
        this.ctx.events?.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata.name} on node ${p.spec.nodeName ?? ''}`);
      } catch (err) {
        if (isWharfError(err, 'AlreadyExists')) continue; // made by an earlier attempt; the cache will show it
        this.ctx.events?.record(ds, 'Warning', 'FailedCreate', `Error creating pod on node ${p.spec.nodeName ?? ''}: ${(err as Error).message}`);
        throw err;
      }
    }
    if (JSON.stringify(ds.status ?? {}) !== JSON.stringify(plan.status)) await this.dsApi.updateStatus({ ...ds, status: plan.status });
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
