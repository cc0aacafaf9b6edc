import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess, type RunResult } from '../../src/core/exec/run.js';

// E2E harness (reusable by every area): starts the BUILT program (`bin/wharf daemon`) with its
// own data root, exec root and socket under /var/tmp, drives it with the real docker CLI, and
// stops and cleans everything afterwards.

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const WHARF_BIN = join(REPO_ROOT, 'bin/wharf');
export const DOCKER_BIN = '/usr/local/bin/docker';

export interface TestDaemon {
  dir: string;
  dataRoot: string;
  execRoot: string;
  socket: string;
  host: string;
  proc: ChildProcess;
  /** The default network's bridge (own per daemon); the nft table is `wharf-<bridge>`. */
  bridge: string;
  /** The default network's gateway/prefix (--bip). */
  bip: string;
  /** stderr (pino JSON logs) collected so far. */
  logs(): string;
  /** Runs the real docker CLI against this daemon (never throws on a non-zero exit). */
  docker(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Runs `bin/wharf` with this daemon as DOCKER_HOST. */
  wharf(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** `kill -9` of the daemon (containers keep running), waiting until it is gone. */
  kill9(): Promise<void>;
  /** Starts the daemon again on the same data root, socket and networks; resolves when it serves. */
  restart(): Promise<void>;
  /** SIGTERM, wait for exit (returns the exit code), then remove the temp dir. */
  stop(): Promise<number | null>;
}

export function requireBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist/cmd/main.js'))) {
    throw new Error('e2e tests drive the built program: run "npm run build" first (npm test does)');
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

/** A /24 in 10.200-249.x.0 that no host route uses (parallel test daemons pick different ones). */
export async function freeTestSubnet(): Promise<string> {
  const routes = (await run(['ip', '-4', 'route', 'show', 'table', 'all'])).stdout;
  for (;;) {
    const s = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${s}.`)) return `${s}.0/24`;
  }
}

/**
 * Removes what a test daemon made in the kernel and left for live restore: its bridges (the
 * default one and the user networks' `bridges`), veths on them, its nft table and namespaces.
 */
export async function cleanupDaemonNetworking(bridge: string, bridges: readonly string[] = []): Promise<void> {
  const links = JSON.parse((await run(['ip', '-json', 'link', 'show'])).stdout || '[]') as Array<{ ifname: string; master?: string }>;
  const ours = new Set([bridge, ...bridges]);
  const dels = links.filter((l) => ours.has(l.ifname) || (l.master && ours.has(l.master))).map((l) => `link del dev ${l.ifname}`);
  if (dels.length) await run(['ip', '-force', '-batch', '-'], { input: dels.join('\n') + '\n', allowFailure: true });
  await run(['nft', 'delete', 'table', 'ip', `wharf-${bridge}`], { allowFailure: true });
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    /* none */
  }
  for (const n of names.filter((x) => x.startsWith(`wharf-${bridge}-`))) await run(['ip', 'netns', 'del', n], { allowFailure: true });
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

export async function startDaemon(extraArgs: string[] = []): Promise<TestDaemon> {
  requireBuilt();
  const bridge = extraArgs.includes('--bridge-name') ? extraArgs[extraArgs.indexOf('--bridge-name') + 1]! : `wht${randomBytes(3).toString('hex')}`;
  const bip = extraArgs.includes('--bip') ? extraArgs[extraArgs.indexOf('--bip') + 1]! : (await freeTestSubnet()).replace(/0\/24$/, '1/24');
  const netArgs = [...(extraArgs.includes('--bridge-name') ? [] : ['--bridge-name', bridge]), ...(extraArgs.includes('--bip') ? [] : ['--bip', bip])];
  const dir = mkdtempSync('/var/tmp/wharf-test-e2e-');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  let stderr = '';
  const spawnDaemon = () => {
    const p = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', dataRoot, '--exec-root', execRoot, '-H', host, ...netArgs, ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.stdout!.resume();
    return p;
  };
  let proc = spawnDaemon();
  const ready = async () => {
    const end = Date.now() + 60_000;
    while (!(await socketAnswers(socket))) {
      if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${stderr}`);
      if (Date.now() > end) throw new Error(`timed out after 60000 ms waiting for daemon socket ${socket}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') };
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
    logs: () => stderr,
    docker: (args, opts = {}) =>
      run([DOCKER_BIN, ...args], { env: { ...env, ...opts.env }, allowFailure: true, timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.input !== undefined ? { input: opts.input } : {}) }),
    wharf: (args, opts = {}) => run(['node', WHARF_BIN, ...args], { env, allowFailure: true, timeoutMs: opts.timeoutMs ?? 30_000 }),
    kill9: async () => {
      proc.kill('SIGKILL');
      await exitOf(proc, 10_000).catch(() => undefined);
    },
    restart: async () => {
      proc = spawnDaemon();
      await ready();
    },
    stop: async () => {
      let code: number | null = null;
      const userBridges: string[] = [];
      try {
        if (proc.exitCode === null && proc.signalCode === null) {
          // User networks' bridges, to clean after the daemon is gone.
          const ls = await d.docker(['network', 'ls', '-q', '--filter', 'type=custom']);
          for (const id of ls.stdout.split('\n').filter(Boolean)) {
            const b = await d.docker(['network', 'inspect', '--format', '{{index .Options "com.docker.network.bridge.name"}}', id]);
            if (b.code === 0 && b.stdout.trim()) userBridges.push(b.stdout.trim());
          }
          proc.kill('SIGTERM');
          code = await exitOf(proc, 10_000).catch(() => {
            proc.kill('SIGKILL');
            return null;
          });
        } else code = proc.exitCode;
      } finally {
        await cleanupDaemonNetworking(bridge, userBridges).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
      return code;
    },
  };
  try {
    await ready();
  } catch (err) {
    await d.stop();
    throw err;
  }
  return d;
}

/**
 * A busybox docker-archive made the way the issue asks: umoci builds an OCI layout
 * (init, new, unpack, add the rootfs, repack, config), skopeo turns it into a docker-archive.
 */
export async function buildBusyboxArchive(dir: string, ref: string): Promise<{ archive: string; rootfsTar: string }> {
  const layout = join(dir, 'oci');
  const bundle = join(dir, 'bundle');
  await run(['umoci', 'init', '--layout', layout]);
  await run(['umoci', 'new', '--image', `${layout}:img`]);
  await run(['umoci', 'unpack', '--image', `${layout}:img`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  await run(['mkdir', '-p', join(rootfs, 'bin'), join(rootfs, 'etc')]);
  await run(['cp', '/bin/busybox', join(rootfs, 'bin/busybox')]);
  await run(['ln', '-s', 'busybox', join(rootfs, 'bin/sh')]);
  await run(['sh', '-c', `echo 'root:x:0:0:root:/root:/bin/sh' > ${rootfs}/etc/passwd && echo 'root:x:0:' > ${rootfs}/etc/group`]);
  await run(['umoci', 'repack', '--image', `${layout}:img`, bundle]);
  await run(['umoci', 'config', '--image', `${layout}:img`, '--config.cmd', 'sh', '--config.env', 'PATH=/bin', '--config.label', 'e2e=yes']);
  const archive = join(dir, 'busybox.tar');
  await run(['skopeo', 'copy', `oci:${layout}:img`, `docker-archive:${archive}:${ref}`]);
  const rootfsTar = join(dir, 'rootfs.tar');
  await run(['tar', '-C', rootfs, '-cf', rootfsTar, '.']);
  return { archive, rootfsTar };
}
