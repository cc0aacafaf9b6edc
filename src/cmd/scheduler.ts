import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import { invalid } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { ClusterClient } from '../cluster/client/cluster-client.js';
import { clusterSchedulerBackend } from '../cluster/scheduler/cluster-backend.js';
import { startScheduler, type SchedulerOptions } from '../cluster/scheduler/scheduler.js';
import { DEFAULT_LEADER_ELECTION, parseSchedulerConfig, type LeaderElectionConfig, type SchedulerConfig } from '../cluster/scheduler/config.js';
import { startElectedScheduler } from '../cluster/scheduler/elected.js';
import type { Lease } from '../cluster/controllers/objects.js';
import { SimNodes } from '../cluster/scheduler/sim-nodes.js';

// `wharf scheduler` (the scheduler as a separate client of the API server), `wharf sim-nodes`
// (simulated nodes, KWOK-like), and the in-process scheduler `wharf server` runs.

interface ClientFlags {
  server: string;
  token?: string;
  tokenFile?: string;
  certificateAuthority?: string;
}

function connect(f: ClientFlags): ClusterClient {
  const token = f.token ?? (f.tokenFile ? readFileSync(f.tokenFile, 'utf8').trim() : process.env.WHARF_TOKEN);
  if (!token) throw invalid('a bearer token is required: --token, --token-file or WHARF_TOKEN');
  if (!/^https?:\/\/[^/]+/.test(f.server)) throw invalid(`--server: expected http(s)://HOST:PORT, got ${JSON.stringify(f.server)}`);
  return new ClusterClient({ server: f.server, token, ...(f.certificateAuthority ? { caPem: readFileSync(f.certificateAuthority, 'utf8') } : {}) });
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

export interface InProcessSchedulerOptions {
  url: string;
  token: string;
  caPem?: string;
  logger: Logger;
  /** Take part in leader election (what `wharf server` does); off when absent. */
  leaderElection?: Partial<Omit<LeaderElectionConfig, 'leaderElect'>> & { identity?: string };
  config?: SchedulerConfig;
}

export interface RunningScheduler {
  isLeader(): boolean;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts a scheduler on a connection: elected or unconditional. */
function runScheduler(conn: ClusterClient, log: Logger, opts: { config?: SchedulerConfig; leaderElection?: InProcessSchedulerOptions['leaderElection'] }): RunningScheduler {
  const backend = clusterSchedulerBackend(conn, { clock: systemClock, log });
  const c = opts.config;
  const sopts: SchedulerOptions = {
    clock: systemClock,
    log,
    ...(c ? { schedulerName: c.schedulerName, core: { profile: c.profile, percentageOfNodesToScore: c.percentageOfNodesToScore } } : {}),
  };
  if (opts.leaderElection) {
    const { identity, ...le } = opts.leaderElection;
    const e = startElectedScheduler(backend, conn.resource<Lease>('coordination.k8s.io/v1', 'Lease'), {
      ...sopts,
      election: { ...DEFAULT_LEADER_ELECTION, ...(c?.leaderElection ?? {}), ...le },
      ...(identity ? { identity } : {}),
    });
    return { isLeader: () => e.isLeader(), done: e.done, stop: () => e.stop() };
  }
  const s = startScheduler(backend, sopts);
  return { isLeader: () => true, done: s.done, stop: () => s.stop() };
}

/** The scheduler `wharf server` runs inside itself, as a client of its own API (k3s style). */
export function startInProcessScheduler(opts: InProcessSchedulerOptions): RunningScheduler {
  const conn = new ClusterClient({ server: opts.url, token: opts.token, ...(opts.caPem ? { caPem: opts.caPem } : {}) });
  const log = opts.logger.child({ component: 'scheduler' });
  const s = runScheduler(conn, log, { ...(opts.config ? { config: opts.config } : {}), ...(opts.leaderElection ? { leaderElection: opts.leaderElection } : {}) });
  return {
    isLeader: () => s.isLeader(),
    done: s.done,
    stop: async () => {
      await s.stop();
      await conn.close();
    },
  };
}

/** Reads `--config FILE` (a KubeSchedulerConfiguration). */
export function loadSchedulerConfig(file: string): SchedulerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`--config ${file}: ${(err as Error).message}`);
  }
  return parseSchedulerConfig(text);
}

export function registerScheduler(program: Command): void {
  clientOptions(
    program
      .command('scheduler')
      .description('Run the scheduler as a client of a cluster API server (wharf server runs one itself unless --disable-scheduler)')
      .option('--config <file>', 'a KubeSchedulerConfiguration YAML (profile plugins and weights, percentageOfNodesToScore, leaderElection)')
      .option('--leader-elect', 'take part in leader election (Lease kube-system/wharf-scheduler): only the leader schedules')
      .option('--scheduler-name <name>', 'schedule pods whose spec.schedulerName is this (overrides the config file)')
      .option('--percentage-of-nodes-to-score <pct>', '0 = adaptive like Kubernetes (overrides the config file)'),
  ).action(async (f: ClientFlags & { config?: string; leaderElect?: boolean; schedulerName?: string; percentageOfNodesToScore?: string }) => {
    const base = f.config ? loadSchedulerConfig(f.config) : parseSchedulerConfig('apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n');
    const config: SchedulerConfig = { ...base };
    if (f.percentageOfNodesToScore !== undefined) {
      const pct = Number(f.percentageOfNodesToScore);
      if (!Number.isInteger(pct) || pct < 0 || pct > 100) throw invalid('--percentage-of-nodes-to-score: an integer from 0 to 100');
      config.percentageOfNodesToScore = pct;
    }
    if (f.schedulerName !== undefined) config.schedulerName = f.schedulerName;
    const elect = f.leaderElect === true || config.leaderElection.leaderElect;
    const conn = connect(f);
    const log = createLogger({ name: 'wharf-scheduler' });
    const s = runScheduler(conn, log, { config, ...(elect ? { leaderElection: {} } : {}) });
    process.stdout.write(`wharf scheduler: scheduling pods of ${f.server} (schedulerName ${config.schedulerName}${elect ? `, leader election on lease ${config.leaderElection.resourceNamespace}/${config.leaderElection.resourceName}` : ''})\n`);
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
      { nodes: conn.resource('v1', 'Node'), pods: conn.resource('v1', 'Pod'), leases: conn.resource('coordination.k8s.io/v1', 'Lease') },
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
