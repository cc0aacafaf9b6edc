import { describe, expect, it } from 'vitest';
import { checkLogOptions, formatLogs, kubeletTime } from './log-reader.js';
import type { LogLine } from './container-streams.js';

const LINES: LogLine[] = [
  { time: '2026-12-02T07:00:00.000000001+00:00', stream: 'stdout', text: 'one\n' },
  { time: '2026-12-02T07:00:01.5+00:00', stream: 'stderr', text: 'two\n' },
  { time: '2026-12-02T07:00:02.000000000+00:00', stream: 'stdout', text: 'thr' },
  { time: '2026-12-02T07:00:02.100000000+00:00', stream: 'stdout', text: 'ee\n' },
];

async function* source(lines: LogLine[]): AsyncGenerator<LogLine> {
  for (const l of lines) yield l;
}

async function text(opts: { timestamps?: boolean; limitBytes?: number }): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of formatLogs(source(LINES), opts)) out.push(b);
  return Buffer.concat(out).toString();
}

describe('kubectl logs output', () => {
  it('prints the text, with kubelet timestamps when asked', async () => {
    expect(await text({})).toBe('one\ntwo\nthree\n');
    expect((await text({ timestamps: true })).split('\n')[0]).toBe('2026-12-02T07:00:00.000000001Z one');
    expect(kubeletTime('2026-12-02T07:00:01.5+00:00')).toBe('2026-12-02T07:00:01.500000000Z');
    expect(kubeletTime('2026-12-02T09:00:01.5+02:00')).toBe('2026-12-02T07:00:01.500000000Z');
  });

  it('stops at limitBytes, mid-line if need be', async () => {
    expect(await text({ limitBytes: 6 })).toBe('one\ntw');
    expect(await text({ limitBytes: 4 })).toBe('one\n');
  });

  it('validates the query as the API does', () => {
    expect(checkLogOptions(new URLSearchParams('follow=true&tailLines=3&timestamps=true'), 0)).toEqual({ follow: true, timestamps: true, tailLines: 3 });
    expect(checkLogOptions(new URLSearchParams('sinceSeconds=10'), 100_000).sinceMs).toBe(90_000);
    expect(checkLogOptions(new URLSearchParams('sinceTime=2026-12-02T00:00:00Z'), 0).sinceMs).toBe(Date.parse('2026-12-02T00:00:00Z'));
    expect(() => checkLogOptions(new URLSearchParams('tailLines=-1'), 0)).toThrow(/tailLines/);
    expect(() => checkLogOptions(new URLSearchParams('limitBytes=0'), 0)).toThrow(/limitBytes/);
    expect(() => checkLogOptions(new URLSearchParams('follow=maybe'), 0)).toThrow(/follow/);
    expect(() => checkLogOptions(new URLSearchParams('sinceSeconds=1&sinceTime=2026-12-02T00:00:00Z'), 0)).toThrow(/at most one/);
  });
});
