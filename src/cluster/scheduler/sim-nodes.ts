// Simulated nodes (like KWOK / kubemark): registers N nodes with capacities and labels,
// heartbeats them through Leases (kube-node-lease), and moves pods bound to them through
// their phases without starting containers: Running at once, and for pods annotated with
// sim.wharf.dev/run-seconds, Succeeded (or Failed when sim.wharf.dev/exit-code is not 0)
// after that time. The real node agent uses the same contracts.
import type { Clock } from '../../core/clock.js';
import { errorMessage, isWharfError, WharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Informer } from '../client/informer.js';
import type { Obj } from '../controllers/objects.js';
import type { NodeObj, PodObj } from './scheduler.js';

export const RUN_SECONDS_ANNOTATION = 'sim.wharf.dev/run-seconds';
export const EXIT_CODE_ANNOTATION = 'sim.wharf.dev/exit-code';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface SimNodeShape {
  cpu: string;
  memory: string;
  pods: number;
  ephemeralStorage: string;
}

export interface SimNodesOptions {
  clock: Clock;
  log: Logger;
  count: number;
  namePrefix?: string; // "sim-node" -> sim-node-0, sim-node-1, ...
  shape?: Partial<SimNodeShape>;
  /** Extra labels on every node; each node also gets topology.kubernetes.io/zone = zone-(i % zones). */
  labels?: Record<string, string>;
  zones?: number;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  heartbeatSeconds?: number; // 10
  leaseDurationSeconds?: number; // 40
}

export interface SimNodesApi {
  nodes: ResourceApi<NodeObj>;
  pods: ResourceApi<PodObj>;
  leases: ResourceApi<Obj>;
}

