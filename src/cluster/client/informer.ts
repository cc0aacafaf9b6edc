import type { Clock } from '../../core/clock.js';
import { isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { KubeObject, WatchEventObject } from '../apis/meta.js';
import type { ListOptions, ListResult, WatchOptions } from './cluster-client.js';

// A list-then-watch cache of one resource (client-go's informer, reduced): handlers hear every
// add/update/delete; a resync re-delivers every cached object as an update every `resyncMs`
// (level-triggered controllers catch anything they dropped); a compacted watch (410) or a
// broken stream lists again and reports the difference, so no deletion is ever missed.

export interface InformerSource<T> {
  list(opts?: ListOptions): Promise<ListResult<T>>;
  watch(opts: WatchOptions): AsyncIterable<WatchEventObject<T>>;
}

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
  /** Wait before reconnecting after an error. Default 1000 ms (doubling to 30 s). */
  retryMs?: number;
}

export function objectKey(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata.name ?? '');
}

export class ClientInformer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private synced = false;
  private waiters: (() => void)[] = [];
  private lastRv = '';

  constructor(
    private readonly source: InformerSource<T>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: InformerOptions = {},
  ) {}

  addHandlers(h: InformerHandlers<T>): void {
    this.handlers.push(h);
    if (this.synced) for (const o of this.cache.values()) h.onAdd?.(o);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(filter?: (o: T) => boolean): T[] {
    const all = [...this.cache.values()];
    return filter ? all.filter(filter) : all;
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
      this.waiters.push(resolve);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const base = this.opts.retryMs ?? 1000;
    let delay = base;
    let resyncTimer: NodeJS.Timeout | undefined;
    if (this.opts.resyncMs) {
      resyncTimer = setInterval(() => {
        for (const o of this.cache.values()) for (const h of this.handlers) h.onUpdate?.(o, o);
      }, this.opts.resyncMs);
    }
    try {
      while (!signal.aborted) {
        try {
          await this.relist();
          delay = base;
          await this.watchFrom(signal);
        } catch (err) {
          if (signal.aborted) break;
          if (isWharfError(err, 'Gone')) {
            this.log.info({ rv: this.lastRv }, 'watch history compacted: listing again');
            continue;
          }
          this.log.warn({ err }, 'informer: list/watch failed, retrying');
          await this.clock.sleep(delay, signal).catch(() => undefined);
          delay = Math.min(delay * 2, 30_000);
        }
      }
    } finally {
      if (resyncTimer) clearInterval(resyncTimer);
    }
  }

  private filterOpts() {
    return {
      ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
    };
  }

  private async relist(): Promise<void> {
    const l = await this.source.list(this.filterOpts());
    const seen = new Set<string>();
    for (const o of l.items) {
      const k = objectKey(o);
      seen.add(k);
      this.apply('ADDED', o);
    }
    for (const [k, o] of [...this.cache]) {
      if (!seen.has(k)) {
        this.cache.delete(k);
        for (const h of this.handlers) h.onDelete?.(o);
      }
    }
    this.lastRv = l.resourceVersion;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.waiters.splice(0)) w();
    }
  }

  private async watchFrom(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      for await (const ev of this.source.watch({ ...this.filterOpts(), resourceVersion: this.lastRv, signal, allowWatchBookmarks: true, timeoutSeconds: 300 })) {
        if (ev.object?.metadata?.resourceVersion) this.lastRv = ev.object.metadata.resourceVersion;
        if (ev.type !== 'BOOKMARK') this.apply(ev.type, ev.object);
      }
    }
  }

  private apply(type: string, o: T): void {
    const k = objectKey(o);
    const old = this.cache.get(k);
    if (type === 'DELETED') {
      if (!old) return;
      this.cache.delete(k);
      for (const h of this.handlers) h.onDelete?.(o);
      return;
    }
    if (old && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
    this.cache.set(k, o);
    for (const h of this.handlers) {
      if (old) h.onUpdate?.(old, o);
      else h.onAdd?.(o);
    }
  }
}
