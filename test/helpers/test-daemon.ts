import { existsSync, mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { run, spawnProcess, type RunResult } from '../../src/core/exec/run.js';
import { describeLeftovers, findLeftovers, removeLeftovers, type DaemonFootprint, type Leftovers } from './daemon-leftovers.js';
import { pollUntil } from './poll-until.js';

// The e2e test daemon: the BUILT program (`bin/wharf daemon`) with its own directory under
// /var/tmp (data root, exec root, socket), its own default bridge and subnet (so its nft table
// and namespaces are its own), driven with the real docker CLI or raw API calls. `cleanup()`
// removes containers through the API, stops the daemon, then removes whatever of its own is
// still in the kernel (conmons, runc containers, mounts, cgroups, veths, bridges, nft table,
// netns) and fails if anything could not be removed.
//
//   const d = useTestDaemon({ bootstrap: true });   // beforeAll starts it, afterAll cleans up
//   it('runs', async () => expect((await d.docker(['run', '--rm', 'busybox', 'true'])).code).toBe(0));

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const WHARF_BIN = join(REPO_ROOT, 'bin/wharf');
export const DOCKER_BIN = '/usr/local/bin/docker';

export interface TestDaemonOptions {
  /** More `wharf daemon` flags; a --bridge-name or --bip here replaces the harness's own. */
  args?: string[];
  /** Run `wharf image bootstrap` (busybox:latest) once the daemon serves. */
  bootstrap?: boolean;
}

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON (throws on a body that is not JSON). */
  json<T = any>(): T;
}

export interface ApiRequestOptions {
  /** A Buffer or string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface TestDaemon {
  dir: string;
  dataRoot: string;
  execRoot: string;
  socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  host: string;
  /** The daemon process now running (a new one after restart()). */
  readonly proc: ChildProcess;
  /** The default network's bridge (own per daemon); the nft table is `wharf-<bridge>`. */
  bridge: string;
  /** The default network's gateway/prefix (--bip). */
  bip: string;
  /** The environment the docker CLI and `bin/wharf` run with (DOCKER_HOST, own DOCKER_CONFIG). */
  env: NodeJS.ProcessEnv;
  /** stderr (pino JSON logs) of every daemon process so far. */
  logs(): string;
  /** Runs the real docker CLI against this daemon (never throws on a non-zero exit). */
  docker(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Runs `bin/wharf` with this daemon as DOCKER_HOST (never throws on a non-zero exit). */
  wharf(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** One raw Docker API call on the socket (`path` with query, e.g. `/containers/json?all=1`). */
  api(method: string, path: string, opts?: ApiRequestOptions): Promise<ApiResponse>;
  /** `kill -9` of the daemon (containers keep running), waiting until it is gone. */
  kill9(): Promise<void>;
  /** Starts the daemon again on the same roots, socket and networks (`args` replace the extra flags); resolves when it serves. */
  restart(args?: string[]): Promise<void>;
  /** SIGTERM, waits for the exit and returns its code (SIGKILL after 15 s: null). Leaves kernel state: see cleanup(). */
  stop(): Promise<number | null>;
  /** What of this daemon is still in the kernel and on disk. */
  leftovers(): Promise<Leftovers>;
  /**
   * Removes everything this daemon made: containers (through the API while it runs), the daemon,
   * then its conmons, runc containers, mounts, cgroups, links, nft table, namespaces and directory.
   * Throws when something could not be removed. Safe to call twice.
   */
  cleanup(): Promise<void>;
}

export function requireBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist/cmd/main.js'))) {
    throw new Error('e2e tests drive the built program: run "npm run build" first (npm test does)');
  }
}

/** Resolves with the exit code once the process has exited; rejects after timeoutMs. */
export function exitOf(proc: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`process ${proc.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
  });
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/** A /24 in 10.200-249.x.0 that no host route uses (parallel test daemons pick different ones). */
export async function freeTestSubnet(): Promise<string> {
  const routes = (await run(['ip', '-4', 'route', 'show', 'table', 'all'])).stdout;
  for (;;) {
    const s = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${s}.`)) return `${s}.0/24`;
  }
}

