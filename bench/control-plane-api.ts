// The control-plane benchmark through the API: a real `wharf server` process (built
// program, bin/wharf) on SQLite and on etcd, driven over HTTP.
//   npm run build && npx tsx bench/control-plane-api.ts [--backends sqlite,etcd] [--seconds 5]
//        [--watchers 1000] [--watch-writes 100] [--list-size 10000]
// Figures: pod creates/s from 16 HTTP clients, list of 10,000 pods (ms), watch fan-out
// (1,000 watch streams: create -> last delivery, p50/p99).
import { setMaxListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { spawnProcess } from '../src/core/exec/run.js';
import { startEtcdCluster } from '../test/helpers/etcd-cluster.js';

const { values: args } = parseArgs({
  options: {
    backends: { type: 'string', default: 'sqlite,etcd' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '16' },
    watchers: { type: 'string', default: '1000' },
    'watch-writes': { type: 'string', default: '100' },
    'list-size': { type: 'string', default: '10000' },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const WATCHERS = Number(args.watchers);
const WATCH_WRITES = Number(args['watch-writes']);
const LIST_SIZE = Number(args['list-size']);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');

function pod(name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'registry.local/bench/app:1.0',
          command: ['/bin/app', '--listen', ':8080'],
          env: Array.from({ length: 8 }, (_, i) => ({ name: `VAR_${i}`, value: 'x'.repeat(40) })),
        },
      ],
    },
  });
}

interface Server {
  url: string;
  token: string;
  /** CA of the server's generated certificate (every listener is HTTPS). */
  caPem: string;
  stop(): Promise<void>;
}

async function startServer(datastore: string | undefined): Promise<Server> {
  const dataRoot = mkdtempSync('/var/tmp/wharf-bench-api-');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const argv = [
    process.execPath,
    new URL('../bin/wharf', import.meta.url).pathname,
    'server',
    '--data-root', dataRoot,
    '--listen', `127.0.0.1:${port}`,
    '--disable-scheduler',
    '--no-controllers',
    ...(datastore ? ['--datastore', datastore] : []),
  ];
  const child: ChildProcess = spawnProcess(argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WHARF_LOG_LEVEL: 'warn' } });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()).slice(-4000));
  const started = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wharf server did not start: ${err}`)), 60_000);
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('listening on')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error(`wharf server exited: ${err}`)));
  });
  try {
    await started;
  } catch (e) {
    child.kill('SIGKILL');
    rmSync(dataRoot, { recursive: true, force: true });
    throw e;
  }
  const token = readFileSync(join(dataRoot, 'admin.token'), 'utf8').trim();
  return {
    url: `https://127.0.0.1:${port}`,
    token,
    caPem: readFileSync(join(dataRoot, 'pki', 'ca.crt'), 'utf8'),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r(null);
        }, 10_000);
        child.once('exit', () => {
          clearTimeout(t);
          r(null);
        });
      });
      rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}

async function call(srv: Server, agent: Agent, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; json: unknown }> {
  const res = await request(`${srv.url}${path}`, {
    method,
    dispatcher: agent,
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? (JSON.parse(text) as unknown) : undefined };
}

async function namespace(srv: Server, agent: Agent, name: string): Promise<void> {
  const r = await call(srv, agent, 'POST', '/api/v1/namespaces', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }));
  if (r.status !== 201 && r.status !== 409) throw new Error(`create namespace ${name}: ${r.status} ${JSON.stringify(r.json)}`);
}

