import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { startDaemon, waitFor, type TestDaemon } from './daemon-harness.js';

// Resources, update, stats, OOM, pids limit, log rotation and image-in-use, through the real
// docker CLI 28 against `wharf daemon` (own data root and socket). Limits are checked where
// the kernel enforces them: the container's cgroup (v1 here; v2 paths when the host is v2).

const suffix = Math.random().toString(36).slice(2, 8);
const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
let d: TestDaemon;

beforeAll(async () => {
  d = await startDaemon();
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 90_000);

afterAll(async () => {
  if (!d) return;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    for (const id of ps.stdout.split('\n').filter(Boolean)) await d.docker(['rm', '-f', id]);
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
}, 60_000);

/** A cgroup file of a container (v1: per-controller hierarchy; v2: unified). */
function cgroupFile(id: string, v1Controller: string, v1File: string, v2File: string): string {
  return V2 ? join('/sys/fs/cgroup/wharf', id, v2File) : join('/sys/fs/cgroup', v1Controller, 'wharf', id, v1File);
}

async function idOf(name: string): Promise<string> {
  const r = await d.docker(['inspect', '-f', '{{.Id}}', name]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function pollUntil<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('resources through docker run', () => {
  it('-m 64m is the cgroup limit seen inside the container, and inspect shows Docker defaults', async () => {
    const name = `mem-${suffix}`;
    const file = V2 ? '/sys/fs/cgroup/memory.max' : '/sys/fs/cgroup/memory/memory.limit_in_bytes';
    const r = await d.docker(['run', '--name', name, '--network', 'none', '-m', '64m', '--memory-reservation', '32m', '--cpu-shares', '512', '--cpus', '0.5', '--pids-limit', '30', 'busybox', 'cat', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('67108864');
    const ins = await d.docker(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpuShares}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', name]);
    expect(ins.stdout.trim()).toBe('67108864 134217728 33554432 512 500000000 30');
    await d.docker(['rm', name]);
  });

  it('cpu quota/period, cpuset and pids land in the cgroup of a running container', async () => {
    const name = `cpu-${suffix}`;
    const r = await d.docker(['run', '-d', '--name', name, '--network', 'none', '--cpu-period', '50000', '--cpu-quota', '25000', '--cpuset-cpus', '0', '--pids-limit', '40', 'busybox', 'sleep', '600']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    if (V2) {
      expect(readFileSync(cgroupFile(id, '', '', 'cpu.max'), 'utf8').trim()).toBe('25000 50000');
    } else {
      expect(readFileSync(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us', ''), 'utf8').trim()).toBe('25000');
      expect(readFileSync(cgroupFile(id, 'cpu', 'cpu.cfs_period_us', ''), 'utf8').trim()).toBe('50000');
    }
    expect(readFileSync(cgroupFile(id, 'cpuset', 'cpuset.cpus', 'cpuset.cpus'), 'utf8').trim()).toBe('0');
    expect(readFileSync(cgroupFile(id, 'pids', 'pids.max', 'pids.max'), 'utf8').trim()).toBe('40');
    expect((await d.docker(['rm', '-f', name])).code).toBe(0);
    // The container's cgroup goes with it.
    expect(existsSync(cgroupFile(id, 'pids', '', ''))).toBe(false);
  });

  it('invalid values get Docker messages (exit 125) and create nothing', async () => {
    const before = (await d.docker(['ps', '-aq'])).stdout;
    const cases: [string[], string][] = [
      [['-m', '3m'], 'Minimum memory limit allowed is 6MB'],
      [['--cpus', '3'], 'Range of CPUs is from 0.01 to'],
      [['--cpuset-cpus', '77'], 'Requested CPUs are not available - requested 77'],
      [['-m', '64m', '--memory-swap', '32m'], 'Minimum memoryswap limit should be larger than memory limit'],
      [['-m', '32m', '--memory-reservation', '64m'], 'Minimum memory limit can not be less than memory reservation limit'],
      [['--cpu-period', '500'], 'CPU cfs period can not be less than 1ms'],
      [['--blkio-weight', '5'], 'Range of blkio weight is from 10 to 1000'],
      [['--log-opt', 'max-file=0'], 'max-file cannot be less than 1'],
    ];
    for (const [flags, msg] of cases) {
      const r = await d.docker(['run', '--rm', '--network', 'none', ...flags, 'busybox', 'true']);
      expect(r.code, flags.join(' ')).toBe(125);
      expect(r.stderr).toContain(msg);
    }
    expect((await d.docker(['ps', '-aq'])).stdout).toBe(before);
  });

  it('a memory hog is OOM-killed: exit 137, State.OOMKilled true, an oom event', async () => {
    const name = `oom-${suffix}`;
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await d.docker(['run', '--name', name, '--network', 'none', '-m', '32m', '--memory-swap', '32m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done'], { timeoutMs: 60_000 });
    expect(r.code).toBe(137);
    const ins = await d.docker(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}', name]);
    expect(ins.stdout.trim()).toBe('true 137 exited');
    const id = await idOf(name);
    const ev = await d.docker(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--format', '{{.Action}} {{.Actor.ID}}']);
    expect(ev.stdout.split('\n')).toContain(`oom ${id}`);
    await d.docker(['rm', name]);
  }, 90_000);

  it('a fork bomb stops at --pids-limit 20: the container survives, nothing escapes', async () => {
    const name = `bomb-${suffix}`;
    // PID 1 forks its sleeper before the bomb and then only waits (a builtin): it needs no fork to survive.
    const r = await d.docker(['run', '-d', '--name', name, '--network', 'none', '--pids-limit', '20', 'busybox', 'sh', '-c', 'sleep 600 & b() { b | b & }; b; wait']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    const events = cgroupFile(id, 'pids', 'pids.events', 'pids.events');
    // Wait until the kernel has refused forks (the limit was hit).
    await pollUntil(async () => readFileSync(events, 'utf8'), (t) => /max [1-9]/.test(t), 30_000, 'pids.events max > 0');
    const cur = Number(readFileSync(cgroupFile(id, 'pids', 'pids.current', 'pids.current'), 'utf8'));
    expect(cur).toBeLessThanOrEqual(20);
    const st = await d.docker(['inspect', '-f', '{{.State.Status}}', name]);
    expect(st.stdout.trim()).toBe('running');
    const procs = readFileSync(cgroupFile(id, 'pids', 'cgroup.procs', 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    expect((await d.docker(['rm', '-f', name], { timeoutMs: 60_000 })).code).toBe(0);
    // Every process of the bomb is gone with the container (killing PID 1 ends its pid namespace).
    await waitFor(() => procs.every((p) => !existsSync(`/proc/${p}`) || readFileSync(`/proc/${p}/stat`, 'utf8').split(' ')[2] === 'Z'), 20_000, 'bomb processes to exit');
    expect(existsSync(cgroupFile(id, 'pids', '', ''))).toBe(false);
  }, 90_000);
});

describe('docker update', () => {
  it('changes memory, cpu, pids and restart policy live; visible in the cgroup and in inspect', async () => {
    const name = `upd-${suffix}`;
    const id = (await d.docker(['run', '-d', '--name', name, '--network', 'none', 'busybox', 'sleep', '600'])).stdout.trim();
    const u = await d.docker(['update', '--memory', '128m', '--cpus', '0.5', '--pids-limit', '50', '--restart', 'on-failure:3', name]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout.trim()).toBe(name);
    expect(readFileSync(cgroupFile(id, 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8').trim()).toBe('134217728');
    expect(readFileSync(cgroupFile(id, 'pids', 'pids.max', 'pids.max'), 'utf8').trim()).toBe('50');
    const ins = await d.docker(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}', name]);
    expect(ins.stdout.trim()).toBe('134217728 268435456 500000000 50 on-failure:3');
    // Bad values change nothing.
    const bad = await d.docker(['update', '--memory', '2m', name]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('Minimum memory limit allowed is 6MB');
    expect(readFileSync(cgroupFile(id, 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8').trim()).toBe('134217728');
    // Back to unlimited pids.
    expect((await d.docker(['update', '--pids-limit', '-1', name])).code).toBe(0);
    expect(readFileSync(cgroupFile(id, 'pids', 'pids.max', 'pids.max'), 'utf8').trim()).toBe('max');
    await d.docker(['rm', '-f', name]);
  });
});

describe('stats', () => {
  it('docker stats --no-stream prints MEM USAGE / LIMIT and PIDS; the API has Docker fields', async () => {
    const name = `st-${suffix}`;
    const id = (await d.docker(['run', '-d', '--name', name, '--network', 'none', '-m', '64m', 'busybox', 'sh', '-c', 'sleep 600 & sleep 600 & wait'])).stdout.trim();
    await pollUntil(async () => readFileSync(cgroupFile(id, 'pids', 'pids.current', 'pids.current'), 'utf8').trim(), (v) => v === '3', 20_000, 'three processes');
    const s = await d.docker(['stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.PIDs}}', name], { timeoutMs: 30_000 });
    expect(s.code, s.stderr).toBe(0);
    const [n, mem, pids] = s.stdout.trim().split('|');
    expect(n).toBe(name);
    expect(mem).toMatch(/^[0-9.]+[KMG]?i?B \/ 64MiB$/);
    expect(pids).toBe('3');
    const table = await d.docker(['stats', '--no-stream', name], { timeoutMs: 30_000 });
    expect(table.stdout).toMatch(/MEM USAGE \/ LIMIT/);
    expect(table.stdout).toMatch(/PIDS/);
    // The raw API, one-shot.
    const api = await run(['curl', '-sf', '--unix-socket', d.socket, `http://wharf/v1.47/containers/${id}/stats?stream=false&one-shot=true`]);
    const j = JSON.parse(api.stdout) as Record<string, Record<string, unknown>>;
    expect(j.id).toBe(id);
    expect(j.name).toBe(`/${name}`);
    expect((j.cpu_stats!.cpu_usage as { total_usage: number }).total_usage).toBeGreaterThan(0);
    expect(j.cpu_stats!.system_cpu_usage).toBeGreaterThan(0);
    expect(j.cpu_stats!.online_cpus).toBeGreaterThan(0);
    expect(j.memory_stats!.limit).toBe(64 * 1024 * 1024);
    expect(j.memory_stats!.usage).toBeGreaterThan(0);
    expect(j.memory_stats!.stats).toHaveProperty(V2 ? 'inactive_file' : 'total_inactive_file');
    expect(j.pids_stats).toEqual({ current: 3 });
    expect(j).toHaveProperty('blkio_stats');
    // Streamed: one object per second.
    const st = await run(['curl', '-s', '--max-time', '5', '--unix-socket', d.socket, `http://wharf/v1.47/containers/${name}/stats`], { allowFailure: true });
    const frames = st.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { precpu_stats: { cpu_usage: { total_usage: number } } });
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames[0]!.precpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
    await d.docker(['rm', '-f', name]);
  }, 60_000);
});

describe('logs', () => {
  it('rotate at --log-opt max-size, keep max-file files, and docker logs reads across them in order', async () => {
    const name = `logs-${suffix}`;
    const r = await d.docker(['run', '-d', '--name', name, '--network', 'none', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); usleep 5000; done; sleep 600']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    const dir = join(d.dataRoot, 'containers', id);
    await pollUntil(async () => (await d.docker(['logs', '--tail', '1', name])).stdout, (o) => o === 'line-999\n', 60_000, 'the last line');
    // Rotation is a timer in the daemon: wait for it to act on the final size.
    await pollUntil(async () => readdirSync(dir).filter((f) => f.startsWith('ctr.log')).sort(), (f) => f.includes('ctr.log.2'), 20_000, 'two rotated files');
    const files = readdirSync(dir).filter((f) => f.startsWith('ctr.log'));
    expect(files.sort()).toEqual(['ctr.log', 'ctr.log.1', 'ctr.log.2']);
    const logs = (await d.docker(['logs', name])).stdout.trim().split('\n');
    // The oldest lines are gone (bounded), the rest is complete and in order.
    const nums = logs.map((l) => Number(/^line-([0-9]+)$/.exec(l)?.[1]));
    expect(nums.at(-1)).toBe(999);
    expect(nums[0]).toBeGreaterThan(0);
    for (let i = 1; i < nums.length; i++) expect(nums[i]).toBe(nums[i - 1]! + 1);
    await d.docker(['rm', '-f', name]);
  }, 90_000);
});

describe('images in use', () => {
  it('rmi of an image a running container uses is 409 naming the container; -f untags only', async () => {
    const name = `img-${suffix}`;
    const id = (await d.docker(['run', '-d', '--name', name, '--network', 'none', 'busybox', 'sleep', '600'])).stdout.trim();
    const imageId = (await d.docker(['inspect', '-f', '{{.Image}}', name])).stdout.trim();
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    try {
      const rm1 = await d.docker(['rmi', 'busybox']);
      expect(rm1.code).toBe(1);
      expect(rm1.stderr).toContain(`conflict: unable to remove repository reference "busybox" (must force) - container ${id.slice(0, 12)} is using its referenced image ${imageId.slice(7, 19)}`);
      const rm2 = await d.docker(['rmi', '-f', 'busybox']);
      expect(rm2.code, rm2.stderr).toBe(0);
      expect(rm2.stdout).toContain('Untagged: busybox:latest');
      expect(rm2.stdout).not.toContain('Deleted');
      // The image stays (dangling) and the container keeps running.
      expect((await d.docker(['image', 'inspect', '-f', '{{.Id}}', imageId])).stdout.trim()).toBe(imageId);
      expect((await d.docker(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('running');
    } finally {
      await d.docker(['tag', imageId, 'busybox:latest']);
      await d.docker(['rm', '-f', name]);
    }
  }, 60_000);
});
