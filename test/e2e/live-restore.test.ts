import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess, type RunResult } from '../../src/core/exec/run.js';
import { DOCKER_BIN, WHARF_BIN, cleanupDaemonNetworking, exitOf, freeTestSubnet, requireBuilt, waitFor } from './daemon-harness.js';

// Live restore: 20 containers write a counter line every 100 ms; the daemon is killed with
// SIGKILL; meanwhile one container is ended by hand (runc kill → its own exit code), an
// `always` one dies, and one loses its conmon; the daemon restarts on the same roots. All 20
// are still running with continuous logs that kept flowing while the daemon was away, the
// hand-ended one shows its real exit code, the `always` one runs again, the one without
// conmon is reported (exited, with an error) rather than hung; nothing leaks after cleanup.

const N = 20;
const COUNTER = 'i=0; while true; do echo $i; i=$((i+1)); usleep 100000; done';
const suffix = Math.random().toString(36).slice(2, 8);
const dir = mkdtempSync('/var/tmp/wharf-test-lr-');
const dataRoot = join(dir, 'data');
const execRoot = join(dir, 'exec');
const socket = join(dir, 'd.sock');
const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'docker-config') };
let daemon: ChildProcess | undefined;
// Its own default bridge (and nft table wharf-<bridge>), so parallel daemons never share one.
const bridge = `whl${suffix.slice(0, 6)}`;
let bip = '';
let daemonLog = '';
const ids: string[] = [];

function docker(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run([DOCKER_BIN, ...args], { env, allowFailure: true, timeoutMs });
}

async function startDaemon(): Promise<void> {
  rmSync(socket, { force: true });
  bip ||= (await freeTestSubnet()).replace(/0\/24$/, '1/24');
  const net = ['--bridge-name', bridge, '--bip', bip, '--netns-pool', '0'];
  const p = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', dataRoot, '--exec-root', execRoot, '-H', `unix://${socket}`, ...net], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stderr!.on('data', (b: Buffer) => (daemonLog += b.toString()));
  p.stdout!.resume();
  daemon = p;
  await waitFor(() => existsSync(socket) || p.exitCode !== null, 60_000, 'daemon socket');
  if (p.exitCode !== null) throw new Error(`daemon exited ${p.exitCode}: ${daemonLog}`);
}

async function stopDaemon(): Promise<void> {
  const p = daemon;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await exitOf(p, 15_000).catch(() => p.kill('SIGKILL'));
}

const runc = (args: string[]) => run(['runc', '--root', join(execRoot, 'runc'), ...args], { allowFailure: true });

