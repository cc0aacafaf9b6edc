import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { spawnProcess } from '../../src/core/exec/run.js';

// Starts a real etcd cluster (Debian etcd-server 3.4, /usr/bin/etcd) of 1 or 3 members
// on free loopback ports, each with its own data dir under /var/tmp, waits until every
// member is healthy, and stops it again (SIGTERM, SIGKILL after a grace period) and
// removes the data. Used by the store tests and by anyone who needs a real etcd
// (e.g. two API servers on one etcd).
//
//   const etcd = await startEtcdCluster({ members: 3 });
//   try { ... etcd.datastoreUrl ... await etcd.kill(0) ... } finally { await etcd.stop(); }

export const ETCD_BINARY = process.env.WHARF_ETCD_BINARY ?? '/usr/bin/etcd';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | undefined;
  /** Last lines etcd wrote to stderr (for failure messages). */
  stderrTail: string[];
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** Client URLs of all members, e.g. http://127.0.0.1:41234. */
  endpoints: string[];
  /** `etcd://127.0.0.1:p1,127.0.0.1:p2,...` for openStore / `--datastore`. */
  datastoreUrl: string;
  /** Stops one member (SIGKILL by default: a crash) and waits for it to exit. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Stops every member and deletes the data. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  members?: 1 | 3;
  /** Parent of the cluster's data dir. Default /var/tmp. */
  baseDir?: string;
  /** Wait for health at most this long. Default 20 s. */
  startTimeoutMs?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

function waitExit(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(t);
      resolve(true);
    };
    p.once('exit', onExit);
  });
}

/** Stops a member: the signal, then SIGKILL if it has not exited within graceMs. */
async function stopMember(m: EtcdMember, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const p = m.process;
  if (!p) return;
  if (p.exitCode === null && p.signalCode === null) {
    p.kill(signal);
    if (!(await waitExit(p, graceMs))) {
      p.kill('SIGKILL');
      await waitExit(p, 5000);
    }
  }
  m.process = undefined;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // If the test process dies without running afterAll, take the members with it.
  process.once('exit', () => {
    for (const p of live) p.kill('SIGKILL');
  });
}

/**
 * Starts the members; retried with fresh ports when one was taken between picking it and
 * etcd binding it (other test files and other users of the machine pick ports too).
 */
export async function startEtcdCluster(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdClusterOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startEtcdClusterOnce(opts: StartEtcdOptions): Promise<EtcdCluster> {
  const n = opts.members ?? 1;
  const root = mkdtempSync(join(opts.baseDir ?? '/var/tmp', 'wharf-test-etcd-'));
  const token = `wharf-${root.slice(-6)}`;
  const members: EtcdMember[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = join(root, `m${i}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir,
      process: undefined,
      stderrTail: [],
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => stopMember(m, 'SIGTERM', 10_000)));
    rmSync(root, { recursive: true, force: true });
  };

  installExitHook();
  try {
    for (const m of members) {
      const argv = [
        ETCD_BINARY,
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.peerUrl,
        '--initial-advertise-peer-urls', m.peerUrl,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        // Fast elections so a killed leader is replaced within a second or two.
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        '--logger', 'zap',
        '--log-level', 'warn',
      ];
      const p = spawnProcess(argv, { stdio: ['ignore', 'ignore', 'pipe'] });
      m.process = p;
      live.add(p);
      p.once('exit', () => live.delete(p));
      p.stderr?.setEncoding('utf8');
      p.stderr?.on('data', (chunk: string) => {
        m.stderrTail.push(...chunk.split('\n').filter(Boolean));
        if (m.stderrTail.length > 20) m.stderrTail.splice(0, m.stderrTail.length - 20);
      });
    }
    const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
    for (const m of members) {
      for (;;) {
        if (m.process && (m.process.exitCode !== null || m.process.signalCode !== null)) {
          throw new Error(`etcd member ${m.name} exited during start-up: ${m.stderrTail.join('\n')}`);
        }
        if (await healthy(m.clientUrl)) break;
        if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy in time: ${m.stderrTail.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const endpoints = members.map((m) => m.clientUrl);
  return {
    members,
    endpoints,
    datastoreUrl: `etcd://${endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}`,
    kill: async (index, signal = 'SIGKILL') => {
      const m = members[index];
      if (!m) throw new Error(`no etcd member ${index}`);
      await stopMember(m, signal, 10_000);
    },
    stop,
  };
}
