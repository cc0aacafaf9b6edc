import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerLogReader, logTimeSeconds, type LogEntry } from './container-logs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(status: { s: 'running' | 'exited' }) {
  const d = mkdtempSync(join(tmpdir(), 'wharf-logs-'));
  dirs.push(d);
  const logPath = join(d, 'ctr.log');
  const reader = new ContainerLogReader({
    pollMs: 10,
    host: {
      inspect: (ref) => {
        if (ref !== 'c1') throw new Error('no such container');
        return { id: 'c1', logPath, state: { status: status.s } };
      },
      logFiles: async () => [`${logPath}.1`, logPath].filter((f) => {
        try {
          return statSync(f).isFile();
        } catch {
          return false;
        }
      }),
    },
  });
  return { logPath, reader };
}

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.text}`);
  return out;
}

describe('container logs', () => {
  it('reads rotated then live files; tail, streams, since/until; partial lines stay partial', async () => {
    const st = { s: 'exited' as const };
    const { logPath, reader } = setup(st);
    writeFileSync(`${logPath}.1`, '2026-01-01T00:00:01.000000001Z stdout F one\n2026-01-01T00:00:02Z stderr F two\n');
    writeFileSync(logPath, '2026-01-01T00:00:03.5Z stdout P thr\n2026-01-01T00:00:03.6Z stdout F ee\n2026-01-01T00:00:04Z stdout F\nnot a line\n2026-01-01T00:00:05Z stdout F cut');
    expect(await collect(reader.read('c1'))).toEqual(['stdout:one\n', 'stderr:two\n', 'stdout:thr', 'stdout:ee\n', 'stdout:\n']);
    expect(await collect(reader.read('c1', { stderr: false, tail: 2 }))).toEqual(['stdout:\n']);
    const t3 = logTimeSeconds('2026-01-01T00:00:03.5Z');
    expect(await collect(reader.read('c1', { since: t3, until: t3 + 0.2 }))).toEqual(['stdout:thr', 'stdout:ee\n']);
    expect(() => reader.read('nope')).toThrow(/no such container/);
    expect(() => reader.read('c1', { tail: -1 })).toThrow(/invalid tail/);
  });

  it('follows the live file across a rotation and ends when the container stops', async () => {
    const st: { s: 'running' | 'exited' } = { s: 'running' };
    const { logPath, reader } = setup(st);
    writeFileSync(logPath, '2026-01-01T00:00:01Z stdout F a\n');
    const got: string[] = [];
    const done = (async () => {
      for await (const e of reader.read('c1', { follow: true })) got.push(e.text);
    })();
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(logPath, '2026-01-01T00:00:02Z stdout F b\n');
    await new Promise((r) => setTimeout(r, 50));
    appendFileSync(logPath, '2026-01-01T00:00:03Z stdout F c\n');
    renameSync(logPath, `${logPath}.1`);
    writeFileSync(logPath, '2026-01-01T00:00:04Z stdout F d\n');
    await new Promise((r) => setTimeout(r, 50));
    st.s = 'exited';
    await done;
    expect(got).toEqual(['a\n', 'b\n', 'c\n', 'd\n']);
  });

  it('parses timestamps with nanoseconds and offsets', () => {
    expect(logTimeSeconds('1970-01-01T00:00:01.5Z')).toBeCloseTo(1.5, 6);
    expect(logTimeSeconds('1970-01-01T01:00:01.000000250+01:00')).toBeCloseTo(1.00000025, 6);
  });
});
