import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { run } from '../../src/core/exec/run.js';
import { isWharfError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { WarpClock } from '../helpers/warp-clock.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { startControllerManager, type RunningControllerManager } from '../../src/cluster/controllers/manager.js';
import { startInProcessScheduler } from '../../src/cmd/scheduler.js';
import { SimNodes, RUN_SECONDS_ANNOTATION } from '../../src/cluster/scheduler/sim-nodes.js';
import type { CronJob, DaemonSet, Job, KEvent, Obj, Pod } from '../../src/cluster/controllers/objects.js';
import { isPodActive, isPodReady } from '../../src/cluster/controllers/pods.js';
import { DS_HASH_LABEL } from '../../src/cluster/controllers/daemonset-core.js';

// CronJob, DaemonSet, PriorityClass admission and preemption, and per-key failure isolation,
// on a real API server (in process, SQLite on a temp data root) with the real scheduler and
// simulated nodes. The CronJob controller runs in a second controller manager on a WarpClock
// (real time plus an offset the test moves), so minutes of schedule pass in a moment while
// everything else (Jobs, node heartbeats) runs in real time.

const log = silentLogger();
const BIN = join(import.meta.dirname, '../../bin/wharf');
const suffix = Math.random().toString(36).slice(2, 7);
const warp = new WarpClock();

let srv: TestApiServer;
let cluster: ClusterClient;
let cm: RunningControllerManager;
let cmCron: RunningControllerManager;
let sched: { stop(): Promise<void> };
const sims = new Map<string, { ac: AbortController; run: Promise<void> }>();

function startSim(prefix: string, count: number, labels: Record<string, string>, extra: { cpu?: string; taints?: { key: string; value?: string; effect: 'NoSchedule' | 'NoExecute' }[] } = {}): string[] {
  const sim = new SimNodes(
    { nodes: cluster.resource('v1', 'Node'), pods: cluster.resource('v1', 'Pod'), leases: cluster.resource('coordination.k8s.io/v1', 'Lease') },
    { clock: systemClock, log, count, namePrefix: prefix, heartbeatSeconds: 1, leaseDurationSeconds: 10, labels, ...(extra.cpu ? { shape: { cpu: extra.cpu } } : {}), ...(extra.taints ? { taints: extra.taints } : {}) },
  );
  const ac = new AbortController();
  sims.set(prefix, { ac, run: sim.run(ac.signal).catch(() => undefined) });
  return sim.names;
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    const v = await f().catch((e: unknown) => {
      lastErr = e;
      return undefined;
    });
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ns = 'default';
const pods = () => cluster.resource<Pod>('v1', 'Pod');
const events = async (name: string, reason: string) =>
  (await cluster.resource<KEvent>('v1', 'Event').list({ namespace: ns })).items.filter((e) => e.involvedObject.name === name && e.reason === reason);

beforeAll(async () => {
  srv = await startTestApiServer();
  cluster = new ClusterClient({ server: srv.url, token: srv.adminToken, caPem: srv.caPem });
  const common = { log, leaderElection: false as const, jobTiming: { backoffBaseMs: 500, backoffMaxMs: 4000 }, node: { gracePeriodMs: 20_000, monitorPeriodMs: 1000 }, finalizeNamespace: (o: Obj) => cluster.finalizeNamespace(o) };
  cm = startControllerManager(cluster, { ...common, clock: systemClock, controllers: ['*', '-cronjob'] });
  cmCron = startControllerManager(cluster, { ...common, clock: warp, controllers: ['cronjob'] });
  sched = startInProcessScheduler({ url: srv.url, token: srv.adminToken, caPem: srv.caPem, logger: log });
  startSim(`w${suffix}`, 2, { role: 'worker' });
  startSim(`e${suffix}`, 1, { role: 'edge' }, { taints: [{ key: 'dedicated', value: 'edge', effect: 'NoSchedule' }] });
  await until('3 nodes', async () => (await cluster.resource('v1', 'Node').list()).items.length === 3);
});

afterAll(async () => {
  for (const s of sims.values()) s.ac.abort();
  await Promise.all([...sims.values()].map((s) => s.run));
  await cm?.stop();
  await cmCron?.stop();
  await sched?.stop();
  await cluster?.close();
  await srv?.stop();
});

// ------------------------------------------------------------------------------ CronJob

function cronJob(name: string, spec: Partial<CronJob['spec']>, runSeconds = '0'): CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: ns },
    spec: {
      schedule: '* * * * *',
      jobTemplate: { spec: { template: { metadata: { annotations: { [RUN_SECONDS_ANNOTATION]: runSeconds } }, spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never' } } } },
      ...spec,
    },
  };
}

/** Moves the CronJob controller's clock to 5 s past the next minute; returns that time. */
function nextMinute(): number {
  const t = (Math.floor(warp.now() / 60_000) + 1) * 60_000 + 5_000;
  warp.warpTo(t);
  return t;
}

const cjApi = () => cluster.resource<CronJob>('batch/v1', 'CronJob');
const jobApi = () => cluster.resource<Job>('batch/v1', 'Job');
const ownedJobs = async (cj: CronJob) => (await jobApi().list({ namespace: ns })).items.filter((j) => j.metadata.ownerReferences?.some((r) => r.uid === cj.metadata.uid));
const complete = (j: Job) => j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');

async function suspend(name: string): Promise<void> {
  await until(`suspend ${name}`, async () => {
    const c = await cjApi().get(ns, name);
    c.spec.suspend = true;
    await cjApi().update(c);
    return true;
  });
}

describe('CronJob', () => {
  it('starts one Job per scheduled time, records lastScheduleTime/active/lastSuccessfulTime, and keeps successfulJobsHistoryLimit', async () => {
    const cj = await cjApi().create(cronJob(`tick-${suffix}`, { successfulJobsHistoryLimit: 2 }));
    for (let i = 1; i <= 4; i++) {
      const t = nextMinute();
      const scheduled = new Date(t - 5_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      await until(`run ${i} scheduled at ${scheduled}`, async () => (await cjApi().get(ns, cj.metadata.name!)).status?.lastScheduleTime === scheduled);
      const job = await until(`job ${i} complete`, async () => (await ownedJobs(cj)).find((j) => j.metadata.name === `${cj.metadata.name}-${(t - 5_000) / 60_000}` && complete(j)));
      expect(job.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp']).toBe(scheduled);
    }
    // the history limit: only the 2 newest finished Jobs remain (their pods with them), and no Job is active
    const st = await until('history pruned and status settled', async () => {
      const js = await ownedJobs(cj);
      const c = await cjApi().get(ns, cj.metadata.name!);
      return js.length === 2 && !c.status?.active && c.status?.lastSuccessfulTime ? { js, c } : undefined;
    });
    const minutes = st.js.map((j) => Number(j.metadata.name!.split('-').pop())).sort();
    expect(minutes[1]! - minutes[0]!).toBe(1);
    const out = await run([process.execPath, BIN, 'get', 'cronjobs', ...srv.cliArgs], { timeoutMs: 30_000 });
    expect(out.stdout).toMatch(new RegExp(`tick-${suffix}\\s+\\* \\* \\* \\* \\*\\s+<none>\\s+False\\s+0\\s+`));
    await suspend(cj.metadata.name!);
  }, 120_000);

  it('concurrencyPolicy Forbid skips a start while a Job runs; Replace deletes the running Job and starts a new one', async () => {
    const forbid = await cjApi().create(cronJob(`forbid-${suffix}`, { concurrencyPolicy: 'Forbid' }, '3600'));
    const replace = await cjApi().create(cronJob(`replace-${suffix}`, { concurrencyPolicy: 'Replace' }, '3600'));
    nextMinute();
    const first = await until('both started once', async () => {
      const [f, r] = [await ownedJobs(forbid), await ownedJobs(replace)];
      const rc = await cjApi().get(ns, replace.metadata.name!);
      return f.length === 1 && r.length === 1 && rc.status?.active?.length === 1 ? { f: f[0]!, r: r[0]! } : undefined;
    });
    nextMinute();
    const second = await until('Replace started a second Job and deleted the first', async () => {
      const r = (await ownedJobs(replace)).filter((j) => !j.metadata.deletionTimestamp);
      const rc = await cjApi().get(ns, replace.metadata.name!);
      return r.length === 1 && r[0]!.metadata.uid !== first.r.metadata.uid && rc.status?.active?.[0]?.uid === r[0]!.metadata.uid ? r[0] : undefined;
    });
    expect(second.metadata.name).not.toBe(first.r.metadata.name);
    await until('a JobAlreadyActive event for Forbid', async () => (await events(forbid.metadata.name!, 'JobAlreadyActive')).length > 0);
    const f = await ownedJobs(forbid);
    expect(f.map((j) => j.metadata.uid)).toEqual([first.f.metadata.uid]);
    expect((await cjApi().get(ns, forbid.metadata.name!)).status?.active?.map((a) => a.uid)).toEqual([first.f.metadata.uid]);
    await suspend(forbid.metadata.name!);
    await suspend(replace.metadata.name!);
  }, 120_000);

  it('suspend starts nothing; after resuming, startingDeadlineSeconds drops starts missed for longer than it', async () => {
    const cj = await cjApi().create(cronJob(`late-${suffix}`, { suspend: true, startingDeadlineSeconds: 10 }));
    nextMinute();
    nextMinute();
    await new Promise((r) => setTimeout(r, 1500)); // give a (wrong) start the chance to happen
    expect(await ownedJobs(cj)).toHaveLength(0);
    // resume 30 s after a scheduled time: that start is 30 s late (> 10 s): skipped
    warp.warpTo(Math.floor(warp.now() / 60_000) * 60_000 + 30_000);
    await until('resume', async () => {
      const c = await cjApi().get(ns, cj.metadata.name!);
      c.spec.suspend = false;
      await cjApi().update(c);
      return true;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await ownedJobs(cj)).toHaveLength(0);
    // the next one is on time
    const t = nextMinute();
    await until('an on-time start', async () => (await ownedJobs(cj)).some((j) => j.metadata.name === `${cj.metadata.name}-${(t - 5_000) / 60_000}`));
    await suspend(cj.metadata.name!);
  }, 120_000);
});

// ------------------------------------------------------------------------------ DaemonSet

function daemonSet(name: string, extra: Partial<DaemonSet['spec']> = {}, podSpec: Record<string, unknown> = {}): DaemonSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: ns },
    spec: { selector: { matchLabels: { ds: name } }, template: { metadata: { labels: { ds: name } }, spec: { containers: [{ name: 'c', image: 'agent:1' }], ...podSpec } }, ...extra },
  };
}
const dsApi = () => cluster.resource<DaemonSet>('apps/v1', 'DaemonSet');
const dsPods = async (name: string) => (await pods().list({ namespace: ns, labelSelector: `ds=${name}` })).items;
const nodesOf = (ps: Pod[]) => ps.filter(isPodActive).map((p) => p.spec.nodeName!).sort();

async function setImage(name: string, image: string): Promise<void> {
  await until('template update', async () => {
    const d = await dsApi().get(ns, name);
    d.spec.template.spec!.containers[0]!.image = image;
    await dsApi().update(d);
    return true;
  });
}

describe('DaemonSet', () => {
  it('runs one pod per matching node (nodeSelector, taints), bound directly, follows nodes coming and going, with status counts', async () => {
    const name = `agent-${suffix}`;
    await dsApi().create(daemonSet(name, {}, { nodeSelector: { role: 'worker' } }));
    const workers = [`w${suffix}-0`, `w${suffix}-1`];
    await until('a ready pod on each worker', async () => {
      const ps = await dsPods(name);
      return JSON.stringify(nodesOf(ps)) === JSON.stringify(workers) && ps.every(isPodReady);
    });
    const p = (await dsPods(name))[0]!;
    // bound at creation (no scheduler involved), tolerating not-ready/unreachable forever
    expect(p.spec.tolerations).toEqual(expect.arrayContaining([{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }, { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }]));
    await until('status counts', async () => {
      const st = (await dsApi().get(ns, name)).status;
      return st?.desiredNumberScheduled === 2 && st.currentNumberScheduled === 2 && st.numberReady === 2 && st.numberAvailable === 2 && st.updatedNumberScheduled === 2 && st.numberMisscheduled === 0;
    });
    // a DaemonSet without selector runs everywhere except where a taint is not tolerated; tolerating it puts a pod there too
    const all = `all-${suffix}`;
    await dsApi().create(daemonSet(all));
    await until('all but the tainted edge node', async () => JSON.stringify(nodesOf(await dsPods(all))) === JSON.stringify(workers));
    const tol = `tol-${suffix}`;
    await dsApi().create(daemonSet(tol, {}, { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' }] }));
    await until('every node incl. the tainted one', async () => nodesOf(await dsPods(tol)).length === 3);
    // a new matching node gets a pod; a removed node's pod goes
    const [late] = startSim(`l${suffix}`, 1, { role: 'worker' });
    await until('a pod on the new node', async () => nodesOf(await dsPods(name)).includes(late!));
    sims.get(`l${suffix}`)!.ac.abort();
    await sims.get(`l${suffix}`)!.run;
    await cluster.resource('v1', 'Node').delete(undefined, late!);
    await until('the removed node has no pod', async () => JSON.stringify(nodesOf(await dsPods(name))) === JSON.stringify(workers) && (await dsPods(name)).length === 2, 90_000);
    await dsApi().delete(ns, all);
    await dsApi().delete(ns, tol);
    const out = await run([process.execPath, BIN, 'get', 'ds', name, ...srv.cliArgs], { timeoutMs: 30_000 });
    expect(out.stdout).toMatch(new RegExp(`${name}\\s+2\\s+2\\s+2\\s+2\\s+2\\s+`));
  }, 150_000);

  it('RollingUpdate replaces pods node by node within maxUnavailable (observed through a watch); rollout status reports it', async () => {
    const name = `roll-${suffix}`;
    await dsApi().create(daemonSet(name, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } } }, { tolerations: [{ key: 'dedicated', operator: 'Exists' }] }));
    await until('3 ready pods', async () => (await dsPods(name)).filter((p) => isPodActive(p) && isPodReady(p)).length === 3);
    const list = await pods().list({ namespace: ns, labelSelector: `ds=${name}` });
    const live = new Map<string, Pod>(list.items.map((p) => [p.metadata.name!, p]));
    let minReadyNodes = Infinity;
    const ac = new AbortController();
    const watching = (async () => {
      for await (const ev of pods().watch({ namespace: ns, labelSelector: `ds=${name}`, resourceVersion: list.resourceVersion, signal: ac.signal })) {
        if (ev.type === 'BOOKMARK') continue;
        if (ev.type === 'DELETED') live.delete(ev.object.metadata.name!);
        else live.set(ev.object.metadata.name!, ev.object);
        const readyNodes = new Set([...live.values()].filter((p) => isPodActive(p) && isPodReady(p)).map((p) => p.spec.nodeName));
        minReadyNodes = Math.min(minReadyNodes, readyNodes.size);
      }
    })().catch(() => undefined);
    try {
      const before = (await dsPods(name))[0]!.metadata.labels![DS_HASH_LABEL];
      await setImage(name, 'agent:2');
      await until('all 3 pods updated and ready', async () => {
        const ps = (await dsPods(name)).filter(isPodActive);
        return ps.length === 3 && ps.every((p) => isPodReady(p) && p.spec.containers[0]!.image === 'agent:2' && p.metadata.labels![DS_HASH_LABEL] !== before);
      }, 90_000);
      const st = await until('status updated', async () => {
        const d = await dsApi().get(ns, name);
        return d.status?.updatedNumberScheduled === 3 && d.status.numberAvailable === 3 ? d : undefined;
      });
      expect(st.status?.observedGeneration).toBe(st.metadata.generation);
    } finally {
      ac.abort();
      await watching;
    }
    expect(minReadyNodes).toBeGreaterThanOrEqual(2); // never more than maxUnavailable=1 node without a ready pod
    const out = await run([process.execPath, BIN, 'rollout', 'status', `ds/${name}`, '--no-watch', ...srv.cliArgs], { timeoutMs: 30_000 });
    expect(out.stdout).toContain(`daemon set "${name}" successfully rolled out`);
    await dsApi().delete(ns, name);
  }, 150_000);

  it('OnDelete keeps old pods until they are deleted, then recreates them from the new template', async () => {
    const name = `ondel-${suffix}`;
    await dsApi().create(daemonSet(name, { updateStrategy: { type: 'OnDelete' } }, { nodeSelector: { role: 'worker' } }));
    await until('2 ready pods', async () => (await dsPods(name)).filter((p) => isPodActive(p) && isPodReady(p)).length === 2);
    await setImage(name, 'agent:2');
    await until('the new generation observed', async () => {
      const d = await dsApi().get(ns, name);
      return d.status?.observedGeneration === d.metadata.generation && d.status?.updatedNumberScheduled === 0;
    });
    expect((await dsPods(name)).map((p) => p.spec.containers[0]!.image)).toEqual(['agent:1', 'agent:1']);
    const victim = (await dsPods(name))[0]!;
    await pods().delete(ns, victim.metadata.name!);
    await until('the deleted pod recreated with the new template on the same node', async () => {
      const ps = (await dsPods(name)).filter(isPodActive);
      const here = ps.find((p) => p.spec.nodeName === victim.spec.nodeName);
      return ps.length === 2 && here && here.metadata.uid !== victim.metadata.uid && here.spec.containers[0]!.image === 'agent:2';
    });
    expect((await dsPods(name)).filter((p) => p.spec.nodeName !== victim.spec.nodeName).map((p) => p.spec.containers[0]!.image)).toEqual(['agent:1']);
    await dsApi().delete(ns, name);
  }, 120_000);
});

// ------------------------------------------------------------------------------ PriorityClass

const pcApi = () => cluster.resource<Obj>('scheduling.k8s.io/v1', 'PriorityClass');
const pc = (name: string, value: number, extra: Record<string, unknown> = {}): Obj => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });
function pod(name: string, spec: Record<string, unknown> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } } as Pod;
}
async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('PriorityClass', () => {
  it('admission resolves priorityClassName to spec.priority; an unknown class is a 400; one globalDefault applies to pods without a class', async () => {
    await pcApi().create(pc(`high-${suffix}`, 1000, { description: 'important' }));
    const p = await pods().create(pod(`pri-${suffix}`, { priorityClassName: `high-${suffix}`, nodeSelector: { role: 'none' } }));
    expect(p.spec.priority).toBe(1000);
    expect(p.spec.preemptionPolicy).toBe('PreemptLowerPriority');
    const sys = await pods().create(pod(`sys-${suffix}`, { priorityClassName: 'system-node-critical', nodeSelector: { role: 'none' } }));
    expect(sys.spec.priority).toBe(2_000_001_000);
    const unknown = await errorOf(pods().create(pod(`unk-${suffix}`, { priorityClassName: 'no-such-class' })));
    expect(unknown.message).toMatch(/no PriorityClass with name "no-such-class" was found/);
    expect((unknown as { details?: { code?: number } }).details?.code).toBe(400);
    await expect(pods().get(ns, `unk-${suffix}`)).rejects.toSatisfy((e: unknown) => isWharfError(e, 'NotFound'));
    // user values above 1e9 and system- names are reserved
    expect((await errorOf(pcApi().create(pc(`huge-${suffix}`, 2_000_000_000)))).message).toMatch(/maximum allowed value of a user defined priority is 1000000000/);
    expect((await errorOf(pcApi().create(pc('system-mine', 5)))).message).toMatch(/"system-" prefix is reserved/);
    // globalDefault
    await pcApi().create(pc(`default-${suffix}`, 7, { globalDefault: true }));
    expect((await errorOf(pcApi().create(pc(`default2-${suffix}`, 8, { globalDefault: true })))).message).toMatch(/already marked as the global default/);
    const d = await until('a pod with the default priority', async () => {
      const x = await pods().create(pod(`def-${suffix}-${Math.random().toString(36).slice(2, 6)}`, { nodeSelector: { role: 'none' } }));
      return x.spec.priority === 7 ? x : undefined;
    });
    expect(d.spec.priorityClassName).toBe(`default-${suffix}`);
    await pcApi().delete(undefined, `default-${suffix}`);
    for (const x of (await pods().list({ namespace: ns })).items.filter((q) => /^(pri|sys|def)-/.test(q.metadata.name!))) await pods().delete(ns, x.metadata.name!);
    const out = await run([process.execPath, BIN, 'get', 'priorityclasses', ...srv.cliArgs], { timeoutMs: 30_000 });
    expect(out.stdout).toMatch(new RegExp(`high-${suffix}\\s+1000\\s+false`));
  }, 90_000);

  it('a higher-priority pod preempts a lower-priority one through the API: victim deleted with a Preempted event, preemptor bound after', async () => {
    const [small] = startSim(`s${suffix}`, 1, { pool: `small-${suffix}` }, { cpu: '1' });
    await pcApi().create(pc(`low-${suffix}`, 10));
    await pcApi().create(pc(`top-${suffix}`, 100_000));
    const spec = (cls: string, cpu: string) => ({ priorityClassName: cls, nodeSelector: { pool: `small-${suffix}` }, containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu } } }] });
    await pods().create(pod(`low-a-${suffix}`, spec(`low-${suffix}`, '500m')));
    await pods().create(pod(`low-b-${suffix}`, spec(`low-${suffix}`, '500m')));
    await until('both low pods running on the small node', async () => {
      const ps = await Promise.all([pods().get(ns, `low-a-${suffix}`), pods().get(ns, `low-b-${suffix}`)]);
      return ps.every((p) => p.spec.nodeName === small && p.status?.phase === 'Running');
    });
    await pods().create(pod(`top-${suffix}`, spec(`top-${suffix}`, '400m')));
    const bound = await until('the preemptor bound to the small node', async () => {
      const p = await pods().get(ns, `top-${suffix}`);
      return p.spec.nodeName === small ? p : undefined;
    }, 90_000);
    expect(bound.spec.priority).toBe(100_000);
    const left = (await pods().list({ namespace: ns })).items.filter((p) => p.metadata.name!.startsWith('low-') && p.metadata.name!.endsWith(suffix) && isPodActive(p));
    expect(left).toHaveLength(1); // one victim was enough
    const victim = [`low-a-${suffix}`, `low-b-${suffix}`].find((n) => n !== left[0]!.metadata.name)!;
    const ev = await until('the Preempted event on the victim', async () => (await events(victim, 'Preempted'))[0]);
    expect(ev.message).toContain(`Preempted by pod ${ns}/top-${suffix}`);
  }, 120_000);
});

