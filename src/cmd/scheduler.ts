import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import { invalid } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { HttpConnection, HttpResourceApi, httpSchedulerBackend } from '../cluster/scheduler/http-api.js';
import { startScheduler } from '../cluster/scheduler/scheduler.js';
import { SimNodes } from '../cluster/scheduler/sim-nodes.js';

// `wharf scheduler` (the scheduler as a separate client of the API server), `wharf sim-nodes`
// (simulated nodes, KWOK-like), and the in-process scheduler `wharf server` runs.

interface ClientFlags {
  server: string;
  token?: string;
  tokenFile?: string;
  certificateAuthority?: string;
}

function connect(f: ClientFlags): HttpConnection {
  const token = f.token ?? (f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : process.env.WHARF_TOKEN);
  if (!token) throw invalid('a bearer token is required: --token, --token-file or WHARF_TOKEN');
  if (!/^https?:\/\/[^/]+/.test(f.server)) throw invalid(`--server: expected http(s)://HOST:PORT, got ${JSON.stringify(f.server)}`);
  return new HttpConnection({ server: f.server, token, ...(f.certificateAuthority ? { caFile: f.certificateAuthority } : {}) });
}

const clientOptions = (c: Command) =>
  c
    .requiredOption('--server <url>', 'API server URL (http(s)://host:port)')
    .option('--token <token>', 'bearer token (or --token-file, or WHARF_TOKEN)')
    .option('--token-file <file>', 'file holding the bearer token')
    .option('--certificate-authority <file>', 'CA certificate (PEM) of the API server');

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
}

/** The scheduler `wharf server` runs inside itself, as a client of its own API (k3s style). */
export function startInProcessScheduler(opts: { url: string; token: string; caPem?: string; logger: Logger }): { stop(): Promise<void> } {
  const conn = new HttpConnection({ server: opts.url, token: opts.token, ...(opts.caPem ? { caPem: opts.caPem } : {}) });
  const log = opts.logger.child({ component: 'scheduler' });
  const backend = httpSchedulerBackend(conn, { now: () => systemClock.now(), onEventError: (err) => log.debug({ err }, 'event not recorded') });
  const s = startScheduler(backend, { clock: systemClock, log });
  return {
    stop: async () => {
      await s.stop();
      await conn.close();
    },
  };
}

export function registerScheduler(program: Command): void {
  clientOptions(
    program
      .command('scheduler')
      .description('Run the scheduler as a client of a cluster API server (wharf server runs one itself unless --disable-scheduler)')
      .option('--scheduler-name <name>', 'schedule pods whose spec.schedulerName is this', 'default-scheduler')
      .option('--percentage-of-nodes-to-score <pct>', '0 = adaptive like Kubernetes', '0'),
  ).action(async (f: ClientFlags & { schedulerName: string; percentageOfNodesToScore: string }) => {
    const pct = Number(f.percentageOfNodesToScore);
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) throw invalid('--percentage-of-nodes-to-score: a number from 0 to 100');
    const conn = connect(f);
    const log = createLogger({ name: 'wharf-scheduler' });
    const backend = httpSchedulerBackend(conn, { now: () => systemClock.now(), onEventError: (err) => log.debug({ err }, 'event not recorded') });
    const s = startScheduler(backend, { clock: systemClock, log, schedulerName: f.schedulerName, core: { percentageOfNodesToScore: pct } });
    process.stdout.write(`wharf scheduler: scheduling pods of ${f.server}\n`);
    await Promise.race([untilSignal(), s.done]);
    await s.stop();
    await conn.close();
  });

  clientOptions(
    program
      .command('sim-nodes')
      .description('Register N simulated nodes that heartbeat and run the pods bound to them without containers (KWOK-like)')
      .requiredOption('--count <n>', 'number of nodes')
      .option('--name-prefix <prefix>', 'node names are PREFIX-0 .. PREFIX-(N-1)', 'sim-node')
      .option('--cpu <q>', 'allocatable CPU per node', '8')
      .option('--memory <q>', 'allocatable memory per node', '32Gi')
      .option('--pods <n>', 'pods per node', '110')
      .option('--zones <n>', 'spread nodes over zone-0 .. zone-(n-1) (topology.kubernetes.io/zone)', '1')
      .option('--labels <k=v,...>', 'extra labels on every node')
      .option('--heartbeat-seconds <s>', 'Lease renewal interval', '10'),
  ).action(async (f: ClientFlags & { count: string; namePrefix: string; cpu: string; memory: string; pods: string; zones: string; labels?: string; heartbeatSeconds: string }) => {
    const count = Number(f.count);
    if (!Number.isInteger(count) || count < 1) throw invalid(`--count: a positive integer, got ${JSON.stringify(f.count)}`);
    const zones = Number(f.zones);
    if (!Number.isInteger(zones) || zones < 1) throw invalid('--zones: a positive integer');
    const pods = Number(f.pods);
    if (!Number.isInteger(pods) || pods < 1) throw invalid('--pods: a positive integer');
    const labels: Record<string, string> = {};
    for (const kv of (f.labels ?? '').split(',').filter(Boolean)) {
      const i = kv.indexOf('=');
      if (i <= 0) throw invalid(`--labels: expected k=v, got ${JSON.stringify(kv)}`);
      labels[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const conn = connect(f);
    const log = createLogger({ name: 'wharf-sim-nodes' });
    const sim = new SimNodes(
      { nodes: new HttpResourceApi(conn, 'v1', 'Node'), pods: new HttpResourceApi(conn, 'v1', 'Pod'), leases: new HttpResourceApi(conn, 'coordination.k8s.io/v1', 'Lease') },
      { clock: systemClock, log, count, namePrefix: f.namePrefix, zones, labels, shape: { cpu: f.cpu, memory: f.memory, pods }, heartbeatSeconds: Number(f.heartbeatSeconds) || 10 },
    );
    const ac = new AbortController();
    const done = sim.run(ac.signal);
    process.stdout.write(`wharf sim-nodes: ${count} nodes (${sim.names[0]} .. ${sim.names[count - 1]}) on ${f.server}\n`);
    await Promise.race([untilSignal(), done]);
    ac.abort();
    await done;
    await conn.close();
  });
}
