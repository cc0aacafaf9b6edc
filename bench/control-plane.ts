// Control-plane store benchmark: SQLite and etcd backends in one run.
//   npx tsx bench/control-plane.ts [--backends sqlite,etcd] [--seconds 5] [--churn-updates 1000000]
//                                  [--churn-seconds 120] [--etcd-churn-seconds 30] [--no-etcd-perf]
// Figures: create/update throughput from 16 concurrent clients, list of 10,000 objects,
// watch fan-out (1,000 watchers: write -> last delivery, p50/p99), file size after
// N updates to 1,000 keys with compaction (SQLite), and `etcdctl check perf` for the ratio.
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run } from '../src/core/exec/run.js';
import { EtcdStore } from '../src/store/etcd/etcd-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store, WatchEvent } from '../src/store/store.js';
import { startEtcdCluster } from '../test/helpers/etcd-cluster.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'sqlite,etcd' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    watchers: { type: 'string', default: '1000' },
    'watch-writes': { type: 'string', default: '200' },
    'list-size': { type: 'string', default: '10000' },
    'churn-updates': { type: 'string', default: '1000000' },
    'churn-seconds': { type: 'string', default: '120' },
    'etcd-churn-seconds': { type: 'string', default: '30' },
    'no-etcd-perf': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const WATCHERS = Number(args.watchers);
const WATCH_WRITES = Number(args['watch-writes']);
const LIST_SIZE = Number(args['list-size']);
const CHURN_UPDATES = Number(args['churn-updates']);

/** A pod-like JSON object of about 1 KiB. */
function podValue(name: string, n = 0): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'bench', tier: 'web' }, annotations: { n: String(n) } },
    spec: {
      nodeName: 'node-1',
      containers: [
        {
          name: 'app',
          image: 'registry.local/bench/app:1.0',
          command: ['/bin/app', '--listen', ':8080'],
          env: Array.from({ length: 8 }, (_, i) => ({ name: `VAR_${i}`, value: 'x'.repeat(40) })),
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
        },
      ],
    },
    status: { phase: 'Running', podIP: '10.88.0.12', conditions: [{ type: 'Ready', status: 'True' }] },
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

interface Figures {
  createPerSec: number;
  updatePerSec: number;
  listMs: number;
  listMsMax: number;
  listCpuMs: number;
  watchP50: number;
  watchP99: number;
  watchDelivered: string;
  churn: string;
}

async function throughput(s: Store, tag: string, clients = CLIENTS): Promise<{ create: number; update: number }> {
  const CLIENTS = clients;
  const value = podValue('x');
  const keys: Array<Array<{ key: string; rev: number }>> = Array.from({ length: CLIENTS }, () => []);
  // Deadlines, not timers: a loop over a synchronous backend never yields to the timer queue.
  let deadline = performance.now() + SECONDS * 1000;
  const createWorker = async (w: number) => {
    let n = 0;
    while (performance.now() < deadline) {
      const key = `/bench/${tag}/pods/default/w${w}-${n++}`;
      const kv = await s.create(key, value);
      keys[w]!.push({ key, rev: kv.modRevision });
    }
  };
  let t = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => createWorker(w)));
  const created = keys.reduce((a, k) => a + k.length, 0);
  const create = created / ((performance.now() - t) / 1000);

  let updated = 0;
  const updateWorker = async (w: number) => {
    const mine = keys[w]!;
    let i = 0;
    while (performance.now() < deadline && mine.length > 0) {
      const k = mine[i % mine.length]!;
      const kv = await s.update(k.key, value, k.rev);
      k.rev = kv.modRevision;
      i++;
      updated++;
    }
  };
  t = performance.now();
  deadline = t + SECONDS * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => updateWorker(w)));
  const update = updated / ((performance.now() - t) / 1000);
  return { create, update };
}

async function listBench(s: Store, tag: string): Promise<{ median: number; max: number; cpu: number }> {
  const prefix = `/bench/${tag}/list/`;
  const names = Array.from({ length: LIST_SIZE }, (_, i) => `${prefix}default/pod-${String(i).padStart(5, '0')}`);
  let i = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (i < names.length) {
        const k = names[i++]!;
        await s.create(k, podValue(k));
      }
    }),
  );
  const times: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c = process.cpuUsage();
    const [res, ms] = await timed(() => s.list(prefix));
    const used = process.cpuUsage(c);
    if (res.items.length !== LIST_SIZE) throw new Error(`list returned ${res.items.length}, want ${LIST_SIZE}`);
    times.push(ms);
    cpu.push((used.user + used.system) / 1000);
  }
  // CPU time of this process too: on a shared machine, wall time includes waiting for a core.
  return { median: pct(times, 50), max: Math.max(...times), cpu: pct(cpu, 50) };
}