/** True when something accepts connections on the unix socket (a stale file does not). */
function socketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((res) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      res(true);
    });
    c.once('error', () => res(false));
  });
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function apiCall(socket: string, method: string, path: string, opts: ApiRequestOptions = {}): Promise<ApiResponse> {
  const raw = opts.body;
  const body = raw === undefined ? undefined : Buffer.isBuffer(raw) ? raw : typeof raw === 'string' ? Buffer.from(raw) : Buffer.from(JSON.stringify(raw));
  const headers: Record<string, string | number> = { ...opts.headers };
  if (body) {
    headers['Content-Length'] = body.length;
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = Buffer.isBuffer(raw) ? 'application/x-tar' : 'application/json';
  }
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest({ socketPath: socket, method, path, headers, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const b = Buffer.concat(parts);
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: b, json: () => JSON.parse(b.toString()) });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function startTestDaemon(opts: TestDaemonOptions = {}): Promise<TestDaemon> {
  requireBuilt();
  let extra = opts.args ?? [];
  const bridge = flag(extra, '--bridge-name') ?? `wht${randomBytes(3).toString('hex')}`;
  const bip = flag(extra, '--bip') ?? (await freeTestSubnet()).replace(/0\/24$/, '1/24');
  const dir = mkdtempSync('/var/tmp/wharf-test-e2e-');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') };
  let stderr = '';
  const spawnDaemon = () => {
    const net = [...(flag(extra, '--bridge-name') ? [] : ['--bridge-name', bridge]), ...(flag(extra, '--bip') ? [] : ['--bip', bip])];
    const p = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', dataRoot, '--exec-root', execRoot, '-H', host, ...net, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdout!.resume();
    return p;
  };
  let proc = spawnDaemon();
  const ready = async () => {
    const p = proc;
    await pollUntil(
      `daemon socket ${socket}`,
      async () => {
        if (!alive(p)) throw new Error(`daemon exited with ${p.exitCode ?? p.signalCode}: ${stderr}`);
        return socketAnswers(socket);
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    ).catch((err: unknown) => {
      throw alive(p) ? err : new Error(`daemon exited with ${p.exitCode ?? p.signalCode}: ${stderr}`);
    });
  };
  /** User bridges seen through the API (the nft table names them too; this covers a daemon that is down at the end). */
  const userBridges = new Set<string>();
  const collectUserBridges = async () => {
    const r = await apiCall(socket, 'GET', '/networks', { timeoutMs: 10_000 }).catch(() => undefined);
    if (r?.status !== 200) return;
    for (const n of r.json<Array<{ Options?: Record<string, string> }>>()) {
      const b = n.Options?.['com.docker.network.bridge.name'];
      if (b && b !== bridge) userBridges.add(b);
    }
  };
  const footprint = (): DaemonFootprint => ({ dir, dataRoot, execRoot, bridge, bridges: [...userBridges] });
  const stop = async (): Promise<number | null> => {
    const p = proc;
    if (!alive(p)) return p.exitCode;
    p.kill('SIGTERM');
    return exitOf(p, 15_000).catch(async () => {
      p.kill('SIGKILL');
      await exitOf(p, 5_000).catch(() => undefined);
      return null;
    });
  };
  let cleaned: Promise<void> | undefined;
  const cleanup = async () => {
    if (alive(proc)) {
      await collectUserBridges();
      const ps = await apiCall(socket, 'GET', '/containers/json?all=1', { timeoutMs: 20_000 }).catch(() => undefined);
      const ids = ps?.status === 200 ? ps.json<Array<{ Id: string }>>().map((c) => c.Id) : [];
      for (let i = 0; i < ids.length; i += 25) {
        await run([DOCKER_BIN, 'rm', '-f', '-v', ...ids.slice(i, i + 25)], { env, allowFailure: true, timeoutMs: 120_000 });
      }
      await run([DOCKER_BIN, 'network', 'prune', '-f'], { env, allowFailure: true, timeoutMs: 30_000 });
      await stop();
    }
    const left = await removeLeftovers(footprint());
    const text = describeLeftovers(left);
    if (text) throw new Error(`the test daemon in ${dir} left behind what its cleanup could not remove:\n${text}`);
  };
  const d: TestDaemon = {
    dir,
    dataRoot,
    execRoot,
    socket,
    host,
    get proc() {
      return proc;
    },
    bridge,
    bip,
    env,
    logs: () => stderr,
    docker: (args, o = {}) =>
      run([DOCKER_BIN, ...args], { env: { ...env, ...o.env }, allowFailure: true, timeoutMs: o.timeoutMs ?? 30_000, ...(o.input !== undefined ? { input: o.input } : {}) }),
    wharf: (args, o = {}) =>
      run(['node', WHARF_BIN, ...args], { env: { ...env, ...o.env }, allowFailure: true, timeoutMs: o.timeoutMs ?? 30_000, ...(o.input !== undefined ? { input: o.input } : {}) }),
    api: (method, path, o) => apiCall(socket, method, path, o),
    kill9: async () => {
      await collectUserBridges();
      proc.kill('SIGKILL');
      await exitOf(proc, 10_000).catch(() => undefined);
    },
    restart: async (args) => {
      if (alive(proc)) throw new Error('restart(): the daemon is still running (kill9() or stop() first)');
      if (args) extra = args;
      proc = spawnDaemon();
      await ready();
    },
    stop,
    leftovers: () => findLeftovers(footprint()),
    cleanup: () => (cleaned ??= cleanup()),
  };
  try {
    await ready();
    if (opts.bootstrap) {
      const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 90_000 });
      if (b.code !== 0) throw new Error(`wharf image bootstrap failed (${b.code}): ${b.stderr}`);
    }
  } catch (err) {
    await d.cleanup().catch(() => undefined);
    throw err;
  }
  return d;
}

/**
 * A test daemon for the whole file: started in beforeAll, cleaned up in afterAll (also after a
 * failed test). The handle may be read only inside tests and hooks (it throws before the start).
 */
export function useTestDaemon(opts: TestDaemonOptions = {}): TestDaemon {
  let d: TestDaemon | undefined;
  beforeAll(async () => {
    d = await startTestDaemon(opts);
  }, 180_000);
  afterAll(async () => {
    await d?.cleanup();
  }, 240_000);
  return new Proxy({} as TestDaemon, {
    get(_target, key) {
      if (key === 'then') return undefined;
      if (!d) throw new Error(`useTestDaemon(): read .${String(key)} inside a test or hook (the daemon starts in beforeAll)`);
      const v: unknown = Reflect.get(d, key, d);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(d) : v;
    },
  });
}
