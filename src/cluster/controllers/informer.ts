import type { Clock } from '../../core/clock.js';
import { isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ResourceApi } from './api.js';
import { keyOf, type Obj } from './objects.js';

// A list-then-watch cache of one resource (client-go's shared informer, reduced):
// the cache is what controllers read; handlers are told of every change. On a
// compacted watch (410) or a broken stream it lists again and reports the
// difference, so a handler never misses a deletion.

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export class Informer<T extends Obj = Obj> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private synced = false;
  private syncWaiters: (() => void)[] = [];

  constructor(
    readonly api: ResourceApi<T>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: { namespace?: string; retryMs?: number } = {},
  ) {}

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    if (this.synced) for (const o of this.cache.values()) h.onAdd?.(o);
  }

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

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  }

  /** Runs until the signal aborts. Lists once, then watches, resuming from the last seen
   * resourceVersion; lists again only when that history is gone (410) or the watch failed. */
  async run(signal: AbortSignal): Promise<void> {
    let rv: string | undefined;
    while (!signal.aborted) {
      try {
        rv ??= await this.relist();
        rv = await this.watchFrom(rv, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (!isWharfError(err, 'Gone')) {
          this.log.warn({ err, kind: this.api.kind }, 'informer: list/watch failed; listing again');
        }
        rv = undefined;
        await this.clock.sleep(this.opts.retryMs ?? 1000, signal).catch(() => undefined);
      }
    }
  }

  private async relist(): Promise<string> {
    const res = await this.api.list(this.opts.namespace ? { namespace: this.opts.namespace } : {});
    const seen = new Set<string>();
    for (const o of res.items) {
      const k = keyOf(o);
      seen.add(k);
      this.apply('put', o, true);
    }
    for (const [k, o] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        for (const h of this.handlers) h.onDelete?.(o);
      }
    }
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
    return res.resourceVersion;
  }

  private async watchFrom(rv: string, signal: AbortSignal): Promise<string> {
    let from = rv;
    const opts = { resourceVersion: from, signal, ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}) };
    for await (const ev of this.api.watch(opts)) {
      if (ev.type === 'ERROR') throw new Error(`watch error: ${JSON.stringify(ev.object)}`);
      if (ev.object.metadata.resourceVersion) from = ev.object.metadata.resourceVersion;
      if (ev.type === 'BOOKMARK') continue;
      this.apply(ev.type === 'DELETED' ? 'delete' : 'put', ev.object);
    }
    return from;
  }

  /** `resync`: a relist reports every object again (client-go's Replace does), so a handler
   * that missed or failed on an unchanged object gets another chance. */
  private apply(op: 'put' | 'delete', o: T, resync = false): void {
    const k = keyOf(o);
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