async function watchBench(s: Store, tag: string): Promise<{ p50: number; p99: number; delivered: string }> {
  const prefix = `/bench/${tag}/watch/`;
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  // revision -> deliveries so far, time of the last one, and the writer waiting for all
  const got = new Map<number, { n: number; last: number; done?: () => void }>();
  const consume = async (it: AsyncIterable<WatchEvent>) => {
    for await (const ev of it) {
      const rev = ev.kv.modRevision;
      let e = got.get(rev);
      if (!e) got.set(rev, (e = { n: 0, last: 0 }));
      e.n++;
      e.last = performance.now();
      if (e.n === WATCHERS) e.done?.();
    }
  };
  const start = await s.currentRevision();
  const loops = Array.from({ length: WATCHERS }, () => consume(s.watch(prefix, { signal: ac.signal, afterRevision: start })));
  const waitAll = async (rev: number, ms: number): Promise<boolean> => {
    let e = got.get(rev);
    if (!e) got.set(rev, (e = { n: 0, last: 0 }));
    if (e.n >= WATCHERS) return true;
    const entry = e;
    return Promise.race([
      new Promise<boolean>((r) => (entry.done = () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);
  };
  // Every watcher established (etcd: one stream each) before measuring.
  const ping = await s.create(`${prefix}ping`, 'x');
  if (!(await waitAll(ping.modRevision, 60_000))) throw new Error('watchers did not all connect within 60 s');
  const lat: number[] = [];
  let missed = 0;
  for (let i = 0; i < WATCH_WRITES; i++) {
    const key = `${prefix}obj-${i}`;
    const t = performance.now();
    const kv = await s.create(key, podValue(key, i));
    if (await waitAll(kv.modRevision, 5000)) lat.push(got.get(kv.modRevision)!.last - t);
    else missed++;
    got.delete(kv.modRevision);
    await new Promise((r) => setTimeout(r, 5));
  }
  ac.abort();
  await Promise.allSettled(loops);
  return {
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    delivered: `${WATCHERS} watchers x ${WATCH_WRITES} writes${missed ? ` (${missed} not fully delivered in 5 s)` : ''}`,
  };
}

async function churn(s: Store, tag: string, seconds: number, size: () => number): Promise<string> {
  const keys = Array.from({ length: 1000 }, (_, i) => `/bench/${tag}/churn/k${i}`);
  const revs = new Map<string, number>();
  for (const k of keys) revs.set(k, (await s.create(k, podValue(k))).modRevision);
  let done = 0;
  let maxSize = 0;
  const deadline = performance.now() + seconds * 1000;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, w) => {
      // Each client owns the keys congruent to w: no conflicts, every update lands.
      const mine = keys.filter((_k, i) => i % CLIENTS === w);
      let n = 0;
      while (done < CHURN_UPDATES && performance.now() < deadline) {
        const k = mine[n++ % mine.length]!;
        const kv = await s.update(k, podValue(k, n), revs.get(k)!);
        revs.set(k, kv.modRevision);
        done++;
        if (done % 20_000 === 0) maxSize = Math.max(maxSize, size());
      }
    }),
  );
  const secs = (performance.now() - t) / 1000;
  maxSize = Math.max(maxSize, size());
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  return `${done.toLocaleString('en')} updates in ${secs.toFixed(0)} s (${Math.round(done / secs)}/s): file ${mb(size())} MB, max ${mb(maxSize)} MB`;
}

async function benchStore(
  name: string,
  s: Store,
  tag: string,
  churnSeconds: number,
  churnStore: () => Promise<{ store: Store; size: () => number; close: () => Promise<void> }>,
): Promise<Figures> {
  process.stderr.write(`[${name}] throughput...\n`);
  const tp = await throughput(s, tag);
  process.stderr.write(`[${name}] create ${tp.create.toFixed(0)}/s update ${tp.update.toFixed(0)}/s; list...\n`);
  const list = await listBench(s, tag);
  process.stderr.write(`[${name}] list ${list.median.toFixed(1)} ms; watch fan-out...\n`);
  const w = await watchBench(s, tag);
  process.stderr.write(`[${name}] watch p50 ${w.p50.toFixed(1)} p99 ${w.p99.toFixed(1)}; churn...\n`);
  let c = 'skipped';
  if (churnSeconds > 0) {
    const cs = await churnStore();
    try {
      c = await churn(cs.store, tag, churnSeconds, cs.size);
    } finally {
      await cs.close();
    }
  }
  process.stderr.write(`[${name}] churn: ${c}\n`);
  return {
    createPerSec: tp.create,
    updatePerSec: tp.update,
    listMs: list.median,
    listMsMax: list.max,
    listCpuMs: list.cpu,
    watchP50: w.p50,
    watchP99: w.p99,
    watchDelivered: w.delivered,
    churn: c,
  };
}

