import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { planDeployment, REVISION } from './deployment-core.js';
import { Informer } from '../client/informer.js';
import { clone, controllerRef, keyOf, matchesSelector, type Deployment, type Pod, type ReplicaSet } from './objects.js';
import { ignoreNotFound } from './replicaset.js';

/** The Deployment controller: manages ReplicaSets (one per pod template) for each Deployment. */
export class DeploymentController {
  readonly controller: Controller;
  private readonly dApi: ResourceApi<Deployment>;
  private readonly rsApi: ResourceApi<ReplicaSet>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly dInf: Informer<Deployment>,
    private readonly rsInf: Informer<ReplicaSet>,
    private readonly podInf: Informer<Pod>,
  ) {
    this.dApi = dInf.api;
    this.rsApi = rsInf.api;
    this.controller = new Controller({ name: 'deployment', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    const enqueueD = (d: Deployment) => this.controller.enqueue(keyOf(d));
    dInf.addHandlers({ onAdd: enqueueD, onUpdate: (_o, d) => enqueueD(d), onDelete: enqueueD });
    const rsChanged = (rs: ReplicaSet) => {
      const ref = controllerRef(rs);
      if (ref) {
        if (ref.kind === 'Deployment') this.controller.enqueue(`${rs.metadata.namespace}/${ref.name}`);
        return;
      }
      for (const d of this.dInf.list((x) => x.metadata.namespace === rs.metadata.namespace && matchesSelector(x.spec.selector, rs.spec.template?.metadata?.labels))) enqueueD(d);
    };
    rsInf.addHandlers({ onAdd: rsChanged, onUpdate: (_o, rs) => rsChanged(rs), onDelete: rsChanged });
    const podChanged = (p: Pod) => {
      const ref = controllerRef(p);
      if (ref?.kind !== 'ReplicaSet') return;
      const rs = this.rsInf.get(`${p.metadata.namespace}/${ref.name}`);
      if (rs) rsChanged(rs);
    };
    podInf.addHandlers({ onAdd: podChanged, onUpdate: (_o, p) => podChanged(p), onDelete: podChanged });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.dInf.get(key);
    if (!cached) return;
    const d = clone(cached);
    const ns = d.metadata.namespace;
    const rss = this.rsInf.list((r) => r.metadata.namespace === ns);
    const pods = this.podInf.list((p) => p.metadata.namespace === ns);
    let plan;
    try {
      plan = planDeployment(d, rss, pods, this.ctx.clock.now());
    } catch (err) {
      // bad input the API could not catch (e.g. an unparsable maxSurge): report, do not crash-loop
      this.ctx.events?.record(d, 'Warning', 'InvalidSpec', String((err as Error).message));
      return;
    }
    for (const rs of plan.adopt) await ignoreNotFound(this.rsApi.update(rs));
    if (plan.create) {
      try {
        await this.rsApi.create(plan.create);
        this.ctx.events?.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${plan.create.metadata.name} to ${plan.create.spec.replicas}`);
      } catch (err) {
        if (!isWharfError(err, 'AlreadyExists')) throw err;
        const existing = await this.rsApi.get(ns, plan.create.metadata.name ?? '');
        if (controllerRef(existing)?.uid !== d.metadata.uid) {
          // a hash collision with someone else's ReplicaSet: change the hash and retry
          const next = { ...d, status: { ...(d.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 } };
          await this.dApi.updateStatus(next);
          return;
        }
        throw err; // our own ReplicaSet, not yet in the cache: retry after backoff
      }
    }
    for (const rs of plan.update) {
      const old = rss.find((r) => r.metadata.name === rs.metadata.name);
      await this.rsApi.update(rs);
      if (old && (old.spec.replicas ?? 0) !== (rs.spec.replicas ?? 0)) {
        const verb = (rs.spec.replicas ?? 0) > (old.spec.replicas ?? 0) ? 'up' : 'down';
        this.ctx.events?.record(d, 'Normal', 'ScalingReplicaSet', `Scaled ${verb} replica set ${rs.metadata.name} to ${rs.spec.replicas}`);
      }
    }
    for (const rs of plan.remove) {
      await ignoreNotFound(this.rsApi.delete(ns, rs.metadata.name ?? '', { uid: rs.metadata.uid ?? '' }));
    }
    let cur = d;
    if (plan.revision) {
      cur = await this.dApi.update({ ...d, metadata: { ...d.metadata, annotations: { ...(d.metadata.annotations ?? {}), [REVISION]: plan.revision } } });
    }
    if (JSON.stringify(cur.status ?? {}) !== JSON.stringify(plan.status)) {
      await this.dApi.updateStatus({ ...cur, status: plan.status });
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
