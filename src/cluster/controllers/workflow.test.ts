import { describe, it, expect } from 'vitest';
import { planWorkflow, topoOrder, substitute } from './workflow-core.js';
import { WorkflowController } from './workflow.js';
import { MemoryCluster } from './memory-cluster.js';
import { Informer } from '../client/informer.js';
import { FakeClock } from './fake-clock.js';
import { runSimKubelet, type SimKubeletOptions } from './sim-kubelet.js';
import { silentLogger } from '../../core/log.js';
import type { Pod, Workflow, WorkflowTask } from './objects.js';

const T0 = Date.UTC(2026, 0, 1);

function task(name: string, deps: string[] = [], o: { ann?: Record<string, string>; retries?: number; timeoutSeconds?: number; args?: string[]; env?: { name: string; value: string }[] } = {}): WorkflowTask {
  const t: WorkflowTask = {
    name,
    dependencies: deps,
    template: { metadata: { annotations: { 'wharf.dev/sim-run-ms': '1000', ...(o.ann ?? {}) } }, spec: { containers: [{ name: 'main', image: 'busybox', ...(o.args ? { args: o.args } : {}), ...(o.env ? { env: o.env } : {}) }], restartPolicy: 'Never' } },
  };
  if (o.retries !== undefined) t.retries = o.retries;
  if (o.timeoutSeconds !== undefined) t.timeoutSeconds = o.timeoutSeconds;
  return t;
}

function wf(tasks: WorkflowTask[], extra: Partial<Workflow['spec']> = {}): Workflow {
  return { apiVersion: 'wharf.dev/v1', kind: 'Workflow', metadata: { name: 'wf', namespace: 'default' }, spec: { tasks, ...extra } };
}

/** 20 tasks: a source, then 6 layers of diamonds (fan out to 3, fan in to 1... ) */
function diamonds(): WorkflowTask[] {
  const ts: WorkflowTask[] = [task('start')];
  let prev = 'start';
  let n = 1;
  while (n + 3 <= 19) {
    const k = ts.length;
    const mids = [`m${k}a`, `m${k}b`];
    for (const m of mids) ts.push(task(m, [prev]));
    const join = `j${k}`;
    ts.push(task(join, mids));
    prev = join;
    n += 3;
  }
  while (ts.length < 20) ts.push(task(`tail${ts.length}`, [prev]));
  return ts;
}

function setup(sim: SimKubeletOptions = {}) {
  const clock = new FakeClock(T0);
  const c = new MemoryCluster(clock);
  const log = silentLogger();
  const starts: { task: string; at: number }[] = [];
  const ends = new Map<string, number>();
  const simAc = new AbortController();
  const sims = runSimKubelet(c.resource('v1', 'Pod'), clock, simAc.signal, sim);
  const startController = () => {
    const ctx = { clock, log };
    const wfInf = new Informer<Workflow>(c.resource('wharf.dev/v1', 'Workflow'), clock, log);
    const podInf = new Informer<Pod>(c.resource('v1', 'Pod'), clock, log);
    const ctl = new WorkflowController(ctx, wfInf, podInf);
    const ac = new AbortController();
    const runs = [wfInf.run(ac.signal), podInf.run(ac.signal), ctl.controller.run(ac.signal)];
    return async () => {
      ac.abort();
      await Promise.all(runs);
    };
  };
  c.beforeWrite = (verb, o) => {
    if (verb === 'create' && o.kind === 'Pod') starts.push({ task: o.metadata.labels?.['wharf.dev/task'] ?? '', at: clock.now() });
    if (verb === 'status' && o.kind === 'Pod' && (o.status as Pod['status'])?.phase === 'Succeeded') ends.set(o.metadata.labels?.['wharf.dev/task'] ?? '', clock.now());
  };
  return {
    clock,
    c,
    api: c.resource<Workflow>('wharf.dev/v1', 'Workflow'),
    starts,
    ends,
    startController,
    stopSim: async () => {
      simAc.abort();
      await sims;
    },
  };
}

