import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isWharfError } from '../../src/core/errors.js';
import { processAlive } from '../../src/core/exec/run.js';
import type { ConmonRuntime } from '../../src/engine/runtime/conmon-runtime.js';
import { RuntimeHarness, readLog, waitFor } from './runtime-harness.js';
import { Cgroups } from '../../src/engine/runtime/cgroups.js';
import { updateResources } from '../../src/engine/runtime/spec.js';

// Real runc + conmon on the real kernel. Every container is force-deleted, every conmon
// killed and every cgroup removed in afterAll, even when a test fails.

const h = new RuntimeHarness();
let rt: ConmonRuntime;

beforeAll(async () => {
  await h.setup();
  rt = h.runtime();
});

afterAll(async () => {
  rt?.close();
  await h.cleanup();
  expect(existsSync(h.dir)).toBe(false);
  for (const hier of ['memory', 'pids', 'cpu']) expect(existsSync(`/sys/fs/cgroup/${hier}${h.cgroupParent}`)).toBe(false);
});

async function runToExit(tag: string, cmd: string[], opts: Parameters<RuntimeHarness['spec']>[2] = {}) {
  const id = h.id(tag);
  await rt.create(id, h.spec(id, cmd, opts));
  await rt.start(id);
  const exit = await rt.wait(id, AbortSignal.timeout(20_000));
  const log = await readLog(join(rt.bundleDir(id), 'ctr.log'));
  await rt.delete(id);
  return { id, exit, log };
}

