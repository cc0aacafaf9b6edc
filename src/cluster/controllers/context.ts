import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { EventSink } from '../client/event-recorder.js';

/** What every controller is given. */
export interface ControllerContext {
  clock: Clock;
  log: Logger;
  events?: EventSink;
  workers?: number;
}