const get = async (api: { list(): Promise<{ items: Workflow[] }> }) => (await api.list()).items[0]!;

describe('Workflow core', () => {
  it('orders tasks topologically and reports a cycle or an unknown dependency', () => {
    const r = topoOrder([task('c', ['b']), task('a'), task('b', ['a'])]);
    expect('order' in r && r.order.map((t) => t.name)).toEqual(['a', 'b', 'c']);
    expect(topoOrder([task('a', ['b']), task('b', ['a'])])).toEqual({ error: 'dependency cycle: a -> b -> a' });
    expect(topoOrder([task('a', ['zz'])])).toEqual({ error: 'task "a" depends on unknown task "zz"' });
  });

  it('substitutes outputs of dependencies and parameters, and refuses others', () => {
    const out = (t: string) => (t === 'a' ? '42' : undefined);
    expect(substitute('n={{tasks.a.outputs.result}} p={{ workflow.parameters.x }}', 'b', new Set(['a']), out, new Map([['x', 'y']]))).toBe('n=42 p=y');
    expect(() => substitute('{{tasks.c.outputs.result}}', 'b', new Set(['a']), out, new Map())).toThrow(/not one of its dependencies/);
  });

  it('a Workflow with a cycle fails with a clear message and creates nothing', () => {
    const w = wf([task('a', ['b']), task('b', ['a'])]);
    w.metadata.uid = 'u';
    const plan = planWorkflow(w, [], T0);
    expect(plan.create).toHaveLength(0);
    expect(plan.status).toMatchObject({ phase: 'Failed', message: 'dependency cycle: a -> b -> a' });
  });
});

