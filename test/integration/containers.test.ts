import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isWharfError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { run } from '../../src/core/exec/run.js';
import { EngineDb } from '../../src/engine/db.js';
import { ImageService } from '../../src/engine/images/image-service.js';
import { OverlaySnapshotter } from '../../src/engine/snapshots/overlay-snapshotter.js';
import { ConmonRuntime } from '../../src/engine/runtime/conmon-runtime.js';
import { ContainerService } from '../../src/engine/containers/container-service.js';
import type { ContainerEvent } from '../../src/engine/containers/types.js';
import { removeCgroupTree, waitFor } from './runtime-harness.js';

// The container engine on a real data root: busybox image from the host's busybox-static,
// overlay snapshots, conmon + runc. Everything is removed in afterAll.

const suffix = randomBytes(4).toString('hex');
const dataRoot = `/var/tmp/wharf-test-ct-${suffix}`;
const cgroupParent = `/wharf-test-ct-${suffix}`;
const dbs: EngineDb[] = [];
let svc: ContainerService;
let events: ContainerEvent[] = [];
let images: ImageService;

function makeService(): ContainerService {
  const db = EngineDb.open({ dataRoot });
  dbs.push(db);
  images = new ImageService({ dataRoot, db, logger: silentLogger() });
  const snapshotter = new OverlaySnapshotter({ dataRoot, db, images });
  const runtime = new ConmonRuntime({ root: join(dataRoot, 'runtime'), runtimeRoot: join(dataRoot, 'runc'), logger: silentLogger() });
  const s = new ContainerService({ dataRoot, db, images, snapshotter, runtime, logger: silentLogger(), cgroupParent });
  s.on('event', (e) => events.push(e));
  return s;
}

const mountsUnder = async () => (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(dataRoot));

beforeAll(async () => {
  svc = makeService();
  await images.bootstrapBusybox();
});

afterAll(async () => {
  for (const r of svc?.list({ all: true }) ?? []) await svc.remove(r.id, { force: true }).catch(() => undefined);
  svc?.close();
  for (const line of await mountsUnder()) await run(['umount', '-l', line.split(' ')[1]!], { allowFailure: true });
  for (const db of dbs) db.close();
  await removeCgroupTree(cgroupParent);
  await rm(dataRoot, { recursive: true, force: true });
});

const logOf = async (id: string) => readFile(svc.inspect(id).logPath, 'utf8').catch(() => '');

