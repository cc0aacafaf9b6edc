import { describe, it, expect } from 'vitest';
import { CronSchedule, timeZoneError } from './cron.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

describe('CronSchedule', () => {
  it('computes the next time for steps, ranges, lists and names (UTC by default)', () => {
    expect(iso(CronSchedule.parse('*/15 * * * *').next(at('2026-01-01T00:07:00Z')))).toBe('2026-01-01T00:15:00.000Z');
    expect(iso(CronSchedule.parse('0 9-17/4 * * *').next(at('2026-01-01T10:00:00Z')))).toBe('2026-01-01T13:00:00.000Z');
    expect(iso(CronSchedule.parse('30 6 1,15 * *').next(at('2026-01-02T00:00:00Z')))).toBe('2026-01-15T06:30:00.000Z');
    expect(iso(CronSchedule.parse('0 0 * JAN-MAR MON').next(at('2026-01-01T00:00:00Z')))).toBe('2026-01-05T00:00:00.000Z');
  });
  it('ORs day-of-month and day-of-week like Vixie cron and Kubernetes', () => {
    // the 13th, or any Friday: Jan 2 2026 is a Friday
    expect(iso(CronSchedule.parse('0 0 13 * 5').next(at('2026-01-01T00:07:00Z')))).toBe('2026-01-02T00:00:00.000Z');
  });
  it('knows the descriptors', () => {
    const t = at('2026-03-10T10:20:00Z');
    expect(iso(CronSchedule.parse('@hourly').next(t))).toBe('2026-03-10T11:00:00.000Z');
    expect(iso(CronSchedule.parse('@daily').next(t))).toBe('2026-03-11T00:00:00.000Z');
    expect(iso(CronSchedule.parse('@midnight').next(t))).toBe('2026-03-11T00:00:00.000Z');
    expect(iso(CronSchedule.parse('@weekly').next(t))).toBe('2026-03-15T00:00:00.000Z');
    expect(iso(CronSchedule.parse('@monthly').next(t))).toBe('2026-04-01T00:00:00.000Z');
    expect(iso(CronSchedule.parse('@yearly').next(t))).toBe('2027-01-01T00:00:00.000Z');
    expect(iso(CronSchedule.parse('@annually').next(t))).toBe('2027-01-01T00:00:00.000Z');
  });
  it('follows the time zone, across a DST change', () => {
    const s = CronSchedule.parse('0 9 * * *', 'America/New_York');
    expect(iso(s.next(at('2026-01-01T00:00:00Z')))).toBe('2026-01-01T14:00:00.000Z'); // EST = UTC-5
    expect(iso(s.next(at('2026-07-01T00:00:00Z')))).toBe('2026-07-01T13:00:00.000Z'); // EDT = UTC-4
  });
  it('finds the most recent missed time and counts the misses', () => {
    const s = CronSchedule.parse('* * * * *');
    const r = s.mostRecent(at('2026-01-01T00:00:00Z'), at('2026-01-01T00:05:30Z'));
    expect(iso(r.time)).toBe('2026-01-01T00:05:00.000Z');
    expect(r.missed).toBe(5);
    expect(s.mostRecent(at('2026-01-01T00:05:00Z'), at('2026-01-01T00:05:59Z')).time).toBeUndefined();
    const many = s.mostRecent(at('2026-01-01T00:00:00Z'), at('2026-01-10T00:00:30Z'), 100);
    expect(iso(many.time)).toBe('2026-01-10T00:00:00.000Z');
    expect(many.missed).toBe(100);
  });
  it('rejects bad schedules with a message that says why', () => {
    expect(() => CronSchedule.parse('61 * * * *')).toThrow(/minute/);
    expect(() => CronSchedule.parse('* * * *')).toThrow(/exactly 5 fields/);
    expect(() => CronSchedule.parse('0 * * * * *')).toThrow(/exactly 5 fields/);
    expect(() => CronSchedule.parse('@every 5m')).toThrow(/unknown descriptor/);
    expect(() => CronSchedule.parse('TZ=UTC * * * * *')).toThrow(/spec.timeZone/);
    expect(() => CronSchedule.parse('* * * * *', 'Mars/Olympus')).toThrow(/unknown time zone/);
    expect(() => CronSchedule.parse('0 0 L * *')).toThrow(/not supported/);
  });
  it('checks time zone names', () => {
    expect(timeZoneError('Europe/Paris')).toBeUndefined();
    expect(timeZoneError('Etc/UTC')).toBeUndefined();
    expect(timeZoneError('Nowhere/Land')).toMatch(/unknown time zone/);
  });
});
