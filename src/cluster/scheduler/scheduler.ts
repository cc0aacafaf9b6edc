// The scheduler loop: informer caches of nodes and pods feed a ClusterSnapshot; pending pods
// wait in a priority queue; each is placed by the pure SchedulerCore, assumed in the snapshot,
// and bound through the API (pods/{name}/binding with the pod's resourceVersion) without
// blocking the next cycle. A pod that fits nowhere gets PodScheduled=False (reason
// Unschedulable, the per-filter message) and a FailedScheduling Event, and is retried when
// the cluster changes. Preemption deletes the chosen victims and nominates the node.
import type { Clock } from '../../core/clock.js';
import { errorMessage, isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ResourceApi } from '../client/resource-api.js';
import type { EventSink } from '../client/event-recorder.js';
import { Informer } from '../client/informer.js';
import type { Obj } from '../controllers/objects.js';
import type { Node as K8sNode, Pod as K8sPod, PriorityClass } from './k8s-types.js';
import { SchedulingQueue, type QueueOptions } from './queue.js';
import { SchedulerCore, type SchedulerCoreOptions } from './scheduler-core.js';
import { ClusterSnapshot, PriorityClassTable, nodeInfoFromNode, podInfoFromPod, type PodInfo } from './snapshot.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string | null;
}

/** A pod as the loop reads and writes it (a subset of the API server's Pod). */
export type PodObj = Obj & Omit<K8sPod, 'metadata' | 'status'> & { status?: { phase?: string; conditions?: Condition[]; nominatedNodeName?: string; [k: string]: unknown } };
export type NodeObj = Obj & Omit<K8sNode, 'metadata'>;
export type PriorityClassObj = Obj & Omit<PriorityClass, 'metadata'>;

/** What the scheduler needs from the API (interfaces belong to their users). */
export interface SchedulerBackend {
  pods: ResourceApi<PodObj>;
  nodes: ResourceApi<NodeObj>;
  priorityClasses?: ResourceApi<PriorityClassObj>;
  /** POST pods/{name}/binding carrying the pod's uid and resourceVersion; Conflict when stale. */
  bind(pod: PodObj, nodeName: string): Promise<void>;
  events?: EventSink;
}

export interface SchedulerOptions {
  clock: Clock;
  log: Logger;
  schedulerName?: string;
  core?: SchedulerCoreOptions;
  queue?: QueueOptions;
  /** Binds in flight at once (binding does not block the next scheduling cycle). */
  maxInflightBinds?: number;
}

const keyOfPod = (p: { metadata: { namespace?: string; name?: string } }) => `${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}`;
const isTerminal = (p: PodObj) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const schedulingInput = (p: PodObj) => JSON.stringify([p.spec, p.metadata.labels ?? {}]);

export class Scheduler {
  readonly snapshot = new ClusterSnapshot();
  readonly core: SchedulerCore;
  readonly queue: SchedulingQueue;
  readonly pods: Informer<PodObj>;
  readonly nodes: Informer<NodeObj>;
  readonly priorityClassInformer: Informer<PriorityClassObj> | null;
  private readonly priorityClasses = new PriorityClassTable();
  private readonly assumed = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly schedulerName: string;
  private readonly log: Logger;
  /** Counters for tests and the through-the-API benchmark. */
  readonly stats = { attempts: 0, scheduled: 0, bound: 0, unschedulable: 0, bindFailures: 0, preemptions: 0 };

  constructor(
    private readonly backend: SchedulerBackend,
    private readonly opts: SchedulerOptions,
  ) {
    this.schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
    this.log = opts.log.child({ component: 'scheduler' });
    this.core = new SchedulerCore(this.snapshot, opts.core);
    this.queue = new SchedulingQueue(opts.clock, opts.queue);
    this.nodes = new Informer(backend.nodes, opts.clock, this.log);
    this.pods = new Informer(backend.pods, opts.clock, this.log);
    this.priorityClassInformer = backend.priorityClasses ? new Informer(backend.priorityClasses, opts.clock, this.log) : null;
    this.wire();
  }