beforeAll(async () => {
  requireBuilt();
  await startDaemon();
  const b = await run(['node', WHARF_BIN, 'image', 'bootstrap'], { env, allowFailure: true, timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 90_000);

afterAll(async () => {
  try {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const ps = await docker(['ps', '-aq', '--no-trunc']);
      for (const id of ps.stdout.split('\n').filter(Boolean)) await docker(['rm', '-f', id]);
    }
    await stopDaemon();
  } finally {
    // Whatever is left (a failed run): conmons, runc containers, mounts, then the directory.
    const conmons = await run(['pgrep', '-f', `conmon.*${dir}`], { allowFailure: true });
    for (const pid of conmons.stdout.split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const list = await runc(['list', '-q']);
    for (const id of list.stdout.split('\n').filter(Boolean)) await runc(['delete', '--force', id]);
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(dir));
    for (const m of mounts.reverse()) await run(['umount', '-l', m.split(' ')[1]!], { allowFailure: true });
    await cleanupDaemonNetworking(bridge);
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

/** Parses `docker logs -t` output into (time ms, counter) pairs. */
function parseCounter(out: string): { t: number; n: number }[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ts, n] = l.split(' ');
      return { t: Date.parse(ts!), n: Number(n) };
    });
}

describe('live restore', () => {
  it('survives kill -9 of the daemon: containers keep running and logging, exits are learned, policies apply', async () => {
    // 20 counters, started a few at a time.
    for (let i = 0; i < N; i += 5) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(5, N - i) }, (_, k) => docker(['run', '-d', '--name', `lr${i + k}-${suffix}`, '--network', 'none', 'busybox', 'sh', '-c', COUNTER])),
      );
      for (const r of batch) {
        expect(r.code, r.stderr).toBe(0);
        ids.push(r.stdout.trim());
      }
    }
    const byHand = (await docker(['run', '-d', '--name', `hand-${suffix}`, '--network', 'none', 'busybox', 'sh', '-c', 'trap "exit 42" USR1; while true; do usleep 100000; done'])).stdout.trim();
    const always = (await docker(['run', '-d', '--name', `always-${suffix}`, '--network', 'none', '--restart', 'always', 'busybox', 'sleep', '600'])).stdout.trim();
    const noMon = (await docker(['run', '-d', '--name', `nomon-${suffix}`, '--network', 'none', 'busybox', 'sleep', '600'])).stdout.trim();
    for (const id of [byHand, always, noMon]) expect(id).toMatch(/^[0-9a-f]{64}$/);
    const alwaysPid = Number((await docker(['inspect', '-f', '{{.State.Pid}}', always])).stdout.trim());
    // Every counter has written something before the daemon goes.
    for (const id of ids) await waitFor(() => existsSync(join(dataRoot, 'containers', id, 'ctr.log')), 20_000, `log of ${id}`);

    const killedAt = Date.now();
    daemon!.kill('SIGKILL');
    await exitOf(daemon!, 10_000);
    // While the daemon is away: end one by hand (its own exit code), kill the `always` one,
    // kill the conmon of another (its container keeps running without a monitor).
    expect((await runc(['kill', byHand, 'USR1'])).code).toBe(0);
    expect((await runc(['kill', always, 'KILL'])).code).toBe(0);
    const conmonPid = Number(readFileSync(join(execRoot, 'runtime', noMon, 'conmon.pid'), 'utf8').trim());
    process.kill(conmonPid, 'SIGKILL');
    // Logs are files: readable with the daemon down, and still growing.
    const sizeAt = (id: string) => readFileSync(join(dataRoot, 'containers', id, 'ctr.log')).length;
    const before = ids.map(sizeAt);
    await new Promise((r) => setTimeout(r, 2000));
    const after = ids.map(sizeAt);
    for (let i = 0; i < N; i++) expect(after[i], `container ${i} kept writing while the daemon was down`).toBeGreaterThan(before[i]!);

    await startDaemon();
    const restartedAt = Date.now();

    // All 20 are there and running.
    const ps = await docker(['ps', '-q', '--no-trunc']);
    const running = new Set(ps.stdout.split('\n').filter(Boolean));
    for (const id of ids) expect(running.has(id), `counter ${id} running after restart`).toBe(true);

    // The one ended by hand: its real exit code.
    const hand = await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', byHand]);
    expect(hand.stdout.trim()).toBe('exited 42');
    // The `always` one died meanwhile and was started again (a new process).
    let alwaysState = '';
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      alwaysState = (await docker(['inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.RestartCount}}', always])).stdout.trim();
      if (alwaysState.startsWith('running ') && !alwaysState.startsWith(`running ${alwaysPid} `)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(alwaysState).toMatch(/^running [1-9][0-9]* [1-9]/);
    expect(alwaysState.split(' ')[1]).not.toBe(String(alwaysPid));
    // The one whose conmon vanished is reported, not hung.
    const nm = await docker(['inspect', '-f', '{{.State.Status}}|{{.State.Error}}', noMon]);
    const [nmStatus, nmError] = nm.stdout.trim().split('|');
    expect(nmStatus).toBe('exited');
    expect(nmError).not.toBe('');

    // Logs are continuous (no counter value missing) and kept flowing through the outage.
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) {
      const lines = parseCounter((await docker(['logs', '-t', id])).stdout);
      expect(lines[0]!.n).toBe(0);
      for (let i = 1; i < lines.length; i++) if (lines[i]!.n !== lines[i - 1]!.n + 1) throw new Error(`gap in ${id} at ${lines[i - 1]!.n} → ${lines[i]!.n}`);
      const during = lines.filter((l) => l.t > killedAt && l.t < restartedAt).length;
      // ≥ 2 s of outage at one line per 100 ms: far more than a handful even on a loaded machine.
      expect(during, `lines written by ${id} while the daemon was down`).toBeGreaterThan(5);
    }

    // Cleanup leaks nothing: no conmon, no mount, no cgroup of these containers.
    const all = [...ids, byHand, always, noMon];
    for (const id of all) expect((await docker(['rm', '-f', id])).code).toBe(0);
    expect((await run(['pgrep', '-f', `conmon.*${dir}`], { allowFailure: true })).stdout.trim()).toBe('');
    expect((await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(dir))).toEqual([]);
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    for (const id of all) {
      expect(existsSync(v2 ? `/sys/fs/cgroup/wharf/${id}` : `/sys/fs/cgroup/memory/wharf/${id}`)).toBe(false);
      expect(existsSync(v2 ? `/sys/fs/cgroup/wharf/${id}` : `/sys/fs/cgroup/pids/wharf/${id}`)).toBe(false);
    }
    expect((await runc(['list', '-q'])).stdout.trim()).toBe('');
  }, 180_000);
});