export function simNodeNames(count: number, prefix = 'sim-node'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

export class SimNodes {
  readonly names: string[];
  private readonly mine: Set<string>;
  private readonly started = new Set<string>(); // pods moved to Running (by uid)
  private readonly timers = new Set<Promise<void>>();
  readonly stats = { running: 0, succeeded: 0, failed: 0, heartbeats: 0 };
  private readonly log: Logger;

  constructor(
    private readonly api: SimNodesApi,
    private readonly opts: SimNodesOptions,
  ) {
    if (!Number.isInteger(opts.count) || opts.count < 1) throw new Error('sim-nodes: --count must be a positive integer');
    this.names = simNodeNames(opts.count, opts.namePrefix);
    this.mine = new Set(this.names);
    this.log = opts.log.child({ component: 'sim-nodes' });
  }

  nodeObject(name: string, i: number): NodeObj {
    const s: SimNodeShape = { cpu: '8', memory: '32Gi', pods: 110, ephemeralStorage: '100Gi', ...(this.opts.shape ?? {}) };
    const resources = { cpu: s.cpu, memory: s.memory, pods: String(s.pods), 'ephemeral-storage': s.ephemeralStorage };
    const now = new Date(this.opts.clock.now()).toISOString();
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name,
        labels: {
          'kubernetes.io/hostname': name,
          'kubernetes.io/os': 'linux',
          'topology.kubernetes.io/zone': `zone-${i % (this.opts.zones ?? 1)}`,
          'type': 'sim',
          ...(this.opts.labels ?? {}),
        },
        annotations: { 'sim.wharf.dev/simulated': 'true' },
      },
      spec: this.opts.taints ? { taints: this.opts.taints } : {},
      status: {
        capacity: resources,
        allocatable: resources,
        conditions: [{ type: 'Ready', status: 'True', reason: 'SimulatedReady', message: 'simulated node is ready', lastHeartbeatTime: now, lastTransitionTime: now }],
        nodeInfo: { kubeletVersion: 'wharf-sim', operatingSystem: 'linux', architecture: 'amd64' },
      },
    } as unknown as NodeObj;
  }

  /** Creates (or refreshes) the nodes and their Leases. */
  async register(): Promise<void> {
    await pool(this.names.map((name, i) => async () => {
      const obj = this.nodeObject(name, i);
      try {
        await this.api.nodes.create(obj);
      } catch (err) {
        if (!isWharfError(err, 'AlreadyExists')) throw err;
        const cur = await this.api.nodes.get(undefined, name);
        const next = { ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata.resourceVersion } };
        const updated = await this.api.nodes.update(next);
        await this.api.nodes.updateStatus({ ...updated, status: obj.status } as NodeObj);
      }
      await this.renewLease(name);
    }), 16);
  }

  private async renewLease(name: string): Promise<void> {
    const now = new Date(this.opts.clock.now()).toISOString();
    const spec = { holderIdentity: name, leaseDurationSeconds: this.opts.leaseDurationSeconds ?? 40, renewTime: now };
    try {
      const cur = await this.api.leases.get(NODE_LEASE_NAMESPACE, name);
      await this.api.leases.update({ ...cur, spec: { ...((cur.spec as object) ?? {}), ...spec } });
    } catch (err) {
      if (!isWharfError(err, 'NotFound')) throw err;
      await this.api.leases.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: NODE_LEASE_NAMESPACE },
        spec: { ...spec, acquireTime: now },
      });
    }
    this.stats.heartbeats++;
  }

  /** Registers the nodes, then heartbeats them and drives their pods until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await this.register();
    const pods = new Informer(this.api.pods, this.opts.clock, this.log);
    pods.addHandlers({ onAdd: (p) => this.onPod(p, signal), onUpdate: (_o, p) => this.onPod(p, signal) });
    const informer = pods.run(signal);
    const heartbeat = (async () => {
      while (!signal.aborted) {
        await this.opts.clock.sleep((this.opts.heartbeatSeconds ?? 10) * 1000, signal).catch(() => undefined);
        if (signal.aborted) break;
        await pool(this.names.map((n) => () => this.renewLease(n).catch((err: unknown) => this.log.warn({ node: n, err: errorMessage(err) }, 'lease renewal failed'))), 16);
      }
    })();
    await Promise.allSettled([informer, heartbeat]);
    await Promise.allSettled([...this.timers]);
  }

  private onPod(p: PodObj, signal: AbortSignal): void {
    const node = p.spec?.nodeName;
    if (!node || !this.mine.has(node)) return;
    const uid = p.metadata.uid ?? p.metadata.name ?? '';
    if (p.metadata.deletionTimestamp) {
      // The "kubelet" finishes a graceful deletion at once.
      this.track(this.api.pods.delete(p.metadata.namespace, p.metadata.name ?? '', { gracePeriodSeconds: 0, uid }).catch(() => undefined));
      return;
    }
    if (this.started.has(uid)) return;
    const phase = p.status?.phase;
    // Pending: start it. Running but not ours in memory: this process (or the server) restarted
    // while it ran, so adopt it and finish it on time, as a kubelet does after its own restart.
    if (phase && phase !== 'Pending' && phase !== 'Running') return;
    this.started.add(uid);
    this.track(this.drive(p, signal));
  }

  private track(p: Promise<void>): void {
    this.timers.add(p);
    void p.finally(() => this.timers.delete(p));
  }

  /** Moves one pod to Running, then (for run-to-completion pods) to Succeeded/Failed. A status
   * write that fails because the API server is away is retried until it lands or the pod is gone. */
  private async drive(p: PodObj, signal: AbortSignal): Promise<void> {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    const ns = p.metadata.namespace;
    const name = p.metadata.name ?? '';
    try {
      const cond = (type: string, at: string) => ({ type, status: 'True' as const, lastTransitionTime: at });
      const containersOf = (pod: PodObj, at: string) =>
        (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: at } } }));
      let startedAt: string;
      let containers: ReturnType<typeof containersOf>;
      let cur = await this.retry(() => this.api.pods.get(ns, name), signal);
      if (cur.metadata.uid !== p.metadata.uid) return;
      if (cur.status?.phase === 'Running' && cur.status.startTime) {
        startedAt = String(cur.status.startTime);
        containers = containersOf(cur, startedAt);
      } else if (!cur.status?.phase || cur.status.phase === 'Pending') {
        startedAt = new Date(this.opts.clock.now()).toISOString();
        containers = containersOf(cur, startedAt);
        const at = startedAt;
        cur = await this.retry(async () => {
          const fresh = await this.api.pods.get(ns, name);
          if (fresh.metadata.uid !== p.metadata.uid) throw new WharfError('NotFound', `pod ${key} was replaced`);
          return this.api.pods.updateStatus({
            ...fresh,
            status: {
              ...(fresh.status ?? {}),
              phase: 'Running',
              hostIP: '127.0.0.1',
              podIP: '127.0.0.1',
              startTime: at,
              conditions: [cond('PodScheduled', at), cond('Initialized', at), cond('ContainersReady', at), cond('Ready', at)],
              containerStatuses: containers,
            },
          });
        }, signal);
        this.stats.running++;
      } else {
        return; // already finished
      }
      const annotations = cur.metadata.annotations ?? {};
      const runSeconds = Number(annotations[RUN_SECONDS_ANNOTATION]);
      if (annotations[RUN_SECONDS_ANNOTATION] === undefined || !Number.isFinite(runSeconds)) return;
      const remainingMs = Math.max(0, runSeconds * 1000 - (this.opts.clock.now() - Date.parse(startedAt)));
      await this.opts.clock.sleep(remainingMs, signal);
      const exitCode = Number(annotations[EXIT_CODE_ANNOTATION] ?? 0) || 0;
      const end = new Date(this.opts.clock.now()).toISOString();
      const phase = exitCode === 0 ? 'Succeeded' : 'Failed';
      const done = await this.retry(async () => {
        const latest = await this.api.pods.get(ns, name);
        if (latest.metadata.uid !== p.metadata.uid) throw new WharfError('NotFound', `pod ${key} was replaced`);
        if (latest.status?.phase === 'Succeeded' || latest.status?.phase === 'Failed') return false;
        await this.api.pods.updateStatus({
          ...latest,
          status: {
            ...(latest.status ?? {}),
            phase,
            conditions: [cond('PodScheduled', startedAt), cond('Initialized', startedAt), { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: end }, { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: end }],
            containerStatuses: containers.map((c) => ({
              ...c,
              ready: false,
              started: false,
              state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: end } },
            })),
          },
        });
        return true;
      }, signal);
      if (!done) return;
      if (exitCode === 0) this.stats.succeeded++;
      else this.stats.failed++;
    } catch (err) {
      if (signal.aborted || isWharfError(err, 'NotFound')) return;
      this.log.warn({ pod: key, err: errorMessage(err) }, 'sim-nodes: pod status update failed');
      this.started.delete(p.metadata.uid ?? p.metadata.name ?? '');
    }
  }

  /** Retries `f` while the API server is unreachable or the write conflicts (backoff up to 2 s);
   * NotFound and other refusals end it. */
  private async retry<R>(f: () => Promise<R>, signal: AbortSignal): Promise<R> {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await f();
      } catch (err) {
        if (signal.aborted || !(isWharfError(err, 'Unavailable') || isWharfError(err, 'Conflict') || isWharfError(err, 'Internal'))) throw err;
        this.log.debug({ err: errorMessage(err) }, 'sim-nodes: retrying a pod status write');
        await this.opts.clock.sleep(delay, signal);
      }
    }
  }
}

/** Runs tasks with at most `limit` at once. */
async function pool(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
