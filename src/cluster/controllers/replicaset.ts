import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Expectations } from './expectations.js';
import { Controller, type ReconcileResult } from './controller.js';
import { Informer } from '../client/informer.js';
import type { ControllerContext } from './context.js';
import { controllerRef, keyOf, matchesSelector, ownerRefTo, clone, type Pod, type ReplicaSet, type WorkloadStatus } from './objects.js';
import { compareForDeletion, isPodActive, isPodAvailable, isPodReady, nextAvailableIn, podFromTemplate } from './pods.js';

/** Pods created per reconcile at most (Kubernetes' burstReplicas). */
export const BURST_REPLICAS = 500;

export interface ReplicaSetPlan {
  /** Orphan pods matching the selector: take ownership. */
  adopt: Pod[];
  /** Owned pods that no longer match the selector: drop the ownerReference. */
  release: Pod[];
  /** New pods to create. */
  create: Pod[];
  /** Pods to delete, best victims first. */
  remove: Pod[];
  status: WorkloadStatus;
  requeueAfterMs?: number;
}

/** The ReplicaSet's pods after adoption and release (pure). */
export function claimPods(rs: ReplicaSet, pods: readonly Pod[]): { owned: Pod[]; adopt: Pod[]; release: Pod[] } {
  const uid = rs.metadata.uid;
  const owned: Pod[] = [];
  const adopt: Pod[] = [];
  const release: Pod[] = [];
  for (const p of pods) {
    if (p.metadata.namespace !== rs.metadata.namespace) continue;
    const ref = controllerRef(p);
    const matches = matchesSelector(rs.spec.selector, p.metadata.labels);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (matches) owned.push(p);
      else if (!p.metadata.deletionTimestamp) release.push(p);
    } else if (matches && !p.metadata.deletionTimestamp && !rs.metadata.deletionTimestamp && isPodActive(p)) {
      adopt.push(p);
      owned.push(p);
    }
  }
  return { owned, adopt, release };
}

/** What a ReplicaSet needs done so its active pods equal spec.replicas (pure). */
export function planReplicaSet(rs: ReplicaSet, pods: readonly Pod[], now: number): ReplicaSetPlan {
  const { owned, adopt, release } = claimPods(rs, pods);
  const active = owned.filter(isPodActive);
  const want = rs.metadata.deletionTimestamp ? active.length : (rs.spec.replicas ?? 1);
  const create: Pod[] = [];
  let remove: Pod[] = [];
  const diff = active.length - want;
  if (diff < 0) {
    const n = Math.min(-diff, BURST_REPLICAS);
    for (let i = 0; i < n; i++) create.push(podFromTemplate(rs.spec.template, rs, { generateName: `${rs.metadata.name}-` }));
  } else if (diff > 0) {
    remove = [...active].sort(compareForDeletion).slice(0, Math.min(diff, BURST_REPLICAS));
  }
  const minReady = rs.spec.minReadySeconds ?? 0;
  const status: WorkloadStatus = {
    ...(rs.status ?? {}),
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => matchesSelector({ matchLabels: rs.spec.template?.metadata?.labels ?? {} }, p.metadata.labels)).length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata.generation ?? 0,
  };
  const plan: ReplicaSetPlan = { adopt, release, create, remove, status };
  const next = nextAvailableIn(active, minReady, now);
  if (next !== undefined) plan.requeueAfterMs = next;
  return plan;
}

function statusChanged(a: WorkloadStatus | undefined, b: WorkloadStatus): boolean {
  return JSON.stringify(a ?? {}) !== JSON.stringify(b);
}

/** The ReplicaSet controller: informers on ReplicaSets and Pods, reconcile by RS key. */
export class ReplicaSetController {
  readonly controller: Controller;
  private readonly expectations: Expectations;
  private readonly rsApi: ResourceApi<ReplicaSet>;
  private readonly podApi: ResourceApi<Pod>;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly rsInformer: Informer<ReplicaSet>,
    private readonly podInformer: Informer<Pod>,
  ) {
    this.rsApi = rsInformer.api;
    this.podApi = podInformer.api;
    this.expectations = new Expectations(ctx.clock);
    this.controller = new Controller({ name: 'replicaset', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    rsInformer.addHandlers({
      onAdd: (rs) => this.controller.enqueue(keyOf(rs)),
      onUpdate: (_o, rs) => this.controller.enqueue(keyOf(rs)),
      onDelete: (rs) => {
        this.expectations.delete(keyOf(rs));
        this.controller.enqueue(keyOf(rs));
      },
    });
    const podChanged = (p: Pod, op: 'add' | 'update' | 'delete') => {
      const ref = controllerRef(p);
      if (ref) {
        if (ref.kind !== 'ReplicaSet') return;
        const key = `${p.metadata.namespace}/${ref.name}`;
        if (op === 'add') this.expectations.observedAdd(key);
        if (op === 'delete') this.expectations.observedDelete(key);
        this.controller.enqueue(key);
        return;
      }
      if (op === 'delete') return;
      for (const rs of this.rsInformer.list((r) => r.metadata.namespace === p.metadata.namespace && matchesSelector(r.spec.selector, p.metadata.labels))) {
        this.controller.enqueue(keyOf(rs));
      }
    };
    podInformer.addHandlers({
      onAdd: (p) => podChanged(p, 'add'),
      onUpdate: (o, p) => {
        const a = controllerRef(o);
        const b = controllerRef(p);
        if (a && a.kind === 'ReplicaSet' && a.uid !== b?.uid) this.controller.enqueue(`${o.metadata.namespace}/${a.name}`);
        podChanged(p, 'update');
      },
      onDelete: (p) => podChanged(p, 'delete'),
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.rsInformer.get(key);
    if (!cached) return;
    const rs = clone(cached);
    const pods = this.podInformer.list((p) => p.metadata.namespace === rs.metadata.namespace);
    const plan = planReplicaSet(rs, pods, this.ctx.clock.now());
    const synced = this.expectations.satisfied(key);
    for (const p of plan.adopt) {
      const np = clone(p);
      np.metadata.ownerReferences = [...(np.metadata.ownerReferences ?? []), ownerRefTo(rs)];
      await ignoreNotFound(this.podApi.update(np));
    }
    for (const p of plan.release) {
      const np = clone(p);
      np.metadata.ownerReferences = (np.metadata.ownerReferences ?? []).filter((r) => r.uid !== rs.metadata.uid);
      await ignoreNotFound(this.podApi.update(np));
    }
    if (synced && (plan.create.length > 0 || plan.remove.length > 0)) {
      this.expectations.expect(key, plan.create.length, plan.remove.length);
      for (let i = 0; i < plan.create.length; i++) {
        try {
          await this.podApi.create(plan.create[i]!);
        } catch (err) {
          this.expectations.lower(key, plan.create.length - i, plan.remove.length);
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
      if (plan.create.length > 0) this.ctx.events?.record(rs, 'Normal', 'SuccessfulCreate', `Created ${plan.create.length} pod(s)`);
      if (plan.remove.length > 0) this.ctx.events?.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod(s): ${plan.remove.map((p) => p.metadata.name).join(', ')}`);
    }
    if (statusChanged(rs.status, plan.status)) {
      await this.rsApi.updateStatus({ ...rs, status: plan.status });
    }
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}

export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isWharfError(err, 'NotFound')) return undefined;
    throw err;
  }
}
