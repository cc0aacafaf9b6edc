import { existsSync, mkdtempSync, rmSync } from 'node:fs';
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
  /** stderr (pino JSON logs) collected so far. */
  logs(): string;
  /** Runs the real docker CLI against this daemon (never throws on a non-zero exit). */
  docker(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<RunResult>;
  /** Runs `bin/wharf` with this daemon as DOCKER_HOST. */
  wharf(args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
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

export async function startDaemon(extraArgs: string[] = []): Promise<TestDaemon> {
  requireBuilt();
  const dir = mkdtempSync('/var/tmp/wharf-test-e2e-');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const proc = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', dataRoot, '--exec-root', execRoot, '-H', host, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  proc.stdout!.resume();
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, 'docker-config') };
  const d: TestDaemon = {
    dir,
    dataRoot,
    execRoot,
    socket,
    host,
    proc,
    logs: () => stderr,
    docker: (args, opts = {}) =>
      run([DOCKER_BIN, ...args], { env: { ...env, ...opts.env }, allowFailure: true, timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.input !== undefined ? { input: opts.input } : {}) }),
    wharf: (args, opts = {}) => run(['node', WHARF_BIN, ...args], { env, allowFailure: true, timeoutMs: opts.timeoutMs ?? 30_000 }),
    stop: async () => {
      let code: number | null = null;
      try {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGTERM');
          code = await exitOf(proc, 10_000).catch(() => {
            proc.kill('SIGKILL');
            return null;
          });
        } else code = proc.exitCode;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return code;
    },
  };
  try {
    await waitFor(() => existsSync(socket) || proc.exitCode !== null, 60_000, `daemon socket ${socket}`);
    if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${stderr}`);
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