async function etcdPerf(endpoint: string): Promise<string> {
  const r = await run(['etcdctl', '--endpoints', endpoint, 'check', 'perf', '--load', 'm', '--auto-compact', '--auto-defrag'], {
    timeoutMs: 120_000,
    allowFailure: true,
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /Throughput|Slowest|Stddev|PASS|FAIL/.test(l));
  return lines.map((l) => l.trim()).join('; ');
}

async function main(): Promise<void> {
  const backends = args.backends.split(',');
  const out: Record<string, Figures> = {};
  let perf = '';
  if (backends.includes('sqlite')) {
    const dir = mkdtempSync('/var/tmp/wharf-bench-store-');
    const s = new SqliteStore({ path: join(dir, 'cluster.db') });
    // The churn runs on a fresh file with the default compaction settings, so its size is
    // the cost of history alone.
    const churnStore = () => {
      const path = join(dir, 'churn.db');
      const store = new SqliteStore({ path });
      const size = () => statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
      return Promise.resolve({ store, size, close: () => store.close() });
    };
    try {
      out.sqlite = await benchStore('sqlite', s, 'sq', Number(args['churn-seconds']), churnStore);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (backends.includes('etcd')) {
    const etcd = await startEtcdCluster({ members: 1 });
    const s = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/wharf-bench' });
    const dbFile = join(etcd.members[0]!.dataDir, 'member', 'snap', 'db');
    // etcd's file after churn, with the compaction a Kubernetes apiserver would do (the
    // store compacts on request; the churn helper compacts every 10 s).
    const churnStore = () => {
      const store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/wharf-churn' });
      const t = setInterval(() => {
        store
          .currentRevision()
          .then((r) => store.compact(r - 5000 > 0 ? r - 5000 : 0))
          .catch(() => undefined);
      }, 10_000);
      return Promise.resolve({
        store,
        size: () => statSync(dbFile).size,
        close: async () => {
          clearInterval(t);
          await store.close();
        },
      });
    };
    try {
      out.etcd = await benchStore('etcd', s, 'et', Number(args['etcd-churn-seconds']), churnStore);
      await s.compact(await s.currentRevision());
      if (!args['no-etcd-perf']) {
        process.stderr.write('[etcd] etcdctl check perf --load m (60 s)...\n');
        perf = await etcdPerf(etcd.endpoints[0]!);
        // The same concurrency as `check perf --load m` (200 clients), for a like-for-like ratio.
        const wide = await throughput(s, 'et200', 200);
        perf += `; Wharf etcd store with 200 clients: create ${wide.create.toFixed(0)}/s, update ${wide.update.toFixed(0)}/s`;
      }
    } finally {
      await s.close();
      await etcd.stop();
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
  console.log(`load average at the end: ${load} (2 cores shared with other jobs)`);
  for (const [name, f] of Object.entries(out)) {
    console.log(
      `| ${date} | 2 cores, Debian 12, kernel 6.18 | store ${name} | create ${f.createPerSec.toFixed(0)}/s, update ${f.updatePerSec.toFixed(0)}/s (${CLIENTS} clients) | list ${LIST_SIZE} ${f1(f.listMs)} ms (max ${f1(f.listMsMax)}, client CPU ${f1(f.listCpuMs)} ms) | watch ${f.watchDelivered}: p50 ${f1(f.watchP50)} ms, p99 ${f1(f.watchP99)} ms | churn: ${f.churn} |`,
    );
  }
  if (perf) console.log(`etcdctl check perf --load m: ${perf}`);
  if (out.etcd && out.sqlite) {
    console.log(`ratio sqlite/etcd: create ${(out.sqlite.createPerSec / out.etcd.createPerSec).toFixed(1)}x, update ${(out.sqlite.updatePerSec / out.etcd.updatePerSec).toFixed(1)}x`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