describe('containers engine', () => {
  it('create → start → exit: logs kept, nothing left mounted or in cgroups; remove cleans all', async () => {
    events = [];
    const { id } = await svc.create({ name: `echo-${suffix}`, image: 'busybox', options: { cmd: ['echo', 'hi'] } });
    expect(svc.inspect(`echo-${suffix}`).state.status).toBe('created');
    await svc.start(id);
    expect(await svc.wait(id, 'next-exit', AbortSignal.timeout(10_000))).toEqual({ exitCode: 0 });
    await waitFor(async () => svc.inspect(id).state.status === 'exited' && (await mountsUnder()).length === 0, 5000, 'exit handled');
    expect(await logOf(id)).toMatch(/stdout F hi$/m);
    expect(existsSync(`/sys/fs/cgroup/memory${cgroupParent}/${id}`)).toBe(false);
    expect(await svc.wait(id)).toEqual({ exitCode: 0 });
    await svc.remove(id);
    expect(existsSync(join(dataRoot, 'containers', id))).toBe(false);
    expect(() => svc.inspect(id)).toThrow(/No such container/);
    expect(events.map((e) => e.action)).toEqual(['create', 'start', 'die', 'destroy']);
  });

  it('bad input: name conflict, missing image, bad name, unknown capability — nothing created', async () => {
    const { id } = await svc.create({ name: `dup-${suffix}`, image: 'busybox', options: {} });
    const before = svc.list({ all: true }).length;
    const codes = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isWharfError(e) ? e.kind : String(e)));
    expect(await codes(svc.create({ name: `dup-${suffix}`, image: 'busybox', options: {} }))).toBe('Conflict');
    expect(await codes(svc.create({ image: 'nosuchimage:1', options: {} }))).toBe('NotFound');
    expect(await codes(svc.create({ name: 'bad name!', image: 'busybox', options: {} }))).toBe('InvalidArgument');
    expect(await codes(svc.create({ image: 'busybox', options: { capAdd: ['CAP_NOPE'] } }))).toBe('InvalidArgument');
    expect(await codes(svc.create({ image: 'busybox', options: { resources: { memory: 10 } } }))).toBe('InvalidArgument');
    expect(svc.list({ all: true }).length).toBe(before);
    await svc.remove(id);
  });

  it('stop: signal, timeout, then SIGKILL; remove of a running container needs force', async () => {
    const { id } = await svc.create({ image: 'busybox', options: { cmd: ['sleep', '60'] }, stopTimeout: 1 });
    await svc.start(id);
    expect(svc.list().map((r) => r.id)).toContain(id);
    const err = await svc.remove(id).catch((e: unknown) => e);
    expect(isWharfError(err, 'Conflict')).toBe(true);
    const t0 = Date.now();
    await svc.stop(id);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(svc.inspect(id).state).toMatchObject({ status: 'exited', exitCode: 137 });
    const again = await svc.stop(id).catch((e: unknown) => e);
    expect(isWharfError(again, 'NotModified')).toBe(true);
    await svc.start(id);
    await svc.remove(id, { force: true });
    expect(await mountsUnder()).toEqual([]);
  });

  it("a missing entrypoint fails start with runc's message and exit code 127", async () => {
    const { id } = await svc.create({ image: 'busybox', options: { cmd: ['nope'] } });
    const err = await svc.start(id).catch((e: unknown) => e);
    expect((err as Error).message).toContain('exec: "nope": executable file not found');
    expect(svc.inspect(id).state).toMatchObject({ status: 'created', exitCode: 127 });
    expect(await mountsUnder()).toEqual([]);
    await svc.remove(id);
  });

  it('restart policy on-failure:2 restarts twice then stays exited', async () => {
    const { id } = await svc.create({ image: 'busybox', options: { cmd: ['sh', '-c', 'exit 1'] }, restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } });
    await svc.start(id);
    await waitFor(async () => svc.inspect(id).state.restartCount === 2 && svc.inspect(id).state.status === 'exited', 10_000, 'two restarts');
    await new Promise((r) => setTimeout(r, 500));
    expect(svc.inspect(id).state).toMatchObject({ status: 'exited', exitCode: 1, restartCount: 2 });
    await svc.remove(id);
  });

  it('healthcheck: unhealthy after the retries, healthy once the probe passes, with events', async () => {
    events = [];
    const { id } = await svc.create({
      image: 'busybox',
      options: { cmd: ['sh', '-c', 'sleep 3; touch /tmp/ok; sleep 60'] },
      healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/ok && echo fine'], intervalNs: 200e6, timeoutNs: 2e9, retries: 2 },
    });
    await svc.start(id);
    expect(svc.inspect(id).state.health?.status).toBe('starting');
    await waitFor(async () => svc.inspect(id).state.health?.status === 'unhealthy', 8000, 'unhealthy');
    await waitFor(async () => svc.inspect(id).state.health?.status === 'healthy', 8000, 'healthy');
    const h = svc.inspect(id).state.health!;
    expect(h.failingStreak).toBe(0);
    expect(h.log.at(-1)).toMatchObject({ exitCode: 0, output: 'fine\n' });
    expect(events.map((e) => e.action).filter((a) => a.startsWith('health_status'))).toEqual(['health_status: unhealthy', 'health_status: healthy']);
    await svc.remove(id, { force: true });
  });

  it('live restore: a new engine re-adopts a running container and learns an exit that happened meanwhile', async () => {
    const { id: keep } = await svc.create({ image: 'busybox', options: { cmd: ['sh', '-c', 'while true; do echo tick; sleep 0.2; done'] } });
    const { id: ends } = await svc.create({ image: 'busybox', options: { cmd: ['sh', '-c', 'sleep 0.5; exit 4'] } });
    await svc.start(keep);
    await svc.start(ends);
    svc.close(); // the "daemon" goes away; conmon keeps both containers
    await new Promise((r) => setTimeout(r, 1200));
    svc = makeService();
    const rec = await svc.recover();
    expect(rec.running).toContain(keep);
    expect(rec.exited).toContain(ends);
    expect(svc.inspect(ends).state).toMatchObject({ status: 'exited', exitCode: 4 });
    expect(svc.inspect(keep).state.status).toBe('running');
    const ticks = (await logOf(keep)).split('\n').length;
    await waitFor(async () => (await logOf(keep)).split('\n').length > ticks + 2, 3000, 'still logging');
    await svc.kill(keep, 'KILL');
    expect((await svc.wait(keep, 'next-exit', AbortSignal.timeout(5000))).exitCode).toBe(137);
    await svc.remove(keep);
    await svc.remove(ends);
    expect(await mountsUnder()).toEqual([]);
  });
});
