// The queue of pods waiting for a node: an active heap (highest priority first, then oldest),
// a backoff area (per-pod exponential backoff after a failed attempt) and an unschedulable
// area (waiting for the cluster to change), after kube-scheduler's PriorityQueue.
import type { Clock } from '../../core/clock.js';

export interface QueueOptions {
  initialBackoffMs?: number; // 1 s like Kubernetes
  maxBackoffMs?: number; // 10 s
  /** Unschedulable pods are retried at least this often even if nothing changes (60 s). */
  maxUnschedulableMs?: number;
}

interface Entry {
  key: string;
  priority: number;
  seq: number;
  attempts: number;
  state: 'active' | 'backoff' | 'unschedulable' | 'inflight' | 'parked';
  backoffUntil: number;
  since: number;
  /** A change arrived while the pod was being scheduled: retry it at once. */
  moveRequested: boolean;
  inHeap: boolean;
}

export class SchedulingQueue {
  private readonly entries = new Map<string, Entry>();
  private heap: Entry[] = [];
  private seq = 0;
  private waiter: (() => void) | null = null;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private readonly maxUnschedulable: number;

  constructor(
    private readonly clock: Clock,
    opts: QueueOptions = {},
  ) {
    this.initialBackoff = opts.initialBackoffMs ?? 1000;
    this.maxBackoff = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulable = opts.maxUnschedulableMs ?? 60_000;
  }

  get size(): number {
    return this.entries.size;
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  state(key: string): Entry['state'] | undefined {
    return this.entries.get(key)?.state;
  }

  /** A pending pod appeared or its spec changed: schedule it (again) now. */
  add(key: string, priority: number): void {
    const e = this.entries.get(key);
    if (!e) {
      const n: Entry = { key, priority, seq: this.seq++, attempts: 0, state: 'active', backoffUntil: 0, since: this.clock.now(), moveRequested: false, inHeap: false };
      this.entries.set(key, n);
      this.push(n);
      return;
    }
    e.priority = priority;
    if (e.state === 'inflight') e.moveRequested = true;
    else if (e.state !== 'active') this.activate(e);
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e) e.state = 'parked'; // lazily dropped from the heap
    this.entries.delete(key);
  }

  /** The next pod to schedule (it becomes in-flight until done/unschedulable/backoff is called). */
  async pop(signal: AbortSignal): Promise<string> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const e = this.popActive();
      if (e) {
        e.state = 'inflight';
        e.attempts++;
        e.moveRequested = false;
        return e.key;
      }
      let onAbort: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (onAbort) signal.removeEventListener('abort', onAbort);
      this.waiter = null;
    }
  }

  /** Placed (or gone): forget it. */
  done(key: string): void {
    this.delete(key);
  }

  /** No node fits: wait for a cluster change (or the periodic flush), after the backoff. */
  unschedulable(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.backoffUntil = this.clock.now() + this.backoffMs(e);
    e.since = this.clock.now();
    if (e.moveRequested) e.state = 'backoff';
    else e.state = 'unschedulable';
  }

  /** A transient failure (bind conflict, API error): retry after the backoff. */
  backoff(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.backoffUntil = this.clock.now() + this.backoffMs(e);
    e.state = 'backoff';
  }

  /** Bad input: keep it out until the pod itself changes (add() is called again). */
  park(key: string): void {
    const e = this.entries.get(key);
    if (e) e.state = 'parked';
  }

  /** The cluster changed (node added/updated, pod deleted): every unschedulable pod may fit now. */
  moveAllToActive(): void {
    for (const e of this.entries.values()) {
      if (e.state === 'unschedulable') e.state = 'backoff';
      else if (e.state === 'inflight') e.moveRequested = true;
    }
    this.tick();
  }

  /** Moves pods whose backoff expired, and long-unschedulable pods, to active. Call periodically. */
  tick(): void {
    const now = this.clock.now();
    for (const e of this.entries.values()) {
      if (e.state === 'backoff' && e.backoffUntil <= now) this.activate(e);
      else if (e.state === 'unschedulable' && now - e.since >= this.maxUnschedulable) this.activate(e);
    }
  }

  /** Earliest backoff expiry, for the caller's timer. */
  nextBackoffAt(): number | null {
    let t: number | null = null;
    for (const e of this.entries.values()) if (e.state === 'backoff' && (t === null || e.backoffUntil < t)) t = e.backoffUntil;
    return t;
  }

  private backoffMs(e: Entry): number {
    return Math.min(this.maxBackoff, this.initialBackoff * 2 ** Math.max(0, e.attempts - 1));
  }

  private activate(e: Entry): void {
    e.state = 'active';
    if (e.inHeap) {
      this.waiter?.();
      return;
    }
    e.seq = this.seq++;
    this.push(e);
  }

  private push(e: Entry): void {
    e.inHeap = true;
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    this.waiter?.();
  }

  private popActive(): Entry | null {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && before(h[l]!, h[m]!)) m = l;
          if (r < h.length && before(h[r]!, h[m]!)) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m]!, h[i]!];
          i = m;
        }
      }
      top.inHeap = false;
      // Skip slots of entries deleted or no longer active since they were pushed.
      if (top.state === 'active' && this.entries.get(top.key) === top) return top;
    }
    return null;
  }
}

const before = (a: Entry, b: Entry) => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