// ------------------------------------------------------------------------------ failure isolation

describe('a controller failing on one object keeps serving the others', () => {
  it('a Job whose pods cannot be created backs off (FailedCreate events) while another Job completes; it recovers once the cause is fixed', async () => {
    const job = (name: string, cls?: string): Job => ({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: ns },
      spec: { template: { metadata: { annotations: { [RUN_SECONDS_ANNOTATION]: '0' } }, spec: { containers: [{ name: 'c', image: 'busybox' }], restartPolicy: 'Never', ...(cls ? { priorityClassName: cls } : {}) } } },
    });
    const cls = `later-${suffix}`;
    await jobApi().create(job(`broken-${suffix}`, cls));
    await jobApi().create(job(`fine-${suffix}`));
    await until('the good Job completes', async () => complete(await jobApi().get(ns, `fine-${suffix}`)));
    const failed = await until('FailedCreate events on the broken Job', async () => (await events(`broken-${suffix}`, 'FailedCreate'))[0]);
    expect(failed.message).toContain(`no PriorityClass with name "${cls}"`);
    expect(failed.type).toBe('Warning');
    // the retries back off: far fewer attempts than a hot loop would make in this time
    await new Promise((r) => setTimeout(r, 2000));
    const n = (await events(`broken-${suffix}`, 'FailedCreate'))[0]?.count ?? 1;
    expect(n).toBeLessThan(40);
    await pcApi().create(pc(cls, 1));
    await until('the broken Job recovers and completes', async () => complete(await jobApi().get(ns, `broken-${suffix}`)), 90_000);
  }, 150_000);
});
