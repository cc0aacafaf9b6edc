import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { silentLogger } from '../../src/core/log.js';
import { run } from '../../src/core/exec/run.js';
import { isWharfError } from '../../src/core/errors.js';
import { Engine, type EngineConfig } from '../../src/engine/engine.js';
import type { EngineEvent } from '../../src/engine/events/event-bus.js';
import type { LogEntry } from '../../src/engine/containers/container-logs.js';
import { RegistryClient } from '../../src/registry/client/registry-client.js';
import { freeSubnets, suffix } from './net-helpers.js';
import { removeCgroupTree, waitFor } from './runtime-harness.js';

// The Engine facade as a second composition root uses it (the node agent, `wharf server`):
// construct from a config, start, drive containers only through the role objects, stop, and
// a second Engine on the same data root re-adopts what the first left running. Everything
// kernel-wide is this test's own (bridge, nft table, netns prefix, cgroup parent).

const sfx = suffix(6);
const dataRoot = `/var/tmp/wharf-test-engine-${sfx}`;
const execRoot = `/run/wharf-test-engine-${sfx}`;
const bridgeName = `wte${sfx}`;
const cgroupParent = `/wharf-test-engine-${sfx}`;
let bip = '';
let engine: Engine | undefined;

function config(): EngineConfig {
  return {
    dataRoot,
    execRoot,
    logger: silentLogger(),
    registry: new RegistryClient({ logger: silentLogger() }),
    bridgeName,
    bip,
    netnsPool: 0,
    cgroupParent,
    bootstrapBusybox: true,
  };
}

async function collect(it: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.text}`);
  return out;
}

beforeAll(async () => {
  const [subnet] = await freeSubnets(1);
  bip = subnet!.replace(/\.0\/24$/, '.1/24');
});

afterAll(async () => {
  if (engine) {
    for (const r of engine.containers.list({ all: true })) await engine.containers.remove(r.id, { force: true }).catch(() => undefined);
    await engine.stop().catch(() => undefined);
  }
  const links = JSON.parse((await run(['ip', '-json', 'link', 'show'])).stdout) as Array<{ ifname: string; master?: string }>;
  for (const l of links.filter((x) => x.ifname === bridgeName || x.master === bridgeName)) await run(['ip', 'link', 'del', 'dev', l.ifname], { allowFailure: true });
  await run(['nft', 'delete', 'table', 'ip', `wharf-${bridgeName}`], { allowFailure: true });
  const ns = (await run(['ip', 'netns', 'list'], { allowFailure: true })).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const n of ns.filter((x) => x.startsWith(`wharf-${bridgeName}-`))) await run(['ip', 'netns', 'del', n], { allowFailure: true });
  await removeCgroupTree(cgroupParent);
  await rm(dataRoot, { recursive: true, force: true });
  await rm(execRoot, { recursive: true, force: true });
});

describe('Engine facade', () => {
  it('runs containers through its roles: labels, logs as a stream, exec, stats, events, auto-remove; re-adopted by a second Engine', async () => {
    engine = new Engine(config());
    // One engine per data root.
    expect(() => new Engine(config())).toThrow(/in use by another wharf engine in this process/);
    const report = await engine.start();
    expect(report.containers.running).toEqual([]);
    const events: EngineEvent[] = [];
    const unsubscribe = engine.events.subscribe((e) => events.push(e));

    const { id: job } = await engine.containers.create({
      image: 'busybox',
      labels: { 'io.test.pod': sfx, 'io.test.role': 'job' },
      options: { cmd: ['sh', '-c', 'echo one; echo two >&2; sleep 0.3; echo three'] },
    });
    await engine.containers.start(job);
    const followed = await collect(engine.logs.read(job, { follow: true }));
    expect(followed).toEqual(['stdout:one\n', 'stderr:two\n', 'stdout:three\n']);
    expect((await engine.containers.wait(job)).exitCode).toBe(0);
    expect(await collect(engine.logs.read(job, { tail: 1 }))).toEqual(['stdout:three\n']);
    expect(await collect(engine.logs.read(job, { stdout: false }))).toEqual(['stderr:two\n']);

    const { id: svc } = await engine.containers.create({ image: 'busybox', labels: { 'io.test.pod': sfx, 'io.test.role': 'svc' }, options: { cmd: ['sleep', '60'] } });
    await engine.containers.start(svc);
    expect(engine.containers.list({ label: [`io.test.pod=${sfx}`] }).map((c) => c.id)).toEqual([svc]);
    expect(engine.containers.list({ all: true, label: [`io.test.pod=${sfx}`, 'io.test.role=job'] }).map((c) => c.id)).toEqual([job]);

    // Exec with its own streams and exit code.
    const x = engine.exec.create(svc, { cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], attachStdout: true, attachStderr: true });
    const out: string[] = [];
    const started = await engine.exec.start(x.id, { onAttach: (s) => {
      s.on('stdout', (b) => out.push(`stdout:${b.toString()}`));
      s.on('stderr', (b) => out.push(`stderr:${b.toString()}`));
    } });
    expect(await started.exited).toBe(3);
    await waitFor(async () => out.length >= 2, 3000, 'exec output');
    expect(out.sort()).toEqual(['stderr:err\n', 'stdout:out\n']);
    expect(engine.exec.inspect(x.id).exitCode).toBe(3);

    const sample = await engine.stats.sample(svc);
    expect(sample?.cgroup.pids.current).toBeGreaterThanOrEqual(1);
    expect(sample?.memTotal).toBeGreaterThan(0);
    expect(await engine.stats.sample(job)).toBeUndefined();

    // Auto-remove after a failed start: gone, and the error is the runtime's.
    const { id: bad } = await engine.containers.create({ image: 'busybox', autoRemove: true, options: { cmd: ['/no/such/binary'] } });
    await expect(engine.containers.start(bad)).rejects.toThrow(/no such file|not found/i);
    expect(() => engine!.containers.inspect(bad)).toThrow(expect.objectContaining({ kind: 'NotFound' }) as Error);

    const seen = events.filter((e) => e.type === 'container').map((e) => `${e.action}:${e.id === job ? 'job' : e.id === svc ? 'svc' : e.id === bad ? 'bad' : '?'}`);
    expect(seen).toEqual(expect.arrayContaining(['create:job', 'start:job', 'die:job', 'start:svc', 'exec_die:svc', 'destroy:bad']));
    unsubscribe();

    // Stop (svc keeps running: live restore); a second Engine on the same roots re-adopts it.
    await engine.stop();
    engine = new Engine(config());
    const again = await engine.start();
    expect(again.containers.running).toEqual([svc]);
    expect(engine.containers.inspect(svc).state.status).toBe('running');
    await engine.containers.remove(svc, { force: true });
    await engine.containers.remove(job);
    try {
      engine.containers.inspect(svc);
      expect.unreachable();
    } catch (e) {
      expect(isWharfError(e) && e.kind).toBe('NotFound');
    }
  });
});
