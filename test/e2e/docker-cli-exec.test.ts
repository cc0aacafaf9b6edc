import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { spawnProcess } from '../../src/core/exec/run.js';
import { waitFor } from './daemon-harness.js';
import { exitOf, useTestDaemon } from '../helpers/test-daemon.js';

// exec, -it (under a real pty from `script`), attach, resize, pause/unpause, rename and top
// through the real docker CLI 28 against `wharf daemon`.

const suffix = Math.random().toString(36).slice(2, 8);
const d = useTestDaemon({ bootstrap: true });
const box = `box-${suffix}`;

beforeAll(async () => {
  const r = await d.docker(['run', '-d', '--name', box, 'busybox', 'sleep', '600']);
  if (r.code !== 0) throw new Error(`run -d failed: ${r.stderr}`);
}, 90_000);

function cliEnv(): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST: d.host, DOCKER_CONFIG: join(d.dir, 'docker-config') };
}

/** Runs `cmd` under a real pty (`script`), types `input` once `prompt` shows, returns exit code and output. */
async function interactive(cmd: string, input: string, prompt = '# '): Promise<{ code: number | null; out: string }> {
  const p = spawnProcess(['script', '-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: cliEnv() });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  try {
    await waitFor(() => out.includes(prompt) || p.exitCode !== null, 30_000, `prompt of ${cmd}`);
    p.stdin!.write(input);
    const code = await exitOf(p, 30_000);
    return { code, out };
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL');
  }
}

/** A raw API call on the daemon's socket. */
function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request({ socketPath: d.socket, method, path, headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function eventsSince(since: number, filters: string[]): Promise<string> {
  const r = await d.docker(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), ...filters.flatMap((f) => ['--filter', f]), '--format', '{{.Action}} {{json .Actor.Attributes}}']);
  return r.stdout;
}

describe('docker exec', () => {
  it('exit codes pass through; stdout and stderr stay separate', async () => {
    const ok = await d.docker(['exec', box, 'sh', '-c', 'echo out; echo err >&2']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('out\n');
    expect(ok.stderr).toBe('err\n');
    expect((await d.docker(['exec', box, 'sh', '-c', 'exit 5'])).code).toBe(5);
  });

  it('-e -w -u apply (env added to the container env, workdir, numeric user)', async () => {
    const r = await d.docker(['exec', '-e', 'A=1', '-w', '/tmp', '-u', '1000', box, 'sh', '-c', 'echo $A; pwd; id -u; echo $PATH']);
    expect(r.code, r.stderr).toBe(0);
    const [a, cwd, uid, path] = r.stdout.split('\n');
    expect([a, cwd, uid]).toEqual(['1', '/tmp', '1000']);
    expect(path).toMatch(/\/bin/); // the container's env is kept
    const root = await d.docker(['exec', '-u', 'root', box, 'id', '-u']);
    expect(root.stdout.trim()).toBe('0');
  });

  it('-i forwards stdin until EOF; -d runs in the background', async () => {
    const r = await d.docker(['exec', '-i', box, 'sh', '-c', 'cat; echo done'], { input: 'hello\nworld\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello\nworld\ndone\n');
    const bg = await d.docker(['exec', '-d', box, 'sh', '-c', 'echo bg > /tmp/bg-mark']);
    expect(bg.code, bg.stderr).toBe(0);
    let seen = '';
    for (let i = 0; i < 100 && seen !== 'bg'; i++) {
      seen = (await d.docker(['exec', box, 'cat', '/tmp/bg-mark'])).stdout.trim();
      if (seen !== 'bg') await new Promise((res) => setTimeout(res, 100));
    }
    expect(seen).toBe('bg');
  });

  it('--privileged gets every capability; a plain exec does not', async () => {
    const plain = await d.docker(['exec', box, 'sh', '-c', 'grep CapEff /proc/self/status']);
    const priv = await d.docker(['exec', '--privileged', box, 'sh', '-c', 'grep CapEff /proc/self/status']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(priv.code, priv.stderr).toBe(0);
    const caps = (s: string) => BigInt(`0x${s.trim().split(/\s+/)[1]}`);
    expect(caps(priv.stdout) > caps(plain.stdout)).toBe(true);
    expect(caps(priv.stdout) & (1n << 21n)).toBe(1n << 21n); // CAP_SYS_ADMIN
    // A privileged container gets the same set (what the daemon holds), and starts.
    const run = await d.docker(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status']);
    expect(run.code, run.stderr).toBe(0);
    expect(caps(run.stdout)).toBe(caps(priv.stdout));
  });

  it('a missing binary → 127 with the runtime message', async () => {
    const r = await d.docker(['exec', box, 'nope-not-here']);
    expect(r.code).toBe(127);
    expect(r.stdout + r.stderr).toMatch(/nope-not-here.*(executable file not found|no such file)/);
  });

  it('exec in a stopped container → 409 "is not running"; unknown exec id → 404', async () => {
    const name = `stopped-${suffix}`;
    expect((await d.docker(['create', '--name', name, 'busybox', 'true'])).code).toBe(0);
    const r = await d.docker(['exec', name, 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/is not running/);
    const raw = await api('POST', `/v1.47/containers/${name}/exec`, { Cmd: ['true'], AttachStdout: true });
    expect(raw.status).toBe(409);
    expect((await api('GET', '/v1.47/exec/0123456789abcdef/json')).status).toBe(404);
    expect((await api('POST', '/v1.47/exec/0123456789abcdef/start', { Detach: true })).status).toBe(404);
    expect((await d.docker(['rm', name])).code).toBe(0);
  });

  it('exec inspect shows ExitCode, ProcessConfig and Pid; a second start is refused; events exec_create/start/die', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const c = await api('POST', `/v1.47/containers/${box}/exec`, { Cmd: ['sh', '-c', 'exit 3'], User: '1000' });
    expect(c.status).toBe(201);
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    const before = JSON.parse((await api('GET', `/v1.47/exec/${id}/json`)).body) as Record<string, unknown>;
    expect(before).toMatchObject({ ID: id, Running: false, ExitCode: null, ProcessConfig: { entrypoint: 'sh', arguments: ['-c', 'exit 3'], user: '1000', tty: false } });
    expect((await api('POST', `/v1.47/exec/${id}/start`, { Detach: true })).status).toBe(200);
    let info: Record<string, unknown> = {};
    for (let i = 0; i < 200 && info.ExitCode !== 3; i++) {
      info = JSON.parse((await api('GET', `/v1.47/exec/${id}/json`)).body) as Record<string, unknown>;
      if (info.ExitCode !== 3) await new Promise((res) => setTimeout(res, 100));
    }
    expect(info).toMatchObject({ Running: false, ExitCode: 3, Pid: 0 });
    expect((await api('POST', `/v1.47/exec/${id}/start`, { Detach: true })).status).toBe(409);
    let ev = '';
    for (let i = 0; i < 50 && !ev.includes('exec_die'); i++) ev = await eventsSince(since, [`container=${box}`]);
    expect(ev).toMatch(/exec_create: sh -c exit 3/);
    expect(ev).toMatch(/exec_start: sh -c exit 3/);
    const die = ev.split('\n').find((l) => l.startsWith('exec_die') && l.includes(`"execID":"${id}"`));
    expect(die, ev).toContain('"exitCode":"3"');
  }, 60_000);

  it('exec -it runs an interactive shell under a real pty with the terminal size', async () => {
    const r = await interactive(`stty rows 33 cols 101; docker exec -it ${box} sh`, 'stty size; echo hi-$((6*7)); exit 7\r');
    expect(r.code, r.out).toBe(7);
    expect(r.out).toContain('33 101');
    expect(r.out).toContain('hi-42');
  }, 60_000);
});

describe('-it run and attach', () => {
  it('run -it runs an interactive shell (typed input, resize, exit code)', async () => {
    const r = await interactive('stty rows 31 cols 97; docker run -it --rm busybox sh', 'stty size; echo hi; exit 7\r');
    expect(r.code, r.out).toBe(7);
    expect(r.out).toContain('31 97');
    expect(r.out).toMatch(/\r?\nhi\r?\n/);
    expect((await d.docker(['ps', '-aq', '--filter', 'ancestor=busybox', '--filter', 'status=exited'])).stdout.trim()).toBe('');
  }, 60_000);

  it('docker attach to a running container streams its output and returns its exit code', async () => {
    const name = `att-${suffix}`;
    const r = await d.docker(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'while [ ! -f /tmp/go ]; do echo tick; sleep 0.2; done; echo done; exit 4']);
    expect(r.code, r.stderr).toBe(0);
    const p = spawnProcess(['/usr/local/bin/docker', 'attach', '--no-stdin', name], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv() });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await waitFor(() => out.includes('tick') || p.exitCode !== null, 30_000, 'attach output');
      expect((await d.docker(['exec', name, 'touch', '/tmp/go'])).code).toBe(0);
      expect(await exitOf(p, 30_000)).toBe(4);
      expect(out).toContain('done\n');
    } finally {
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    // attach logs=1&stream=0 replays what was written, then closes (also on a stopped container).
    const logs = await api('POST', `/v1.47/containers/${name}/attach?logs=1&stream=0&stdout=1&stderr=1`);
    expect(logs.status).toBe(200);
    expect(logs.body).toContain('done\n');
    expect((await d.docker(['rm', name])).code).toBe(0);
  }, 60_000);

  it('resize of a stopped container → 409; bad sizes → 400', async () => {
    const name = `rs-${suffix}`;
    expect((await d.docker(['create', '--name', name, 'busybox', 'true'])).code).toBe(0);
    expect((await api('POST', `/v1.47/containers/${name}/resize?h=10&w=10`)).status).toBe(409);
    expect((await api('POST', `/v1.47/containers/${box}/resize?h=x&w=10`)).status).toBe(400);
    expect((await d.docker(['rm', name])).code).toBe(0);
  });
});

describe('pause, rename, top', () => {
  it('pause/unpause: ps shows (Paused), exec refused while paused, 409 when not running or already paused', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    expect((await d.docker(['pause', box])).code).toBe(0);
    try {
      const ps = await d.docker(['ps', '--filter', `name=${box}`, '--format', '{{.Status}}|{{.State}}']);
      expect(ps.stdout).toMatch(/\(Paused\)\|paused/);
      if (existsSync('/sys/fs/cgroup/freezer/wharf')) {
        // cgroups v1 (this machine): the freezer really froze the container's cgroup.
        const id = (await d.docker(['inspect', '-f', '{{.Id}}', box])).stdout.trim();
        expect((await readFile(`/sys/fs/cgroup/freezer/wharf/${id}/freezer.state`, 'utf8')).trim()).toBe('FROZEN');
      }
      const ex = await d.docker(['exec', box, 'true']);
      expect(ex.code).not.toBe(0);
      expect(ex.stderr).toMatch(/paused/);
      const again = await d.docker(['pause', box]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/already paused/);
    } finally {
      expect((await d.docker(['unpause', box])).code).toBe(0);
    }
    expect((await d.docker(['exec', box, 'true'])).code).toBe(0);
    const un = await d.docker(['unpause', box]);
    expect(un.stderr).toMatch(/not paused/);
    const name = `np-${suffix}`;
    expect((await d.docker(['create', '--name', name, 'busybox', 'true'])).code).toBe(0);
    const p = await d.docker(['pause', name]);
    expect(p.code).not.toBe(0);
    expect(p.stderr).toMatch(/is not running/);
    expect((await d.docker(['rm', name])).code).toBe(0);
    const ev = await eventsSince(since, [`container=${box}`]);
    expect(ev).toMatch(/^pause /m);
    expect(ev).toMatch(/^unpause /m);
  }, 60_000);

  it('rename: new name works, a taken name → 409, a rename event with oldName', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const a = `ra-${suffix}`;
    const b = `rb-${suffix}`;
    expect((await d.docker(['create', '--name', a, 'busybox', 'true'])).code).toBe(0);
    expect((await d.docker(['rename', a, b])).code).toBe(0);
    expect((await d.docker(['inspect', '-f', '{{.Name}}', b])).stdout.trim()).toBe(`/${b}`);
    expect((await d.docker(['inspect', a])).code).not.toBe(0);
    const taken = await d.docker(['rename', b, box]);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/already in use/);
    expect((await api('POST', `/v1.47/containers/${b}/rename?name=${box}`)).status).toBe(409);
    expect((await api('POST', `/v1.47/containers/${b}/rename?name=bad%20name`)).status).toBe(400);
    const ev = await eventsSince(since, ['event=rename']);
    expect(ev).toContain(`"name":"${b}"`);
    expect(ev).toContain(`"oldName":"/${a}"`);
    expect((await d.docker(['rm', b])).code).toBe(0);
  });

  it('top lists the container processes (default -ef and -o pid,comm); bad ps args → error with ps message', async () => {
    const t = await d.docker(['top', box]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^UID\s+PID\s+PPID/);
    expect(t.stdout).toMatch(/sleep 600/);
    expect(t.stdout.trim().split('\n')).toHaveLength(2);
    const o = await d.docker(['top', box, '-o', 'pid,comm']);
    expect(o.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[1])).toEqual(['COMMAND', 'sleep']);
    const bad = await d.docker(['top', box, '--no-such-flag']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ps: exit status/);
  });
});
