import type { Clock } from '../../core/clock.js';

// The engine's own event bus: every part of the engine (containers, exec, images, networks,
// volumes) emits here; the Docker API's GET /events and the node agent read it. A bounded
// in-memory history (since-replay) plus live subscribers. Engine terms only: the Docker API
// adapter turns an EngineEvent into Docker's JSON.

export type EngineEventType = 'image' | 'container' | 'network' | 'volume' | 'daemon';

export interface EngineEvent {
  type: EngineEventType;
  action: string;
  /** The object's ID (container ID, image reference, network ID, volume name). */
  id: string;
  attributes: Record<string, string>;
  /** Unix nanoseconds, strictly increasing within one bus. */
  timeNano: number;
}

export type EngineEventListener = (e: EngineEvent) => void;

export class EventBus {
  private readonly buf: EngineEvent[] = [];
  private readonly listeners = new Set<EngineEventListener>();
  private lastNano = 0;

  constructor(
    private readonly clock: Clock,
    private readonly capacity = 1024,
  ) {}

  emit(type: EngineEventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    // Strictly increasing timestamps, so since/until replay is exact even within one millisecond.
    const nano = Math.max(this.clock.now() * 1e6, this.lastNano + 1);
    this.lastNano = nano;
    const e: EngineEvent = { type, action, id, attributes, timeNano: nano };
    this.buf.push(e);
    if (this.buf.length > this.capacity) this.buf.shift();
    for (const l of this.listeners) l(e);
    return e;
  }

  /** Events recorded at or after `sinceNano` (bounded, like Docker's). */
  history(sinceNano: number): EngineEvent[] {
    return this.buf.filter((e) => e.timeNano >= sinceNano);
  }

  /** Live events from now on; returns the unsubscribe function. */
  subscribe(l: EngineEventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
