import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Obj } from './objects.js';

/** Records Events about an object (events.ts); optional so pure tests need none. */
export interface EventSink {
  record(obj: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** What every controller is given. */
export interface ControllerContext {
  clock: Clock;
  log: Logger;
  events?: EventSink;
  workers?: number;
}
