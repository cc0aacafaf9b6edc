import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLogOptions, kubeletTime, parseEntry, readLogs, type LogOptions } from './log-reader.js';

const dir = mkdtempSync('/var/tmp/wharf-test-logs-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOG = [
  '2026-12-02T07:00:00.000000001+00:00 stdout F one',
  '2026-12-02T07:00:01.5+00:00 stderr F two',
  '2026-12-02T07:00:02.000000000+00:00 stdout P thr',
  '2026-12-02T07:00:02.100000000+00:00 stdout F ee',
  '2026-12-02T07:00:03.000000000+00:00 stdout F four',
  '',
].join('\n');

async function collect(files: string[], opts: LogOptions, running = async () => false): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of readLogs({ files: async () => files, running }, opts, AbortSignal.timeout(5000), 20)) out.push(b);
  return Buffer.concat(out).toString();
}

describe('container logs as kubectl logs prints them', () => {
  const f = join(dir, 'a.log');
  writeFileSync(f, LOG);

  it('joins partial lines, mixes streams, prints kubelet timestamps', async () => {
    expect(await collect([f], {})).toBe('one\ntwo\nthree\nfour\n');
    expect(await collect([f], { timestamps: true, tailLines: 1 })).toBe('2026-12-02T07:00:03.000000000Z four\n');
    expect(kubeletTime('2026-12-02T07:00:01.5+00:00')).toBe('2026-12-02T07:00:01.500000000Z');
    expect(kubeletTime('2026-12-02T09:00:01.5+02:00')).toBe('2026-12-02T07:00:01.500000000Z');
    expect(parseEntry('garbage')).toBeUndefined();
  });

  it('tailLines counts whole lines; since and limitBytes cut', async () => {
    expect(await collect([f], { tailLines: 2 })).toBe('three\nfour\n');
    expect(await collect([f], { tailLines: 0 })).toBe('');
    expect(await collect([f], { sinceMs: Date.parse('2026-12-02T07:00:01.5Z') })).toBe('two\nthree\nfour\n');
    expect(await collect([f], { limitBytes: 6 })).toBe('one\ntw');
  });

  it('reads rotated files first and follows the live one until the container stops', async () => {
    const live = join(dir, 'b.log');
    writeFileSync(`${live}.1`, '2026-12-02T06:00:00.000000000+00:00 stdout F old\n');
    writeFileSync(live, '2026-12-02T07:00:00.000000000+00:00 stdout F new\n');
    let running = true;
    setTimeout(() => appendFileSync(live, '2026-12-02T07:00:05.000000000+00:00 stdout F later\n'), 100);
    setTimeout(() => (running = false), 300);
    expect(await collect([`${live}.1`, live], { follow: true }, async () => running)).toBe('old\nnew\nlater\n');
  });

  it('validates the query as the API does', () => {
    expect(checkLogOptions(new URLSearchParams('follow=true&tailLines=3&timestamps=true'), 0)).toEqual({ follow: true, timestamps: true, tailLines: 3 });
    expect(checkLogOptions(new URLSearchParams('sinceSeconds=10'), 100_000).sinceMs).toBe(90_000);
    expect(() => checkLogOptions(new URLSearchParams('tailLines=-1'), 0)).toThrow(/tailLines/);
    expect(() => checkLogOptions(new URLSearchParams('limitBytes=0'), 0)).toThrow(/limitBytes/);
    expect(() => checkLogOptions(new URLSearchParams('sinceSeconds=1&sinceTime=2026-12-02T00:00:00Z'), 0)).toThrow(/at most one/);
  });
});