describe('WorkflowController (in memory)', () => {
  it('retries a task whose pod was evicted (deleted while running) as a new attempt', async () => {
    const h = setup({ finishDeletes: false });
    const stop = h.startController();
    await h.api.create(wf([task('long', [], { retries: 1, ann: { 'wharf.dev/sim-run-ms': '3000' } })]));
    await h.clock.advance(500);
    // a bound pod being deleted stays, marked, until its node finishes it; here the node is gone (a finalizer holds it)
    const podApi = h.c.resource<Pod>('v1', 'Pod');
    const p = await podApi.get('default', 'wf-long-1');
    p.metadata.finalizers = ['test/hold'];
    await podApi.update(p);
    await podApi.delete('default', 'wf-long-1');
    for (let i = 0; i < 12; i++) await h.clock.advance(500);
    const w = await get(h.api);
    expect(w.status!.tasks!.long).toMatchObject({ phase: 'Succeeded', attempts: 2, podName: 'wf-long-2' });
    await stop();
    await h.stopSim();
  });

  it('runs a 20-task diamond DAG in dependency order, independent tasks at once', async () => {
    const h = setup();
    const stop = h.startController();
    const tasks = diamonds();
    expect(tasks).toHaveLength(20);
    await h.api.create(wf(tasks));
    for (let i = 0; i < 40; i++) await h.clock.advance(500);
    const w = await get(h.api);
    expect(w.status!.phase).toBe('Succeeded');
    expect(Object.values(w.status!.tasks!).every((t) => t.phase === 'Succeeded' && t.attempts === 1)).toBe(true);
    const startOf = new Map(h.starts.map((s) => [s.task, s.at]));
    expect(startOf.size).toBe(20);
    for (const t of tasks) for (const d of t.dependencies ?? []) expect(startOf.get(t.name)!).toBeGreaterThanOrEqual(h.ends.get(d)!);
    // the two middles of each diamond started at the same moment
    expect(startOf.get('m1a')).toBe(startOf.get('m1b'));
    await stop();
    await h.stopSim();
  });

  it('resumes after the controller restarts mid-run without re-running finished tasks', async () => {
    const h = setup();
    let stop = h.startController();
    await h.api.create(wf(diamonds()));
    for (let i = 0; i < 9; i++) await h.clock.advance(500);
    await stop();
    const mid = await get(h.api);
    const done = Object.values(mid.status!.tasks!).filter((t) => t.phase === 'Succeeded').length;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(20);
    for (let i = 0; i < 4; i++) await h.clock.advance(500); // pods keep finishing while no controller runs
    stop = h.startController();
    for (let i = 0; i < 40; i++) await h.clock.advance(500);
    const w = await get(h.api);
    expect(w.status!.phase).toBe('Succeeded');
    expect(h.c.all<Pod>('Pod')).toHaveLength(20); // one pod per task: nothing ran twice
    await stop();
    await h.stopSim();
  });

  it('passes a task output to its dependents through {{tasks.NAME.outputs.result}}', async () => {
    const h = setup();
    const stop = h.startController();
    await h.api.create(
      wf([task('gen', [], { ann: { 'wharf.dev/sim-output': 'hello-42\n' } }), task('use', ['gen'], { args: ['echo', '{{tasks.gen.outputs.result}}'], env: [{ name: 'IN', value: 'x={{tasks.gen.outputs.result}}' }] })]),
    );
    for (let i = 0; i < 10; i++) await h.clock.advance(500);
    const use = h.c.all<Pod>('Pod').find((p) => p.metadata.labels!['wharf.dev/task'] === 'use')!;
    expect(use.spec.containers[0]!.args).toEqual(['echo', 'hello-42']);
    expect(use.spec.containers[0]!.env).toEqual([{ name: 'IN', value: 'x=hello-42' }]);
    expect((await get(h.api)).status!.tasks!.gen!.outputs).toEqual({ result: 'hello-42' });
    await stop();
    await h.stopSim();
  });

  it('retries a failing task, times out a hung one, and with onFailure=continue runs the independent branch', async () => {
    const h = setup({ decide: (p) => (p.metadata.name === 'wf-flaky-1' ? { exitCode: 1, runMs: 100 } : undefined) });
    const stop = h.startController();
    await h.api.create(
      wf(
        [
          task('flaky', [], { retries: 1 }),
          task('hang', [], { timeoutSeconds: 2, ann: { 'wharf.dev/sim-run-ms': '999999' } }),
          task('after-hang', ['hang']),
          task('other', ['flaky']),
        ],
        { onFailure: 'continue' },
      ),
    );
    for (let i = 0; i < 20; i++) await h.clock.advance(500);
    const w = await get(h.api);
    expect(w.status!.tasks!.flaky).toMatchObject({ phase: 'Succeeded', attempts: 2, podName: 'wf-flaky-2' });
    expect(w.status!.tasks!.hang).toMatchObject({ phase: 'Failed', message: 'timed out after 2s' });
    expect(w.status!.tasks!['after-hang']!.phase).toBe('Skipped');
    expect(w.status!.tasks!.other!.phase).toBe('Succeeded');
    expect(w.status!.phase).toBe('Failed');
    await stop();
    await h.stopSim();
  });

  it('with onFailure=stop starts nothing new after a failure', async () => {
    const h = setup();
    const stop = h.startController();
    await h.api.create(wf([task('bad', [], { ann: { 'wharf.dev/sim-exit-code': '3' } }), task('slow', [], { ann: { 'wharf.dev/sim-run-ms': '3000' } }), task('next', ['slow'])], { onFailure: 'stop' }));
    for (let i = 0; i < 20; i++) await h.clock.advance(500);
    const w = await get(h.api);
    expect(w.status!.tasks!.bad).toMatchObject({ phase: 'Failed', message: 'exit code 3 (Error)' });
    expect(w.status!.tasks!.slow!.phase).toBe('Succeeded'); // already running: allowed to finish
    expect(w.status!.tasks!.next!.phase).toBe('Skipped');
    expect(w.status!.phase).toBe('Failed');
    await stop();
    await h.stopSim();
  });
});
