import type { Clock } from '../core/clock.js';

// Docker events (GET /events): a bounded in-memory log plus live subscribers. Kept in the API
// layer until the engine emits its own events (containers, networks, volumes); then it moves to
// engine/events and the routers only read it.

export interface DockerEvent {
  Type: 'image' | 'container' | 'network' | 'volume' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Deprecated top-level fields Docker still sends. */
  status?: string;
  id?: string;
  from?: string;
}

export type EventListener = (e: DockerEvent) => void;

export class EventLog {
  private readonly buf: DockerEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private lastNano = 0;

  constructor(
    private readonly clock: Clock,
    private readonly capacity = 1024,
  ) {}

  emit(type: DockerEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): DockerEvent {
    // Strictly increasing timestamps, so since/until replay is exact even within one millisecond.
    const nano = Math.max(this.clock.now() * 1e6, this.lastNano + 1);
    this.lastNano = nano;
    const e: DockerEvent = {
      status: action,
      id,
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(nano / 1e9),
      timeNano: nano,
    };
    this.buf.push(e);
    if (this.buf.length > this.capacity) this.buf.shift();
    for (const l of this.listeners) l(e);
    return e;
  }

  /** Events recorded at or after `sinceNano` (Docker keeps a bounded history too). */
  history(sinceNano: number): DockerEvent[] {
    return this.buf.filter((e) => e.timeNano >= sinceNano);
  }

  subscribe(l: EventListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
