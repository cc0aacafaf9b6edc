import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { spawnProcess } from '../../src/core/exec/run.js';
import { systemClock } from '../../src/core/clock.js';
import { isWharfError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { SimNodes } from '../../src/cluster/scheduler/sim-nodes.js';
import type { Deployment, KEvent, Lease, Pod } from '../../src/cluster/controllers/objects.js';
import { isPodActive, isPodReady } from '../../src/cluster/controllers/pods.js';

// Two `bin/wharf server`s on one 3-member etcd: each runs a scheduler and a controller manager
// behind leader election. The first server leads both; it is killed with SIGKILL; the other's
// scheduler and controllers take over within the lease duration, and — watched through the
// API from the start — every pod is bound exactly once, by exactly one scheduler.

const BIN = join(import.meta.dirname, '../../bin/wharf');
const LEASE_MS = 4000;
const LEASE_FLAGS = ['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '500ms'];
const log = silentLogger();
let etcd: EtcdCluster | undefined;
const roots: string[] = [];
const procs: ChildProcess[] = [];
const logs: string[] = [];
let cluster: ClusterClient | undefined;
const simAc = new AbortController();
let simRun: Promise<void> | undefined;
const watchAc = new AbortController();
let watching: Promise<void> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts `wharf server`; tries another port if the one picked was taken meanwhile. */
async function startServer(i: number, datastore: string): Promise<{ proc: ChildProcess; url: string; token: string; caPem: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(i, datastore);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startServerOnce(i: number, datastore: string): Promise<{ proc: ChildProcess; url: string; token: string; caPem: string }> {
  const root = mkdtempSync('/var/tmp/wharf-test-ha-');
  roots.push(root);
  const port = await freePort();
  const p = spawnProcess([process.execPath, BIN, 'server', '--data-root', root, '--listen', `127.0.0.1:${port}`, '--datastore', datastore, ...LEASE_FLAGS], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
  });
  procs.push(p);
  logs[i] = '';
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (logs[i] += d.toString()));
  const end = Date.now() + 60_000;
  while (!out.includes('listening on')) {
    if (p.exitCode !== null) throw new Error(`wharf server ${i} exited with ${p.exitCode}: ${logs[i]!.slice(-2000)}`);
    if (Date.now() > end) throw new Error(`wharf server ${i} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc: p, url: `https://127.0.0.1:${port}`, token: readFileSync(join(root, 'admin.token'), 'utf8').trim(), caPem: readFileSync(join(root, 'pki', 'ca.crt'), 'utf8') };
}

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; server logs:\n${logs.map((l) => (l ?? '').slice(-1500)).join('\n---\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  watchAc.abort();
  await watching;
  simAc.abort();
  await simRun;
  await cluster?.close();
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }
  await etcd?.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('two wharf servers on a 3-member etcd', () => {
  it('kill -9 of the leader: the other server’s scheduler and controllers take over within the lease duration; every pod is bound exactly once', async () => {
    expect(existsSync(join(import.meta.dirname, '../../dist/cmd/main.js'))).toBe(true); // npm test builds first
    etcd = await startEtcdCluster({ members: 3 });
    const a = await startServer(0, etcd.datastoreUrl);
    const b = await startServer(1, etcd.datastoreUrl);
    cluster = new ClusterClient({ server: b.url, token: b.token, caPem: b.caPem });
    const leases = cluster.resource<Lease>('coordination.k8s.io/v1', 'Lease');
    const holder = async (name: string) => (await leases.get('kube-system', name)).spec?.holderIdentity ?? '';
    const heldBy = (h: string, p: ChildProcess) => h.includes(`_${p.pid}_`);
    // the first server started first: it leads both (the second found the Leases held)
    await until('server 0 to lead the scheduler and the controller manager', async () => heldBy(await holder('wharf-scheduler'), a.proc) && heldBy(await holder('wharf-controller-manager'), a.proc));

    // watch every pod from the start: record each binding (nodeName appearing) per pod uid
    const podApi = cluster.resource<Pod>('v1', 'Pod');
    const bindings = new Map<string, string[]>();
    const start = await podApi.list({ namespace: 'default' });
    watching = (async () => {
      const seen = new Map<string, string | undefined>();
      for (;;) {
        try {
          for await (const ev of podApi.watch({ namespace: 'default', resourceVersion: start.resourceVersion, signal: watchAc.signal })) {
            if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') continue;
            const uid = ev.object.metadata.uid!;
            const node = ev.object.spec.nodeName;
            if (node && seen.get(uid) !== node) bindings.set(uid, [...(bindings.get(uid) ?? []), node]);
            seen.set(uid, node);
          }
          return;
        } catch (e) {
          if (watchAc.signal.aborted) return;
          throw e;
        }
      }
    })();

    const sim = new SimNodes(
      { nodes: cluster.resource('v1', 'Node'), pods: cluster.resource('v1', 'Pod'), leases: cluster.resource('coordination.k8s.io/v1', 'Lease') },
      { clock: systemClock, log, count: 2, namePrefix: 'ha-node', heartbeatSeconds: 1, leaseDurationSeconds: 20 },
    );
    simRun = sim.run(simAc.signal).catch(() => undefined);
    const dApi = cluster.resource<Deployment>('apps/v1', 'Deployment');
    await dApi.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ha', namespace: 'default' }, spec: { replicas: 4, selector: { matchLabels: { app: 'ha' } }, template: { metadata: { labels: { app: 'ha' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } });
    await until('4 ready pods', async () => (await podApi.list({ namespace: 'default', labelSelector: 'app=ha' })).items.filter(isPodReady).length === 4);
    const scheduledEvents = async () => (await cluster!.resource<KEvent>('v1', 'Event').list({ namespace: 'default' })).items.filter((e) => e.reason === 'Scheduled');
    await until('a Scheduled event per pod so far', async () => (await scheduledEvents()).length === 4);

    // kill -9 the leader; pods created meanwhile wait for the new leader
    const killedAt = Date.now();
    a.proc.kill('SIGKILL');
    await new Promise<void>((r) => (a.proc.exitCode !== null || a.proc.signalCode !== null ? r() : a.proc.once('exit', () => r())));
    for (let i = 0; i < 3; i++) await podApi.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `bare-${i}`, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    await until('server 1 to lead both', async () => heldBy(await holder('wharf-scheduler'), b.proc) && heldBy(await holder('wharf-controller-manager'), b.proc), 30_000);
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThanOrEqual(LEASE_MS + 4000); // lease duration + a retry period + this poll, with room for a loaded machine
    await until('the bare pods bound by the new leader', async () => (await podApi.list({ namespace: 'default' })).items.filter((p) => p.metadata.name!.startsWith('bare-') && p.spec.nodeName).length === 3);

    // the new controller manager acts too
    for (let attempt = 0; ; attempt++) {
      const d = await dApi.get('default', 'ha');
      d.spec.replicas = 6;
      try {
        await dApi.update(d);
        break;
      } catch (e) {
        if (attempt >= 20 || !isWharfError(e, 'Conflict')) throw e;
      }
    }
    await until('6 ready pods', async () => (await podApi.list({ namespace: 'default', labelSelector: 'app=ha' })).items.filter((p) => isPodActive(p) && isPodReady(p)).length === 6);
    const all = (await podApi.list({ namespace: 'default' })).items;
    expect(all).toHaveLength(9);
    // every pod bound once, to one node, and one Scheduled event each (one scheduler placed it)
    await until('every binding seen by the watch', async () => all.every((p) => bindings.has(p.metadata.uid!)));
    for (const p of all) expect(bindings.get(p.metadata.uid!), p.metadata.name).toEqual([p.spec.nodeName]);
    const evs = await until('a Scheduled event for each pod', async () => {
      const e = await scheduledEvents();
      return e.length >= 9 ? e : undefined;
    });
    const perPod = new Map<string, number>();
    for (const e of evs) perPod.set(e.involvedObject.uid!, (perPod.get(e.involvedObject.uid!) ?? 0) + (e.count ?? 1));
    expect([...perPod.values()].every((n) => n === 1)).toBe(true);
    expect(perPod.size).toBe(9);
  }, 240_000);
});
