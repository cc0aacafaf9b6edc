import type { Clock } from '../../core/clock.js';
import { isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { WorkQueue, ExponentialRateLimiter, type RateLimiter } from './workqueue.js';

// A controller: a workqueue of keys fed by informer handlers, and workers that call a
// level-triggered, idempotent reconcile(key). reconcile reads the informer caches and
// writes with resourceVersion; a Conflict (409) or any other error requeues the key with
// per-key backoff, while the other keys keep being served. A success forgets the key's
// failures; reconcile may ask to be called again after a delay (time-based rules such as
// minReadySeconds, Job backoff or deadlines).

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  name: string;
  clock: Clock;
  log: Logger;
  reconcile: Reconcile;
  workers?: number;
  rateLimiter?: RateLimiter;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly log: Logger;
  private readonly reconcileFn: Reconcile;
  private readonly workers: number;
  /** Reconciles that ran, by outcome: for tests and metrics. */
  readonly stats = { ok: 0, failed: 0, conflicts: 0 };

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.log = opts.log.child({ controller: opts.name });
    this.reconcileFn = opts.reconcile;
    this.workers = opts.workers ?? 2;
    this.queue = new WorkQueue(opts.clock, opts.rateLimiter ?? new ExponentialRateLimiter(5, 60_000));
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Runs the workers until the signal aborts; then shuts the queue down and waits for them. */
  async run(signal: AbortSignal): Promise<void> {
    const onAbort = () => this.queue.shutDown();
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const workers = Array.from({ length: this.workers }, () => this.worker(signal));
    await Promise.all(workers);
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        const res = await this.reconcileFn(key, signal);
        this.queue.forget(key);
        this.stats.ok++;
        if (res?.requeueAfterMs !== undefined && !signal.aborted) this.queue.addAfter(key, res.requeueAfterMs);
      } catch (err) {
        if (signal.aborted) return; // finally marks it done
        if (isWharfError(err, 'Conflict')) {
          this.stats.conflicts++;
          this.log.debug({ key }, 'conflict; requeue');
        } else {
          this.stats.failed++;
          this.log.warn({ key, err, failures: this.queue.limiter.failures(key) + 1 }, 'reconcile failed; will retry with backoff');
        }
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