  private wire(): void {
    this.priorityClassInformer?.addHandlers({
      onAdd: (c) => this.priorityClasses.set(c as unknown as PriorityClass),
      onUpdate: (_o, c) => this.priorityClasses.set(c as unknown as PriorityClass),
      onDelete: (c) => this.priorityClasses.delete(c.metadata.name ?? ''),
    });
    this.nodes.addHandlers({
      onAdd: (n) => this.upsertNode(n),
      onUpdate: (_o, n) => this.upsertNode(n),
      onDelete: (n) => this.snapshot.removeNode(n.metadata.name ?? ''),
    });
    this.pods.addHandlers({
      onAdd: (p) => this.podChanged(undefined, p),
      onUpdate: (o, p) => this.podChanged(o, p),
      onDelete: (p) => this.podDeleted(p),
    });
  }

  private upsertNode(n: NodeObj): void {
    try {
      this.snapshot.upsertNode(nodeInfoFromNode(n as unknown as K8sNode));
    } catch (err) {
      this.log.warn({ node: n.metadata.name, err: errorMessage(err) }, 'node ignored: cannot read its scheduling fields');
      this.snapshot.removeNode(n.metadata.name ?? '');
      return;
    }
    this.queue.moveAllToActive();
  }

  private podChanged(old: PodObj | undefined, p: PodObj): void {
    const key = keyOfPod(p);
    const nodeName = p.spec?.nodeName;
    if (nodeName) {
      this.queue.delete(key);
      this.assumed.delete(key);
      if (isTerminal(p)) {
        if (this.snapshot.removePod(key)) this.queue.moveAllToActive();
        return;
      }
      const placed = this.snapshot.pod(key);
      if (placed && placed.nodeName === nodeName && old && schedulingInput(old) === schedulingInput(p)) return;
      try {
        this.snapshot.addPod(podInfoFromPod(p as unknown as K8sPod, { priorityClasses: this.priorityClasses }), nodeName);
      } catch (err) {
        // A bound pod we cannot read still occupies its node: count it with no requests.
        this.log.warn({ pod: key, err: errorMessage(err) }, 'bound pod has invalid scheduling fields');
      }
      return;
    }
    if (this.assumed.has(key)) return; // bind in flight
    if (p.metadata.deletionTimestamp || isTerminal(p)) {
      this.queue.delete(key);
      return;
    }
    if ((p.spec?.schedulerName ?? DEFAULT_SCHEDULER_NAME) !== this.schedulerName) return;
    // Our own status writes change only the status: no reason to retry for those.
    if (old && this.queue.has(key) && schedulingInput(old) === schedulingInput(p)) return;
    this.queue.add(key, typeof p.spec?.priority === 'number' ? p.spec.priority : 0);
  }

  private podDeleted(p: PodObj): void {
    const key = keyOfPod(p);
    this.queue.delete(key);
    this.assumed.delete(key);
    if (this.snapshot.removePod(key)) this.queue.moveAllToActive();
  }

  /** Runs informers, the backoff timer and the scheduling loop until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const runs: Promise<void>[] = [this.nodes.run(signal), this.pods.run(signal)];
    if (this.priorityClassInformer) runs.push(this.priorityClassInformer.run(signal));
    const ticker = (async () => {
      while (!signal.aborted) {
        await this.opts.clock.sleep(250, signal).catch(() => undefined);
        this.queue.tick();
      }
    })();
    try {
      await Promise.all([this.nodes.waitForSync(signal), this.pods.waitForSync(signal), this.priorityClassInformer?.waitForSync(signal)]);
      this.log.info({ nodes: this.snapshot.nodes.length, pending: this.queue.size }, 'scheduler synced');
      await this.loop(signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      await Promise.allSettled([...runs, ticker, ...this.inflight]);
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const maxInflight = this.opts.maxInflightBinds ?? 64;
    while (!signal.aborted) {
      const key = await this.queue.pop(signal);
      await this.scheduleOne(key);
      if (this.inflight.size >= maxInflight) await Promise.race(this.inflight);
    }
  }

  /** One scheduling cycle for the pod with this key (exported for tests). */
  async scheduleOne(key: string): Promise<void> {
    const obj = this.pods.get(key);
    if (!obj || obj.spec?.nodeName || obj.metadata.deletionTimestamp || isTerminal(obj)) {
      this.queue.done(key);
      return;
    }
    this.stats.attempts++;
    let info: PodInfo;
    try {
      info = podInfoFromPod(obj as unknown as K8sPod, { priorityClasses: this.priorityClasses });
    } catch (err) {
      this.queue.park(key);
      await this.reportUnschedulable(obj, `pod cannot be scheduled: ${errorMessage(err)}`);
      return;
    }
    const r = this.core.schedule(info);
    if (r.status === 'Scheduled') {
      this.stats.scheduled++;
      this.snapshot.addPod(info, r.node);
      this.assumed.add(key);
      const p = this.bind(obj, info, r.node).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
      return;
    }
    this.stats.unschedulable++;
    this.queue.unschedulable(key);
    let message = r.message;
    if (r.preemption) {
      message += ` Preempting ${r.preemption.victims.length} pod(s) on node ${r.preemption.node}.`;
      await this.preempt(obj, r.preemption.node, r.preemption.victims);
    }
    await this.reportUnschedulable(obj, message, r.preemption?.node);
  }

