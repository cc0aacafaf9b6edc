import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { SimNodes, RUN_SECONDS_ANNOTATION } from '../../src/cluster/scheduler/sim-nodes.js';
import type { Pod, Workflow, WorkflowTask } from '../../src/cluster/controllers/objects.js';

// A 20-task Workflow with diamonds on `bin/wharf server` (a subprocess: the controller
// manager and the scheduler run inside it), with simulated nodes in this process. The
// server is killed with SIGKILL mid-run and started again on the same data root: the
// Workflow resumes and finishes, and no task runs twice.

const BIN = join(import.meta.dirname, '../../bin/wharf');
const dataRoot = mkdtempSync('/var/tmp/wharf-test-wf-');
let server: ChildProcess | undefined;
let serverLog = '';
let cluster: ClusterClient | undefined;
const simAc = new AbortController();
let simRun: Promise<void> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const p = spawnProcess([process.execPath, BIN, 'server', '--data-root', dataRoot, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: process.env.WHARF_TEST_SERVER_LOG ?? 'warn' } });
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
  const end = Date.now() + 60_000;
  while (!out.includes('listening on')) {
    if (p.exitCode !== null) throw new Error(`wharf server exited with ${p.exitCode}`);
    if (Date.now() > end) throw new Error('wharf server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return p;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; server log tail:\n${serverLog.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function task(name: string, deps: string[], runSeconds = '0'): WorkflowTask {
  return {
    name,
    dependencies: deps,
    template: { metadata: { annotations: { [RUN_SECONDS_ANNOTATION]: runSeconds } }, spec: { containers: [{ name: 'main', image: 'busybox' }], restartPolicy: 'Never' } },
  };
}

/** 20 tasks: start, then 6 diamonds (two middles and a join), then one tail. */
function diamonds(): WorkflowTask[] {
  const ts = [task('start', [])];
  let prev = 'start';
  for (let i = 1; i <= 6; i++) {
    ts.push(task(`d${i}-a`, [prev], '1'), task(`d${i}-b`, [prev], '1'), task(`d${i}-join`, [`d${i}-a`, `d${i}-b`]));
    prev = `d${i}-join`;
  }
  ts.push(task('end', [prev]));
  return ts;
}

afterAll(async () => {
  simAc.abort();
  await simRun;
  await cluster?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if (server.exitCode === null) server.kill('SIGKILL');
  }
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('Workflow on bin/wharf server', () => {
  it('runs a 20-task diamond DAG in dependency order, independent tasks at once, and resumes after kill -9 of the server', async () => {
    expect(existsSync(join(import.meta.dirname, '../../dist/cmd/main.js'))).toBe(true); // npm test builds first
    const port = await freePort();
    server = await startServer(port);
    const token = readFileSync(join(dataRoot, 'admin.token'), 'utf8').trim();
    cluster = new ClusterClient({ server: `https://127.0.0.1:${port}`, token, caPem: readFileSync(join(dataRoot, 'pki', 'ca.crt'), 'utf8') });
    const sim = new SimNodes(
      { nodes: cluster.resource('v1', 'Node'), pods: cluster.resource('v1', 'Pod'), leases: cluster.resource('coordination.k8s.io/v1', 'Lease') },
      { clock: systemClock, log: silentLogger(), count: 2, namePrefix: 'wf-node', heartbeatSeconds: 2 },
    );
    simRun = sim.run(simAc.signal).catch(() => undefined);
    const wfApi = cluster.resource<Workflow>('wharf.dev/v1', 'Workflow');
    const tasks = diamonds();
    expect(tasks).toHaveLength(20);
    await wfApi.create({ apiVersion: 'wharf.dev/v1', kind: 'Workflow', metadata: { name: 'dag', namespace: 'default' }, spec: { tasks, onFailure: 'stop' } });
    // wait until some, not all, tasks are done, then kill -9 the server
    await until('5 tasks done', async () => Object.values((await wfApi.get('default', 'dag')).status?.tasks ?? {}).filter((t) => t.phase === 'Succeeded').length >= 5);
    server.kill('SIGKILL');
    await new Promise<void>((r) => server!.once('exit', () => r()));
    server = await startServer(port);
    const wf = await until('workflow finished', async () => {
      const w = await wfApi.get('default', 'dag');
      return w.status?.phase === 'Succeeded' || w.status?.phase === 'Failed' ? w : undefined;
    }, 180_000);
    expect(wf.status!.phase).toBe('Succeeded');
    const st = wf.status!.tasks!;
    for (const t of tasks) {
      expect(st[t.name]).toMatchObject({ phase: 'Succeeded', attempts: 1 });
      for (const d of t.dependencies ?? []) expect(Date.parse(st[t.name]!.startTime!)).toBeGreaterThanOrEqual(Date.parse(st[d]!.completionTime!));
    }
    // independent tasks ran at once: each diamond's two middles overlapped
    for (let i = 1; i <= 6; i++) {
      const a = st[`d${i}-a`]!;
      const b = st[`d${i}-b`]!;
      expect(Date.parse(a.startTime!)).toBeLessThan(Date.parse(b.completionTime!));
      expect(Date.parse(b.startTime!)).toBeLessThan(Date.parse(a.completionTime!));
    }
    const pods = (await cluster.resource<Pod>('v1', 'Pod').list({ namespace: 'default', labelSelector: 'wharf.dev/workflow=dag' })).items;
    expect(pods).toHaveLength(20); // one pod per task: nothing ran twice across the restart
    // the user's view
    const graph = await run([process.execPath, BIN, 'workflow', 'graph', 'dag', '--config', join(dataRoot, 'admin.yaml')], { timeoutMs: 30_000 });
    expect(graph.stdout).toContain('Workflow default/dag: Succeeded');
    expect(graph.stdout).toContain('  ✔ d1-a [Succeeded] <- start');
    expect(graph.stdout.trim().split('\n')).toHaveLength(21);
  }, 240_000);
});
