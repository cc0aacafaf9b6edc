import type { Clock } from '../../core/clock.js';
import { WharfError } from '../../core/errors.js';
import { toDockerEvent, type DockerEvent, type EventSource } from '../events.js';
import { parseFilters, parseTimestamp } from '../filters.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';

const EVENT_FILTERS = ['type', 'event', 'image', 'container', 'label', 'scope', 'volume'] as const;

/** GET /events: replay from `since`, then stream live JSON lines until `until` or the client leaves. */
export class EventsRouter implements Router {
  constructor(
    private readonly log: EventSource,
    private readonly clock: Clock,
  ) {}

  routes(): readonly Route[] {
    return [{ method: 'GET', path: '/events', handler: (q, r) => this.events(q, r) }];
  }

  private async events(req: ApiRequest, res: ApiResponse): Promise<void> {
    const now = this.clock.now();
    const f = parseFilters(req.query.get('filters'), EVENT_FILTERS);
    const since = req.query.get('since');
    const until = req.query.get('until');
    const sinceS = since ? parseTimestamp(since, now) : undefined;
    const untilS = until ? parseTimestamp(until, now) : undefined;
    if (sinceS !== undefined && untilS !== undefined && untilS < sinceS) {
      throw new WharfError('InvalidArgument', `since (${since}) must be before until (${until})`);
    }
    const match = (e: DockerEvent): boolean => {
      const t = f.get('type');
      if (t?.length && !t.includes(e.Type)) return false;
      const ev = f.get('event');
      if (ev?.length && !ev.includes(e.Action)) return false;
      const img = f.get('image');
      if (img?.length && !img.some((i) => e.Actor.ID === i || e.Actor.Attributes.name === i || e.Actor.ID.startsWith(`sha256:${i}`))) return false;
      const ctr = f.get('container');
      if (ctr?.length && !(e.Type === 'container' && ctr.some((c) => e.Actor.ID.startsWith(c) || e.Actor.Attributes.name === c))) return false;
      const vol = f.get('volume');
      if (vol?.length && !(e.Type === 'volume' && vol.includes(e.Actor.ID))) return false;
      const lbl = f.get('label');
      if (lbl?.length && !lbl.every((l) => {
        const [k, v] = l.split('=', 2) as [string, string | undefined];
        return v === undefined ? k in e.Actor.Attributes : e.Actor.Attributes[k] === v;
      })) return false;
      return true;
    };
    const untilNano = untilS === undefined ? Infinity : untilS * 1e9;
    const out = res.stream(200, 'application/json');
    const write = (e: DockerEvent) => {
      if (e.timeNano <= untilNano && match(e)) out.write(`${JSON.stringify(e)}\n`);
    };
    // Subscribe before replaying, buffering live events, so nothing falls in between.
    const pending: DockerEvent[] = [];
    let replaying = true;
    const unsubscribe = this.log.subscribe((ev) => {
      const e = toDockerEvent(ev);
      if (replaying) pending.push(e);
      else write(e);
    });
    try {
      let lastReplayed = -1;
      if (sinceS !== undefined) {
        for (const ev of this.log.history(sinceS * 1e9)) {
          const e = toDockerEvent(ev);
          write(e);
          lastReplayed = e.timeNano;
        }
      }
      for (const e of pending) if (e.timeNano > lastReplayed) write(e);
      replaying = false;
      const waitMs = untilS === undefined ? Infinity : untilS * 1000 - this.clock.now();
      if (waitMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = Number.isFinite(waitMs) ? setTimeout(resolve, waitMs) : undefined;
          req.signal.addEventListener(
            'abort',
            () => {
              if (timer) clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
      }
    } finally {
      unsubscribe();
      out.end();
    }
  }
}