  private async bind(obj: PodObj, info: PodInfo, node: string): Promise<void> {
    const key = info.key;
    try {
      await this.backend.bind(obj, node);
      this.stats.bound++;
      this.queue.done(key);
      this.backend.events?.record(obj, 'Normal', 'Scheduled', `Successfully assigned ${key} to ${node}`);
    } catch (err) {
      this.stats.bindFailures++;
      // Forget the assumption so the node's resources are free again.
      if (this.assumed.delete(key)) {
        const placed = this.snapshot.pod(key);
        if (placed === info) this.snapshot.removePod(key);
      }
      if (isWharfError(err, 'NotFound')) {
        this.queue.done(key);
        return;
      }
      this.log.info({ pod: key, node, err: errorMessage(err) }, 'binding failed; retrying after backoff');
      this.queue.backoff(key);
    }
  }

  private async preempt(obj: PodObj, node: string, victims: readonly PodInfo[]): Promise<void> {
    this.stats.preemptions++;
    for (const v of victims) {
      const vo = this.pods.get(v.key);
      try {
        await this.backend.pods.delete(v.namespace, v.name, v.uid ? { uid: v.uid } : {});
        if (vo) this.backend.events?.record(vo, 'Normal', 'Preempted', `Preempted by pod ${keyOfPod(obj)} on node ${node}`);
      } catch (err) {
        if (!isWharfError(err, 'NotFound')) this.log.warn({ pod: v.key, err: errorMessage(err) }, 'preemption: deleting victim failed');
      }
    }
  }

  private async reportUnschedulable(obj: PodObj, message: string, nominatedNode?: string): Promise<void> {
    this.backend.events?.record(obj, 'Warning', 'FailedScheduling', message);
    const conds = obj.status?.conditions ?? [];
    const cur = conds.find((c) => c.type === 'PodScheduled');
    if (cur && cur.status === 'False' && cur.reason === 'Unschedulable' && cur.message === message && obj.status?.nominatedNodeName === nominatedNode) return;
    const now = new Date(this.opts.clock.now()).toISOString();
    const cond: Condition = {
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message,
      lastProbeTime: null,
      lastTransitionTime: cur && cur.status === 'False' ? (cur.lastTransitionTime ?? now) : now,
    };
    const status = { ...(obj.status ?? {}), phase: obj.status?.phase ?? 'Pending', conditions: [...conds.filter((c) => c.type !== 'PodScheduled'), cond] };
    if (nominatedNode) status.nominatedNodeName = nominatedNode;
    try {
      await this.backend.pods.updateStatus({ ...obj, status });
    } catch (err) {
      // Stale resourceVersion or pod gone: the next attempt (or nobody) writes it.
      if (!isWharfError(err, 'Conflict') && !isWharfError(err, 'NotFound')) {
        this.log.warn({ pod: keyOfPod(obj), err: errorMessage(err) }, 'cannot record PodScheduled=False');
      }
    }
  }
}

/** Starts a scheduler; `stop()` aborts it and waits for in-flight work. For `wharf server` and `wharf scheduler`. */
export function startScheduler(backend: SchedulerBackend, opts: SchedulerOptions): { scheduler: Scheduler; done: Promise<void>; stop(): Promise<void> } {
  const scheduler = new Scheduler(backend, opts);
  const ac = new AbortController();
  const done = scheduler.run(ac.signal).catch((err: unknown) => {
    opts.log.error({ err: errorMessage(err) }, 'scheduler stopped with an error');
  });
  return {
    scheduler,
    done,
    stop: async () => {
      ac.abort(new Error('scheduler stopped'));
      await done;
    },
  };
}
