import type { EngineEvent, EngineEventListener } from '../engine/events/event-bus.js';

// Docker's event JSON (GET /events) from the engine's events. The bus itself is the engine's
// (engine/events/event-bus.ts); this adapter only converts.

export interface DockerEvent {
  Type: EngineEvent['type'];
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

/** What GET /events needs from the engine (EventBus satisfies it). */
export interface EventSource {
  history(sinceNano: number): EngineEvent[];
  subscribe(l: EngineEventListener): () => void;
}

export function toDockerEvent(e: EngineEvent): DockerEvent {
  return {
    status: e.action,
    id: e.id,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: Math.floor(e.timeNano / 1e9),
    timeNano: e.timeNano,
  };
}
