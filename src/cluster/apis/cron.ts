import { Cron } from 'croner';

// CronJob schedules: the five-field cron syntax (minute hour day-of-month month day-of-week,
// with lists, ranges, steps and month/day names; day-of-month and day-of-week OR-ed as in
// Vixie cron and Kubernetes) and the descriptors @yearly @annually @monthly @weekly @daily
// @midnight @hourly. Times are computed by croner in the CronJob's timeZone (IANA name),
// or UTC when it has none.

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Why a timeZone is not usable, or undefined when it is. */
export function timeZoneError(tz: string): string | undefined {
  if (tz === '' || /^\s|\s$/.test(tz)) return 'unknown time zone';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(tz)} (an IANA name such as "Europe/Paris" or "Etc/UTC")`;
  }
}

export class CronSchedule {
  private readonly cron: Cron;

  private constructor(
    readonly expression: string,
    pattern: string,
    readonly timeZone: string,
  ) {
    this.cron = new Cron(pattern, { paused: true, timezone: timeZone });
  }

  /** Parses a schedule; throws an Error whose message says what is wrong. */
  static parse(schedule: string, timeZone?: string): CronSchedule {
    const s = schedule.trim();
    if (/^(TZ|CRON_TZ)=/.test(s)) throw new Error('TZ= and CRON_TZ= in the schedule are not supported: use spec.timeZone');
    let pattern: string;
    if (s.startsWith('@')) {
      const p = DESCRIPTORS[s];
      if (!p) throw new Error(`unknown descriptor ${JSON.stringify(s)} (supported: ${Object.keys(DESCRIPTORS).join(', ')})`);
      pattern = p;
    } else {
      const fields = s.split(/\s+/).filter(Boolean);
      if (fields.length !== 5) throw new Error(`expected exactly 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}: ${JSON.stringify(schedule)}`);
      if (fields.some((f) => /[LW#?]/.test(f))) throw new Error('the L, W, # and ? extensions are not supported');
      pattern = fields.join(' ');
    }
    const tz = timeZone ?? 'Etc/UTC';
    const tzErr = timeZoneError(tz);
    if (tzErr) throw new Error(tzErr);
    try {
      return new CronSchedule(s, pattern, tz);
    } catch (err) {
      throw new Error(String((err as Error).message).replace(/^CronPattern:\s*/, ''));
    }
  }

  /** The first scheduled time strictly after `t` (ms), or undefined if there is none. */
  next(t: number): number | undefined {
    const d = this.cron.nextRun(new Date(t));
    return d ? d.getTime() : undefined;
  }

  /**
   * The most recent scheduled time in (from, to], and how many were in that range (capped:
   * `missed` stops counting at `cap`). Undefined time when none fell in the range.
   */
  mostRecent(from: number, to: number, cap = 1000): { time: number | undefined; missed: number } {
    let t = this.next(from);
    if (t === undefined || t > to) return { time: undefined, missed: 0 };
    let missed = 1;
    for (;;) {
      const n = this.next(t);
      if (n === undefined || n > to) return { time: t, missed };
      if (missed + 1 >= cap) {
        // Too many to walk one by one: restart close to `to` (two gaps back) and walk from there.
        let back = Math.max(60_000, n - t);
        let start = Math.max(n, to - back);
        while (start > n && (this.next(start) ?? Infinity) > to) {
          back *= 2;
          start = Math.max(n, to - back);
        }
        let last = n;
        for (let x = this.next(start); x !== undefined && x <= to; x = this.next(x)) last = x;
        return { time: last, missed: cap };
      }
      t = n;
      missed++;
    }
  }
}