async function benchApi(name: string, srv: Server): Promise<string> {
  const agent = new Agent({ connections: CLIENTS * 2, pipelining: 1, connect: { ca: srv.caPem } });
  // 1. creates from 16 clients
  await namespace(srv, agent, 'bench-create');
  let created = 0;
  let failed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  let t = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, w) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const r = await call(srv, agent, 'POST', '/api/v1/namespaces/bench-create/pods', pod(`w${w}-${n}`));
        if (r.status === 201) created++;
        else failed++;
      }
    }),
  );
  const createRate = created / ((performance.now() - t) / 1000);
  process.stderr.write(`[api ${name}] create ${createRate.toFixed(0)}/s (${failed} failed)\n`);

  // 2. list 10,000 pods
  await namespace(srv, agent, 'bench-list');
  let i = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (i < LIST_SIZE) {
        const n = i++;
        const r = await call(srv, agent, 'POST', '/api/v1/namespaces/bench-list/pods', pod(`pod-${String(n).padStart(5, '0')}`));
        if (r.status !== 201) throw new Error(`create pod: ${r.status}`);
      }
    }),
  );
  const listTimes: number[] = [];
  for (let r = 0; r < 3; r++) {
    t = performance.now();
    const res = await call(srv, agent, 'GET', '/api/v1/namespaces/bench-list/pods');
    listTimes.push(performance.now() - t);
    const items = (res.json as { items?: unknown[] }).items ?? [];
    if (items.length !== LIST_SIZE) throw new Error(`list returned ${items.length} pods`);
  }
  process.stderr.write(`[api ${name}] list ${f1(pct(listTimes, 50))} ms\n`);

  // 3. watch fan-out
  await namespace(srv, agent, 'bench-watch');
  const watchAgent = new Agent({ connections: WATCHERS + 10, pipelining: 0, bodyTimeout: 0, headersTimeout: 60_000, connect: { ca: srv.caPem } });
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const got = new Map<string, { n: number; last: number; done?: () => void }>();
  const rv = String(((await call(srv, agent, 'GET', '/api/v1/namespaces/bench-watch/pods')).json as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
  const watchOne = async () => {
    const res = await request(`${srv.url}/api/v1/namespaces/bench-watch/pods?watch=1&resourceVersion=${rv}`, {
      dispatcher: watchAgent,
      headers: { authorization: `Bearer ${srv.token}` },
      signal: ac.signal,
    });
    let buf = '';
    for await (const chunk of res.body) {
      buf += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string } } };
        if (ev.type !== 'ADDED') continue;
        const key = ev.object.metadata.name;
        let e = got.get(key);
        if (!e) got.set(key, (e = { n: 0, last: 0 }));
        e.n++;
        e.last = performance.now();
        if (e.n === WATCHERS) e.done?.();
      }
    }
  };
  const loops = Array.from({ length: WATCHERS }, () => watchOne().catch(() => undefined));
  const waitAll = (key: string, ms: number): Promise<boolean> => {
    let e = got.get(key);
    if (!e) got.set(key, (e = { n: 0, last: 0 }));
    if (e.n >= WATCHERS) return Promise.resolve(true);
    const entry = e;
    return Promise.race([
      new Promise<boolean>((r) => (entry.done = () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);
  };
  await call(srv, agent, 'POST', '/api/v1/namespaces/bench-watch/pods', pod('ping'));
  if (!(await waitAll('ping', 120_000))) throw new Error(`not all ${WATCHERS} watches connected: ${got.get('ping')?.n ?? 0}`);
  const lat: number[] = [];
  let missed = 0;
  for (let k = 0; k < WATCH_WRITES; k++) {
    const key = `obj-${k}`;
    t = performance.now();
    const r = await call(srv, agent, 'POST', '/api/v1/namespaces/bench-watch/pods', pod(key));
    if (r.status !== 201) throw new Error(`create: ${r.status}`);
    if (await waitAll(key, 10_000)) lat.push(got.get(key)!.last - t);
    else missed++;
    await new Promise((res) => setTimeout(res, 10));
  }
  ac.abort();
  await Promise.allSettled(loops);
  await watchAgent.destroy();
  await agent.close();
  process.stderr.write(`[api ${name}] watch p50 ${f1(pct(lat, 50))} p99 ${f1(pct(lat, 99))}\n`);
  const date = new Date().toISOString().slice(0, 10);
  return `| ${date} | 2 cores, Debian 12, kernel 6.18 | API (wharf server) on ${name} | create ${createRate.toFixed(0)} pods/s (${CLIENTS} HTTP clients) | list ${LIST_SIZE} pods ${f1(pct(listTimes, 50))} ms (max ${f1(Math.max(...listTimes))}) | watch ${WATCHERS} streams x ${WATCH_WRITES} creates: p50 ${f1(pct(lat, 50))} ms, p99 ${f1(pct(lat, 99))} ms${missed ? `, ${missed} not delivered to all in 10 s` : ''} |`;
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const backends = args.backends.split(',');
  if (backends.includes('sqlite')) {
    const srv = await startServer(undefined);
    try {
      rows.push(await benchApi('sqlite', srv));
    } finally {
      await srv.stop();
    }
  }
  if (backends.includes('etcd')) {
    const etcd = await startEtcdCluster({ members: 1 });
    try {
      const srv = await startServer(etcd.datastoreUrl);
      try {
        rows.push(await benchApi('etcd', srv));
      } finally {
        await srv.stop();
      }
    } finally {
      await etcd.stop();
    }
  }
  console.log(`load average at the end: ${(await import('node:os')).loadavg()[0]!.toFixed(1)} (2 cores shared with other jobs)`);
  for (const r of rows) console.log(r);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
