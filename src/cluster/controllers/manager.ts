import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { isWharfError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { ClusterClient } from '../client/cluster-client.js';
import type { ClientConfig } from '../client/config.js';
import { LeaderElector } from '../leader-election.js';
import type { ClusterApi, ResourceApi } from '../client/resource-api.js';
import type { ControllerContext } from './context.js';
import { CronJobController } from './cronjob.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { EventRecorder } from '../client/event-recorder.js';
import { GarbageCollector, NamespaceController } from './gc.js';
import { Informer } from '../client/informer.js';
import { JobController } from './job.js';
import { DEFAULT_JOB_TIMING, type JobTiming } from './job-core.js';
import { NodeLifecycleController, type NodeLifecycleOptions } from './node-lifecycle.js';
import type { CronJob, DaemonSet, Deployment, Job, KEvent, Lease, Node, Obj, Pod, ReplicaSet, Workflow } from './objects.js';
import { PersistentVolumeController, defaultStorageClass } from './persistent-volume.js';
import { ReplicaSetController } from './replicaset.js';
import { WorkflowController } from './workflow.js';

// The controller manager: every controller over shared informers, run only while this
// process holds the `wharf-controller-manager` Lease in kube-system (when several
// `wharf server`s share one etcd, exactly one acts).

export interface ControllerManagerOptions {
  clock: Clock;
  log: Logger;
  /** Default: leader election on; false runs the controllers unconditionally. */
  leaderElection?: boolean;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  workers?: number;
  jobTiming?: Partial<JobTiming>;
  node?: NodeLifecycleOptions;
  /**
   * Which controllers to run, like kube-controller-manager's --controllers: names, `*` for all,
   * `-name` to leave one out. Default all. Names: replicaset, deployment, job, workflow, cronjob,
   * daemonset, node-lifecycle, persistentvolume-binder, garbage-collector, namespace.
   */
  controllers?: string[];
  /** Finalize a namespace (PUT namespaces/NAME/finalize). Without it, namespace deletion is left to others. */
  finalizeNamespace?: (ns: Obj) => Promise<unknown>;
}

export interface RunningControllerManager {
  isLeader(): boolean;
  stop(): Promise<void>;
}

/** The controller manager as a client of an API server over HTTP (what `wharf server` runs). */
export function startControllerManagerHttp(conn: ClientConfig, opts: ControllerManagerOptions): RunningControllerManager {
  const cluster = new ClusterClient(conn);
  const cm = startControllerManager(cluster, { finalizeNamespace: (ns) => cluster.finalizeNamespace(ns), ...opts });
  return {
    isLeader: () => cm.isLeader(),
    stop: async () => {
      await cm.stop();
      await cluster.close();
    },
  };
}

/** Starts the controllers; resolves at once (they run until stop()). */
export function startControllerManager(cluster: ClusterApi, opts: ControllerManagerOptions): RunningControllerManager {
  const outer = new AbortController();
  let leading = false;
  const runControllers = async (signal: AbortSignal): Promise<void> => {
    leading = true;
    try {
      await runAll(cluster, opts, signal);
    } finally {
      leading = false;
    }
  };
  let done: Promise<void>;
  let elector: LeaderElector | undefined;
  if (opts.leaderElection === false) {
    done = runControllers(outer.signal);
  } else {
    elector = new LeaderElector({
      leases: cluster.resource<Lease>('coordination.k8s.io/v1', 'Lease'),
      namespace: 'kube-system',
      name: 'wharf-controller-manager',
      identity: opts.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
      clock: opts.clock,
      log: opts.log.child({ component: 'leader-election' }),
      ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
      onStartedLeading: (signal) => runControllers(signal),
    });
    done = elector.run(outer.signal);
  }
  const guarded = done.catch((err: unknown) => opts.log.error({ err }, 'controller manager stopped with an error'));
  return {
    isLeader: () => leading,
    stop: async () => {
      outer.abort();
      await guarded;
    },
  };
}

export const CONTROLLER_NAMES = ['replicaset', 'deployment', 'job', 'workflow', 'cronjob', 'daemonset', 'node-lifecycle', 'persistentvolume-binder', 'garbage-collector', 'namespace'] as const;

/** kube-controller-manager's --controllers rule: an explicit `-name` disables, `name` or `*` enables. */
export function controllerEnabled(name: string, list: readonly string[] | undefined): boolean {
  if (!list) return true;
  if (list.includes(`-${name}`)) return false;
  return list.includes(name) || list.includes('*');
}

async function runAll(cluster: ClusterApi, opts: ControllerManagerOptions, signal: AbortSignal): Promise<void> {
  const { clock } = opts;
  const log = opts.log.child({ component: 'controller-manager' });
  const events = new EventRecorder(cluster.resource<KEvent>('v1', 'Event'), clock, log);
  const ctx: ControllerContext = { clock, log, events, ...(opts.workers ? { workers: opts.workers } : {}) };
  const inf = <T extends Obj>(apiVersion: string, kind: string, namespace?: string) =>
    new Informer<T>(cluster.resource<T>(apiVersion, kind), clock, log, namespace ? { namespace } : {});
  const pods = inf<Pod>('v1', 'Pod');
  const rss = inf<ReplicaSet>('apps/v1', 'ReplicaSet');
  const deps = inf<Deployment>('apps/v1', 'Deployment');
  const jobs = inf<Job>('batch/v1', 'Job');
  const wfs = inf<Workflow>('wharf.dev/v1', 'Workflow');
  const cjs = inf<CronJob>('batch/v1', 'CronJob');
  const dss = inf<DaemonSet>('apps/v1', 'DaemonSet');
  const nodes = inf<Node>('v1', 'Node');
  const nodeLeases = inf<Lease>('coordination.k8s.io/v1', 'Lease', 'kube-node-lease');
  const namespaces = inf<Obj>('v1', 'Namespace');
  const claims = inf<Obj & { spec: Record<string, any> }>('v1', 'PersistentVolumeClaim');
  const volumes = inf<Obj & { spec: Record<string, any> }>('v1', 'PersistentVolume');
  const classes = inf<Obj>('storage.k8s.io/v1', 'StorageClass');
  const informers: Informer<Obj>[] = [pods, rss, deps, jobs, wfs, cjs, dss, nodes, nodeLeases, namespaces, claims, volumes, classes] as unknown as Informer<Obj>[];

  const controllers = [
    new ReplicaSetController(ctx, rss, pods).controller,
    new DeploymentController(ctx, deps, rss, pods).controller,
    new JobController(ctx, jobs, pods, { ...DEFAULT_JOB_TIMING, ...(opts.jobTiming ?? {}) }).controller,
    new WorkflowController(ctx, wfs, pods).controller,
    new CronJobController(ctx, cjs, jobs).controller,
    new DaemonSetController(ctx, dss, pods, nodes).controller,
    new NodeLifecycleController(ctx, nodes, nodeLeases, pods, opts.node ?? {}).controller,
    new PersistentVolumeController(ctx, claims, volumes, classes, pods as unknown as Informer<Obj>, nodes as unknown as Informer<Obj>).controller,
    new GarbageCollector(ctx, [pods, rss, deps, jobs, wfs, cjs, dss] as unknown as Informer<Obj>[]).controller,
  ];
  if (opts.finalizeNamespace) {
    const kinds: [string, string][] = [
      ['v1', 'Pod'], ['v1', 'Service'], ['v1', 'ConfigMap'], ['v1', 'Secret'], ['v1', 'Event'], ['v1', 'PersistentVolumeClaim'],
      ['apps/v1', 'StatefulSet'], ['apps/v1', 'ControllerRevision'],
      ['apps/v1', 'Deployment'], ['apps/v1', 'ReplicaSet'], ['apps/v1', 'DaemonSet'], ['batch/v1', 'Job'], ['batch/v1', 'CronJob'],
      ['coordination.k8s.io/v1', 'Lease'], ['wharf.dev/v1', 'Workflow'],
    ];
    const apis: ResourceApi<Obj>[] = kinds.map(([v, k]) => cluster.resource<Obj>(v, k));
    controllers.push(new NamespaceController(ctx, namespaces, apis, opts.finalizeNamespace).controller);
  }
  const enabled = controllers.filter((c) => controllerEnabled(c.name, opts.controllers));
  setMaxListeners(4 * informers.length + 16, signal); // each informer and controller listens for the abort
  const runs: Promise<void>[] = informers.map((i) => i.run(signal));
  await Promise.all(informers.map((i) => i.waitForSync(signal))).catch(() => undefined);
  if (!signal.aborted && controllerEnabled('persistentvolume-binder', opts.controllers)) {
    // The built-in default StorageClass, like k3s's local-path addon: made when missing.
    await classes.api.create(defaultStorageClass()).catch((err: unknown) => {
      if (!isWharfError(err, 'AlreadyExists')) log.warn({ err }, 'could not create the default StorageClass');
    });
  }
  if (!signal.aborted) {
    log.info({ controllers: enabled.map((c) => c.name) }, 'controllers started');
    for (const c of enabled) runs.push(c.run(signal));
  }
  await Promise.all(runs);
  await events.flush();
}
