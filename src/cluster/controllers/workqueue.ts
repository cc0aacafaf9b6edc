import type { Clock } from '../../core/clock.js';

// A de-duplicating, rate-limited work queue with client-go's semantics
// (client-go/util/workqueue): a key waits in the queue at most once; a key is handed to
// one worker at a time; a key added while a worker holds it is queued again when the
// worker calls done(); failures back off per key exponentially up to a cap, and
// forget() resets a key's failure count after a success.

export interface RateLimiter {
  /** Delay before the key may be retried; counts one more failure. */
  when(key: string): number;
  forget(key: string): void;
  failures(key: string): number;
}

/** base·2^failures, capped at max (client-go's ItemExponentialFailureRateLimiter). */
export class ExponentialRateLimiter implements RateLimiter {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 300_000,
  ) {}

  when(key: string): number {
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    const d = this.baseMs * 2 ** Math.min(n, 52);
    return Math.min(d, this.maxMs);
  }

  forget(key: string): void {
    this.counts.delete(key);
  }

  failures(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys waiting for a delayed add: key → time it becomes ready. */
  private readonly waiting = new Map<string, number>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly stopTimers = new AbortController();
  private shuttingDown = false;

  constructor(
    private readonly clock: Clock,
    readonly limiter: RateLimiter = new ExponentialRateLimiter(),
  ) {}

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const g = this.getters.shift();
    if (g) {
      this.dirty.delete(key);
      this.processing.add(key);
      g(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after delayMs; several delayed adds of one key keep the earliest. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.clock.now() + delayMs;
    const prev = this.waiting.get(key);
    if (prev !== undefined && prev <= at) return;
    this.waiting.set(key, at);
    this.clock.sleep(delayMs, this.stopTimers.signal).then(
      () => {
        if (this.waiting.get(key) !== at) return;
        this.waiting.delete(key);
        this.add(key);
      },
      () => undefined,
    );
  }

  addRateLimited(key: string): void {
    this.addAfter(key, this.limiter.when(key));
  }

  forget(key: string): void {
    this.limiter.forget(key);
  }

  /** The next key, or undefined once the queue is shut down. The caller must call done(key). */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) {
      const g = this.getters.shift();
      if (g) {
        this.dirty.delete(key);
        this.processing.add(key);
        g(key);
      } else {
        this.queue.push(key);
      }
    }
  }

  len(): number {
    return this.queue.length;
  }

  isProcessing(key: string): boolean {
    return this.processing.has(key);
  }

  isWaiting(key: string): boolean {
    return this.waiting.has(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    this.stopTimers.abort();
    this.waiting.clear();
    for (const g of this.getters.splice(0)) g(undefined);
  }
}
