import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { Informer } from '../client/informer.js';
import { clone, getCondition, keyOf, setCondition, type Lease, type Node, type Pod, type Taint, type Toleration } from './objects.js';

// Node lifecycle: nodes heartbeat by renewing a Lease named after the node in
// kube-node-lease (cheap writes; see the store's compaction). A node whose lease (or,
// without one, Ready condition heartbeat) is older than the grace period gets
// Ready=Unknown and the NoExecute taint node.kubernetes.io/unreachable; a pod on it is
// evicted (deleted) when its toleration of that taint runs out (tolerationSeconds after
// the taint was added; the API server defaults it to 300 s), and the pod's controller
// makes a replacement elsewhere. When the lease is renewed again the taint is removed.

export const UNREACHABLE = 'node.kubernetes.io/unreachable';
export const NODE_LEASE_NS = 'kube-node-lease';

export interface NodeLifecycleOptions {
  /** How stale a heartbeat may be before the node is unreachable. Kubernetes: 40 s. */
  gracePeriodMs?: number;
  /** How often every node is checked. Kubernetes: 5 s. */
  monitorPeriodMs?: number;
}

/** Seconds a pod tolerates a NoExecute taint: undefined = forever, 0 = not at all. */
export function tolerationSecondsFor(tolerations: readonly Toleration[] | undefined, taint: Taint): number | undefined | 0 {
  let best: number | undefined | 0 = 0;
  let matched = false;
  for (const t of tolerations ?? []) {
    const effectOk = !t.effect || t.effect === taint.effect;
    const keyOk = t.operator === 'Exists' ? t.key === undefined || t.key === '' || t.key === taint.key : t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
    if (!effectOk || !keyOk) continue;
    if (t.tolerationSeconds === undefined) return undefined;
    const s = Math.max(0, t.tolerationSeconds);
    best = matched ? Math.max(best ?? 0, s) : s;
    matched = true;
  }
  return best;
}

export interface NodeVerdict {
  unreachable: boolean;
  /** ms until the node would become unreachable, when it is not. */
  expiresInMs?: number;
}

export function judgeNode(node: Node, lease: Lease | undefined, now: number, graceMs: number): NodeVerdict {
  const beat = lease?.spec?.renewTime ?? getCondition(node.status?.conditions, 'Ready')?.lastHeartbeatTime ?? node.metadata.creationTimestamp;
  const t = beat ? Date.parse(beat) : 0;
  const left = t + graceMs - now;
  return left <= 0 ? { unreachable: true } : { unreachable: false, expiresInMs: left };
}

export class NodeLifecycleController {
  readonly controller: Controller;
  private readonly nodeApi: ResourceApi<Node>;
  private readonly podApi: ResourceApi<Pod>;
  private readonly grace: number;
  private readonly period: number;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly nodeInf: Informer<Node>,
    private readonly leaseInf: Informer<Lease>,
    private readonly podInf: Informer<Pod>,
    opts: NodeLifecycleOptions = {},
  ) {
    this.nodeApi = nodeInf.api;
    this.podApi = podInf.api;
    this.grace = opts.gracePeriodMs ?? 40_000;
    this.period = opts.monitorPeriodMs ?? 5_000;
    this.controller = new Controller({ name: 'node-lifecycle', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    nodeInf.addHandlers({ onAdd: (n) => this.controller.enqueue(keyOf(n)), onUpdate: (_o, n) => this.controller.enqueue(keyOf(n)) });
    leaseInf.addHandlers({
      onUpdate: (o, l) => {
        if (l.metadata.namespace === NODE_LEASE_NS && o.spec?.holderIdentity === l.spec?.holderIdentity) {
          const n = this.nodeInf.get(l.metadata.name ?? '');
          // only a change that matters: a node that was marked unreachable renewed its lease
          if (n && (n.spec?.taints ?? []).some((t) => t.key === UNREACHABLE)) this.controller.enqueue(keyOf(n));
        }
      },
      onAdd: (l) => {
        if (l.metadata.namespace === NODE_LEASE_NS) this.controller.enqueue(l.metadata.name ?? '');
      },
    });
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cached = this.nodeInf.get(key);
    if (!cached) return;
    const node = clone(cached);
    const now = this.ctx.clock.now();
    const nowIso = new Date(now).toISOString();
    const lease = this.leaseInf.get(`${NODE_LEASE_NS}/${key}`);
    const v = judgeNode(node, lease, now, this.grace);
    const taints = node.spec?.taints ?? [];
    const tainted = taints.find((t) => t.key === UNREACHABLE && t.effect === 'NoExecute');
    if (v.unreachable && !tainted) {
      node.spec = { ...(node.spec ?? {}), taints: [...taints, { key: UNREACHABLE, effect: 'NoExecute', timeAdded: nowIso }] };
      const updated = await this.nodeApi.update(node);
      updated.status = {
        ...(updated.status ?? {}),
        conditions: setCondition(updated.status?.conditions, { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Node stopped posting its heartbeat (lease not renewed).' }, nowIso),
      };
      await this.nodeApi.updateStatus(updated);
      this.ctx.events?.record(node, 'Normal', 'NodeNotReady', `Node ${key} status is now: NodeNotReady`);
      return { requeueAfterMs: 1 };
    }
    if (!v.unreachable && tainted) {
      node.spec = { ...(node.spec ?? {}), taints: taints.filter((t) => t !== tainted) };
      const updated = await this.nodeApi.update(node);
      if (getCondition(updated.status?.conditions, 'Ready')?.reason === 'NodeStatusUnknown') {
        updated.status = { ...(updated.status ?? {}), conditions: setCondition(updated.status?.conditions, { type: 'Ready', status: 'True', reason: 'NodeLeaseRenewed', message: 'Node renewed its lease.' }, nowIso) };
        await this.nodeApi.updateStatus(updated);
      }
      this.ctx.events?.record(node, 'Normal', 'NodeReady', `Node ${key} status is now: NodeReady`);
      return { requeueAfterMs: this.period };
    }
    if (!tainted) return { requeueAfterMs: Math.min(this.period, v.expiresInMs ?? this.period) };
    // tainted: evict pods whose toleration ran out
    const since = Date.parse(tainted.timeAdded ?? nowIso);
    let next = this.period;
    for (const p of this.podInf.list((x) => x.spec.nodeName === key && !x.metadata.deletionTimestamp)) {
      if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const secs = tolerationSecondsFor(p.spec.tolerations, tainted);
      if (secs === undefined) continue;
      const due = since + secs * 1000 - now;
      if (due > 0) {
        next = Math.min(next, due);
        continue;
      }
      try {
        await this.podApi.delete(p.metadata.namespace, p.metadata.name ?? '', { uid: p.metadata.uid ?? '' });
        this.ctx.events?.record(p, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${keyOf(p)}`);
      } catch (err) {
        this.ctx.log.debug({ err, pod: keyOf(p) }, 'eviction failed');
      }
    }
    return { requeueAfterMs: Math.max(1, next) };
  }
}
