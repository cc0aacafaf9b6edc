import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { run } from '../../src/core/exec/run.js';
import { startDaemon, type TestDaemon } from './daemon-harness.js';

// Scale: with 100 running containers (`--network none`, `sleep`), `docker ps` and inspect are
// answered from the daemon's memory (no process per container), so they stay well under a
// second. (The 500-container figures are in bench/run-latency.ts.)

const COUNT = 100;
const suffix = Math.random().toString(36).slice(2, 8);
let d: TestDaemon;
const ids: string[] = [];

beforeAll(async () => {
  d = await startDaemon();
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 90_000);

afterAll(async () => {
  if (!d) return;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    const left = ps.stdout.split('\n').filter(Boolean);
    for (let i = 0; i < left.length; i += 25) await d.docker(['rm', '-f', ...left.slice(i, i + 25)], { timeoutMs: 120_000 });
    const conmons = await run(['pgrep', '-f', `conmon.*${d.dir}`], { allowFailure: true });
    for (const pid of conmons.stdout.split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(d.dir));
    for (const m of mounts) await run(['umount', '-l', m.split(' ')[1]!], { allowFailure: true });
  } finally {
    await d.stop();
  }
}, 180_000);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('scale', () => {
  it(`docker ps and inspect stay fast with ${COUNT} running containers`, async () => {
    for (let i = 0; i < COUNT; i += 5) {
      const batch = await Promise.all(
        Array.from({ length: 5 }, (_, k) => d.docker(['run', '-d', '--name', `s${i + k}-${suffix}`, '--network', 'none', 'busybox', 'sleep', '600'], { timeoutMs: 60_000 })),
      );
      for (const r of batch) {
        expect(r.code, r.stderr).toBe(0);
        ids.push(r.stdout.trim());
      }
    }
    const times: number[] = [];
    let listed = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const ps = await d.docker(['ps', '-q']);
      times.push(Date.now() - t0);
      listed = ps.stdout.split('\n').filter(Boolean).length;
    }
    expect(listed).toBe(COUNT);
    // The CLI itself costs ~30-60 ms; a daemon that asked runc or /proc per container would take seconds.
    expect(median(times)).toBeLessThan(1000);
    const t0 = Date.now();
    const ins = await d.docker(['inspect', '-f', '{{.State.Status}}', ...ids]);
    const inspectMs = Date.now() - t0;
    expect(ins.stdout.split('\n').filter(Boolean)).toEqual(ids.map(() => 'running'));
    expect(inspectMs).toBeLessThan(5000);
    console.log(`scale: ${COUNT} running, docker ps median ${median(times)} ms, inspect of all ${inspectMs} ms`);
    for (let i = 0; i < ids.length; i += 25) expect((await d.docker(['rm', '-f', ...ids.slice(i, i + 25)], { timeoutMs: 120_000 })).code).toBe(0);
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
  }, 300_000);
});
