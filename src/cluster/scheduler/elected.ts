import { hostname } from 'node:os';
import { errorMessage } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import type { Lease } from '../controllers/objects.js';
import { LeaderElector } from '../leader-election.js';
import type { LeaderElectionConfig } from './config.js';
import { Scheduler, type SchedulerBackend, type SchedulerOptions } from './scheduler.js';

// The scheduler behind leader election: with several schedulers (one per `wharf server` on a
// shared etcd, or `wharf scheduler --leader-elect`), only the holder of the Lease schedules.
// Each time it becomes leader it starts a fresh Scheduler (new informer caches: nothing
// assumed from an earlier term); when it loses the Lease the scheduler stops at once, before
// anyone else may take over (renewDeadline < leaseDuration). A pod is bound with its
// resourceVersion and the API server refuses to bind a bound pod, so even a bind already in
// flight at the hand-over cannot place a pod twice.

export interface ElectedScheduler {
  isLeader(): boolean;
  /** The scheduler of the current term (null while following). */
  current(): Scheduler | null;
  done: Promise<void>;
  stop(): Promise<void>;
}

export function startElectedScheduler(
  backend: SchedulerBackend,
  leases: ResourceApi<Lease>,
  opts: SchedulerOptions & { election: Omit<LeaderElectionConfig, 'leaderElect'>; identity?: string },
): ElectedScheduler {
  const ac = new AbortController();
  let current: Scheduler | null = null;
  const elector = new LeaderElector({
    leases,
    namespace: opts.election.resourceNamespace,
    name: opts.election.resourceName,
    identity: opts.identity ?? `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
    clock: opts.clock,
    log: opts.log.child({ component: 'leader-election', lease: opts.election.resourceName }),
    leaseDurationMs: opts.election.leaseDurationMs,
    renewDeadlineMs: opts.election.renewDeadlineMs,
    retryPeriodMs: opts.election.retryPeriodMs,
    onStartedLeading: async (signal) => {
      const s = new Scheduler(backend, opts);
      current = s;
      try {
        await s.run(signal);
      } finally {
        current = null;
      }
    },
  });
  const done = elector.run(ac.signal).catch((err: unknown) => opts.log.error({ err: errorMessage(err) }, 'scheduler stopped with an error'));
  return {
    isLeader: () => elector.isLeader() && current !== null,
    current: () => current,
    done,
    stop: async () => {
      ac.abort(new Error('scheduler stopped'));
      await done;
    },
  };
}