describe('runtime (runc + conmon)', () => {
  it('runs echo hi and the log has the line', async () => {
    const { id, exit, log } = await runToExit('echo', ['echo', 'hi']);
    expect(exit.exitCode).toBe(0);
    expect(log).toMatch(/^\S+ stdout F hi$/m);
    expect(existsSync(rt.bundleDir(id))).toBe(false);
    expect(await rt.state(id)).toBeUndefined();
  });

  it('spec features on the real kernel: user and groups, hostname, env, workdir, read-only rootfs, tmpfs, --init, clamped ulimit', async () => {
    const script = 'id; hostname; echo $FOO; pwd; touch /x 2>&1 | head -c 40; echo; touch /scratch/y && echo tmpfs-ok; tr "\\0" " " < /proc/1/cmdline; echo; ulimit -n';
    const { exit, log } = await runToExit('features', ['sh', '-c', script], {
      user: 'alice', hostname: 'feat', env: ['FOO=bar'], workingDir: '/tmp', readonlyRootfs: true, tmpfs: { '/scratch': 'size=1m,mode=1777' },
      initPath: '/usr/bin/tini-static', ulimits: [{ name: 'nofile', soft: 1048576, hard: 1048576 }],
    });
    const lines = log.split('\n').map((l) => l.split(' ').slice(3).join(' '));
    expect(exit.exitCode).toBe(0);
    expect(lines).toContain('uid=1000(alice) gid=1000(alice) groups=10(wheel),50(staff)');
    expect(lines).toContain('feat');
    expect(lines).toContain('bar');
    expect(lines).toContain('/tmp');
    expect(log).toContain('Read-only file system');
    expect(lines).toContain('tmpfs-ok');
    expect(log).toMatch(/stdout [PF] \/sbin\/docker-init -- sh -c/);
    expect(lines).toContain('20000');
  });

  it('passes the exit code through', async () => {
    const { exit } = await runToExit('exit3', ['sh', '-c', 'echo to-err >&2; exit 3']);
    expect(exit).toMatchObject({ exitCode: 3, oomKilled: false });
  });

  it("surfaces runc's message for a missing entrypoint and leaves nothing behind", async () => {
    const id = h.id('nope');
    const err = await rt.create(id, h.spec(id, ['nope'])).catch((e: unknown) => e);
    expect(isWharfError(err, 'InvalidArgument')).toBe(true);
    expect((err as Error).message).toContain('exec: "nope": executable file not found');
    expect(existsSync(rt.bundleDir(id))).toBe(false);
    expect(await rt.state(id)).toBeUndefined();
    expect(existsSync(`/sys/fs/cgroup/memory${h.cgroupParent}/${id}`)).toBe(false);
  });

  it('applies the memory limit and reports an OOM kill', async () => {
    const mem = 32 * 1024 * 1024;
    const limit = await runToExit('memlim', ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'], { resources: { memory: mem } });
    expect(limit.log).toContain(`stdout F ${mem}`);
    const hog = await runToExit('oom', ['awk', 'BEGIN{s="xxxxxxxxxxxxxxxx"; while(1) s=s s}'], { resources: { memory: mem, memorySwap: mem } });
    expect(hog.exit.exitCode).toBe(137);
    expect(hog.exit.oomKilled).toBe(true);
  });

  it('stops a fork bomb at the pids limit', async () => {
    const { exit, log } = await runToExit('pids', ['sh', '-c', 'i=0; while [ $i -lt 40 ]; do sleep 2 & i=$((i+1)); done; echo forked-all'], { resources: { pidsLimit: 8 } });
    expect(log).toMatch(/can't fork/);
    expect(log).not.toContain('forked-all');
    expect(exit.exitCode).not.toBe(0);
  });

  it('the default seccomp profile denies unshare; unconfined allows it', async () => {
    const denied = await runToExit('seccomp', ['unshare', '-U', 'true']);
    expect(denied.exit.exitCode).not.toBe(0);
    expect(denied.log).toContain('Operation not permitted');
    const allowed = await runToExit('unconf', ['unshare', '-U', 'true'], { seccomp: { kind: 'unconfined' } });
    expect(allowed.exit.exitCode).toBe(0);
  });

  it('exec: detached exit code, attached stdout/stderr separated; kill, pause, resume', async () => {
    const id = h.id('exec');
    await rt.create(id, h.spec(id, ['sleep', '60']));
    await rt.start(id);
    const detached = await rt.exec(id, { args: ['sh', '-c', 'exit 7'] });
    expect(await detached.exited).toBe(7);
    const attached = await rt.exec(id, { args: ['sh', '-c', 'echo out1; echo err1 >&2; exit 4'] }, { attach: true });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    attached.stream!.on('stdout', (b) => out.push(b));
    attached.stream!.on('stderr', (b) => errs.push(b));
    expect(await attached.exited).toBe(4);
    await waitFor(async () => Buffer.concat(out).length > 0 && Buffer.concat(errs).length > 0, 3000, 'exec output');
    expect(Buffer.concat(out).toString()).toBe('out1\n');
    expect(Buffer.concat(errs).toString()).toBe('err1\n');
    attached.stream!.close();
    await rt.pause(id);
    expect((await rt.state(id))?.status).toBe('paused');
    await rt.resume(id);
    await rt.kill(id, 'WINCH');
    expect((await rt.state(id))?.status).toBe('running');
    await rt.kill(id, 'KILL');
    expect((await rt.wait(id, AbortSignal.timeout(5000))).exitCode).toBe(137);
    const err = await rt.exec(id, { args: ['true'] }).catch((e: unknown) => e);
    expect(isWharfError(err, 'Conflict')).toBe(true);
    await rt.delete(id);
  });

  it('cgroup stats and a live update of the memory limit', async () => {
    const cg = await Cgroups.detect();
    const id = h.id('stats');
    await rt.create(id, h.spec(id, ['sh', '-c', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 60'], { resources: { memory: 64 << 20, pidsLimit: 20, cpuShares: 512 } }));
    await rt.start(id);
    const path = `${h.cgroupParent}/${id}`;
    await waitFor(async () => (await cg.stats(path)).cpu.usageNs > 1e6, 5000, 'cpu usage');
    const s = await cg.stats(path);
    expect(s.memory.limit).toBe(64 << 20);
    expect(s.memory.usage).toBeGreaterThan(0);
    expect(s.pids).toMatchObject({ limit: 20 });
    expect(s.pids.current).toBeGreaterThanOrEqual(1);
    await rt.update(id, updateResources({ memory: 128 << 20, pidsLimit: 30 }));
    const after = await cg.stats(path);
    expect(after.memory.limit).toBe(128 << 20);
    expect(after.pids.limit).toBe(30);
    const ex = await rt.exec(id, { args: ['cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes'] }, { attach: true });
    const out: Buffer[] = [];
    ex.stream!.on('stdout', (b) => out.push(b));
    expect(await ex.exited).toBe(0);
    await waitFor(async () => Buffer.concat(out).length > 0, 3000, 'exec output');
    expect(Buffer.concat(out).toString().trim()).toBe(String(128 << 20));
    ex.stream!.close();
    await rt.delete(id, { force: true });
    expect(await cg.exists(path)).toBe(false);
  });

  it('attach: stdin in, stdout and stderr out, separated', async () => {
    const id = h.id('attach');
    await rt.create(id, h.spec(id, ['sh', '-c', 'read x; echo out:$x; echo err:$x >&2']), { stdin: true });
    const s = await rt.attach(id);
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    s.on('stdout', (b) => out.push(b));
    s.on('stderr', (b) => errs.push(b));
    await rt.start(id);
    await s.write('hello\n');
    expect((await rt.wait(id, AbortSignal.timeout(5000))).exitCode).toBe(0);
    await waitFor(async () => Buffer.concat(errs).length > 0 && Buffer.concat(out).length > 0, 3000, 'attach output');
    expect(Buffer.concat(out).toString()).toBe('out:hello\n');
    expect(Buffer.concat(errs).toString()).toBe('err:hello\n');
    s.close();
    await rt.delete(id);
  });

  it('tty: resize through the ctl FIFO', async () => {
    const id = h.id('tty');
    await rt.create(id, h.spec(id, ['sh', '-c', 'sleep 0.5; stty size'], { tty: true }), { tty: true });
    await rt.start(id);
    await rt.resize(id, 40, 120);
    expect((await rt.wait(id, AbortSignal.timeout(5000))).exitCode).toBe(0);
    expect(await readLog(join(rt.bundleDir(id), 'ctr.log'))).toContain('40 120');
    await rt.delete(id);
  });

  it('rotates logs: the live file restarts, old lines move to .1', async () => {
    const small = h.runtime({ logMaxSize: 4096, logMaxFiles: 3 });
    const id = h.id('rotate');
    await small.create(id, h.spec(id, ['sh', '-c', 'i=0; while [ $i -lt 60 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; sleep 0.5; echo after-rotate; sleep 0.3']));
    await small.start(id);
    const log = join(small.bundleDir(id), 'ctr.log');
    await waitFor(async () => (await readLog(log)).includes("line-59-"), 5000, 'all lines');
    expect(await small.rotateLog(id)).toBe(true);
    await small.wait(id, AbortSignal.timeout(5000));
    const files = await small.logFiles(id);
    expect(files).toEqual([`${log}.1`, log]);
    expect(await readLog(`${log}.1`)).toContain('line-0-');
    expect(await readLog(log)).toContain('after-rotate');
    expect(await readLog(log)).not.toContain('line-0-');
    await small.delete(id);
    small.close();
  });

  it('re-adopts after the daemon is killed: running kept, exit code learned, created-without-conmon deleted, lost conmon reported', async () => {
    const running = h.id('keep');
    const exiting = h.id('exits');
    const created = h.id('created');
    const orphan = h.id('orphan');
    const job = {
      root: h.root,
      runtimeRoot: h.runtimeRoot,
      containers: [
        { id: running, spec: h.spec(running, ['sh', '-c', 'while true; do echo tick; sleep 0.2; done']), start: true },
        { id: exiting, spec: h.spec(exiting, ['sh', '-c', 'sleep 0.5; exit 5']), start: true },
        { id: created, spec: h.spec(created, ['sleep', '60']), start: false },
        { id: orphan, spec: h.spec(orphan, ['sleep', '60']), start: true },
      ],
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/runtime-daemon-child.ts', JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => (String(b).includes('READY') ? resolve() : undefined));
      child.on('exit', (c) => reject(new Error(`child exited ${c}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // While the "daemon" is down: one container exits, the created one loses its conmon, one conmon dies.
    const conmonPid = async (id: string) => Number((await readFile(join(h.root, id, 'conmon.pid'), 'utf8')).trim());
    const killed = [await conmonPid(created), await conmonPid(orphan)];
    for (const pid of killed) process.kill(pid, 'SIGKILL');
    // SIGKILL is asynchronous: under load the process can still be alive for a moment.
    await waitFor(async () => !(await Promise.all(killed.map((pid) => processAlive(pid)))).some(Boolean), 5000, 'killed conmons gone');
    await waitFor(async () => existsSync(join(h.root, 'exits', exiting)), 5000, 'exit file');
    const linesBefore = (await readLog(join(h.root, running, 'ctr.log'))).split('\n').length;

    const rt2 = h.runtime();
    const rec = await rt2.recover();
    const byId = new Map(rec.map((r) => [r.id, r]));
    expect(byId.get(running)).toMatchObject({ status: 'running' });
    expect(byId.get(exiting)).toMatchObject({ status: 'exited', exit: { exitCode: 5, oomKilled: false } });
    expect(byId.get(created)).toMatchObject({ status: 'removed' });
    expect(byId.get(orphan)).toMatchObject({ status: 'lost' });
    expect(await rt2.state(created)).toBeUndefined();
    expect(existsSync(join(h.root, created))).toBe(false);

    // The kept container still logs, and its exit is seen by the new driver.
    await waitFor(async () => (await readLog(join(h.root, running, 'ctr.log'))).split('\n').length > linesBefore + 2, 3000, 'more log lines');
    const waiting = rt2.wait(running, AbortSignal.timeout(5000));
    await rt2.kill(running, 'SIGKILL');
    expect((await waiting).exitCode).toBe(137);
    for (const id of [running, exiting]) await rt2.delete(id);
    await rt2.delete(orphan, { force: true });
    rt2.close();
    expect((await readdir(h.root)).filter((n) => n !== 'exits' && n !== 'sockets')).toEqual([]);
    expect(await readdir(join(h.root, 'exits'))).toEqual([]);
  });
});
