import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { KubeObject } from '../apis/meta.js';
import type { ResourceApi } from './resource-api.js';

// Records v1 Events about objects, de-duplicated like client-go's EventCorrelator: the
// same (object, type, reason, message, source) within the correlation window updates the
// existing Event's count and lastTimestamp instead of creating another. Writes happen in
// the background, in order, and never fail a reconcile. The controllers and the scheduler
// record through it.

/** Records Events about an object; optional in components so pure tests need none. */
export interface EventSink {
  record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** A v1 Event as the recorder writes it. */
interface EventObject extends KubeObject {
  count?: number;
  lastTimestamp?: string;
}

export class EventRecorder implements EventSink {
  private readonly seen = new Map<string, { ev: EventObject; at: number }>();
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly api: ResourceApi<EventObject>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly component = 'wharf-controller-manager',
    private readonly windowMs = 10 * 60_000,
    private readonly maxPending = 1000,
  ) {}

  record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.pending >= this.maxPending) return; // shed load rather than grow without bound
    this.pending++;
    this.chain = this.chain
      .then(() => this.write(obj, type, reason, message))
      .catch((err: unknown) => this.log.debug({ err, reason }, 'event not recorded'))
      .finally(() => this.pending--);
  }

  /** Resolves when every event recorded so far is written. */
  flush(): Promise<void> {
    return this.chain;
  }

  private async write(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = [obj.apiVersion, obj.kind, ns, obj.metadata.name, obj.metadata.uid, type, reason, message].join('\u0000');
    const now = this.clock.now();
    const iso = new Date(now).toISOString();
    const prev = this.seen.get(key);
    if (prev && now - prev.at < this.windowMs) {
      try {
        const next: EventObject = { ...prev.ev, count: (prev.ev.count ?? 1) + 1, lastTimestamp: iso };
        const out = await this.api.update(next);
        this.seen.set(key, { ev: out, at: now });
        return;
      } catch (err) {
        if (!isWharfError(err, 'NotFound') && !isWharfError(err, 'Conflict')) throw err;
        // gone or changed: start a new one below
      }
    }
    const ev: EventObject = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name ?? 'object'}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name ?? '', namespace: ns, uid: obj.metadata.uid ?? '' },
      reason,
      message,
      type,
      source: { component: this.component },
      firstTimestamp: iso,
      lastTimestamp: iso,
      count: 1,
    };
    const out = await this.api.create(ev);
    this.seen.set(key, { ev: out, at: now });
    if (this.seen.size > 5000) {
      for (const [k, v] of this.seen) if (now - v.at >= this.windowMs) this.seen.delete(k);
    }
  }
}
