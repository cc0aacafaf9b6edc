import type { Clock } from '../../core/clock.js';
import { isWharfError, WharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { KubeObject } from '../apis/meta.js';
import { objectKey, type ListOptions, type ResourceApi } from './resource-api.js';

// The one informer (client-go's reflector + store, reduced): a list-then-watch cache of one
// resource that the scheduler, the controllers, the simulated nodes and the node agent read.
// - list, then watch from the list's resourceVersion; a stream that ends is resumed from the
//   last resourceVersion seen (BOOKMARK events move it on a quiet stream);
// - a 410 Gone (history compacted) lists again at once; any other failure lists again after a
//   backoff (retryMs, doubling up to maxRetryMs); a relist reports every object again (as
//   client-go's Replace does) and a delete for each cached object the list no longer has, so a
//   handler never misses a deletion and gets another chance at an object it failed on;
// - `resyncMs` re-delivers every cached object as onUpdate(o, o) that often.

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often; 0: never. Default 0. */
  resyncMs?: number;
  /** Wait before listing again after a failure. Default 1000 ms. */
  retryMs?: number;
  /** The backoff doubles up to this. Default retryMs (no doubling). */
  maxRetryMs?: number;
  /** The server ends each watch after this long (the informer resumes it). Default 300 s. */
  watchTimeoutSeconds?: number;
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private lastRv = '';

  constructor(
    readonly api: ResourceApi<T>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: InformerOptions = {},
  ) {}

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    if (this.synced) for (const o of this.cache.values()) h.onAdd?.(o);
  }

  /** The cached object of a `namespace/name` (or `name`) key. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(filter?: (o: T) => boolean): T[] {
    const out: T[] = [];
    for (const o of this.cache.values()) if (!filter || filter(o)) out.push(o);
    return out;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion the cache reflects. */
  resourceVersion(): string {
    return this.lastRv;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const base = this.opts.retryMs ?? 1000;
    const max = Math.max(base, this.opts.maxRetryMs ?? base);
    let delay = base;
    const resync = this.opts.resyncMs ? this.resyncLoop(this.opts.resyncMs, signal) : Promise.resolve();
    let rv: string | undefined;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          rv = await this.relist();
          delay = base;
        }
        const started = this.clock.now();
        const { rv: next, events } = await this.watchFrom(rv, signal);
        rv = next;
        // A stream the server ends at once, empty, again and again: do not spin on it.
        if (events === 0 && this.clock.now() - started < 100 && !signal.aborted) await this.clock.sleep(delay, signal).catch(() => undefined);
      } catch (err) {
        if (signal.aborted) break;
        rv = undefined;
        if (isWharfError(err, 'Gone')) {
          this.log.debug({ kind: this.api.kind, rv: this.lastRv }, 'informer: watch history compacted; listing again');
          continue;
        }
        this.log.warn({ err, kind: this.api.kind }, 'informer: list/watch failed; listing again');
        await this.clock.sleep(delay, signal).catch(() => undefined);
        delay = Math.min(delay * 2, max);
      }
    }
    await resync;
  }

  private async resyncLoop(everyMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.clock.sleep(everyMs, signal).catch(() => undefined);
      if (signal.aborted || !this.synced) continue;
      for (const o of this.cache.values()) for (const h of this.handlers) h.onUpdate?.(o, o);
    }
  }

  private filter(): ListOptions {
    return {
      ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
    };
  }

  private async relist(): Promise<string> {
    const res = await this.api.list(this.filter());
    const seen = new Set<string>();
    for (const o of res.items) {
      seen.add(objectKey(o));
      this.apply('put', o, true);
    }
    for (const [k, o] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        for (const h of this.handlers) h.onDelete?.(o);
      }
    }
    this.lastRv = res.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return res.resourceVersion;
  }

  private async watchFrom(rv: string, signal: AbortSignal): Promise<{ rv: string; events: number }> {
    let from = rv;
    let events = 0;
    const stream = this.api.watch({ ...this.filter(), resourceVersion: from, signal, allowWatchBookmarks: true, timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300 });
    for await (const ev of stream) {
      events++;
      if (ev.type === 'ERROR') throw new WharfError('Internal', `watch error: ${JSON.stringify(ev.object)}`);
      if (ev.object.metadata.resourceVersion) from = this.lastRv = ev.object.metadata.resourceVersion;
      if (ev.type === 'BOOKMARK') continue;
      this.apply(ev.type === 'DELETED' ? 'delete' : 'put', ev.object);
    }
    return { rv: from, events };
  }

  /** `resync`: a relist reports an unchanged object again. */
  private apply(op: 'put' | 'delete', o: T, resync = false): void {
    const k = objectKey(o);
    const prev = this.cache.get(k);
    if (op === 'delete') {
      this.cache.delete(k);
      for (const h of this.handlers) h.onDelete?.(prev ?? o);
      return;
    }
    if (prev && prev.metadata.resourceVersion === o.metadata.resourceVersion && !resync) return;
    this.cache.set(k, o);
    for (const h of this.handlers) {
      if (prev) h.onUpdate?.(prev, o);
      else h.onAdd?.(o);
    }
  }
}

/** The name the API-server tests first knew it by. */
export { Informer as ClientInformer };
