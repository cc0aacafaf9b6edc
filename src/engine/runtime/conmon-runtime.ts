import { mkdir, readFile, writeFile, rm, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { WharfError, invalid, notFound, conflict, alreadyExists, internal } from '../../core/errors.js';
import { run, spawnProcess, type RunResult } from '../../core/exec/run.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { conmonCreateArgv, conmonExecArgv } from './conmon.js';
import { mergeEnv, serializeSpec, type OciSpec } from './spec.js';
import { parseSignal } from './signals.js';
import { AttachStream } from './attach.js';
import { ExitMonitor } from './exit-monitor.js';
import { LogRotation } from './log-rotation.js';
import { conmonLogSizeMax, exists, isConmon, lineReader, parseSyncData, readOciLogError, readPid, runcError, unrefStream, withTimeout, writeCtl } from './conmon-io.js';

import type {
  ContainerMeta,
  CreateContainerOptions,
  ExitStatus,
  RuntimeStatus,
  RuntimeState,
  RecoveredContainer,
  ExecOptions,
  ExecSession,
  OciProcess,
  RuntimeDriver,
} from '../containers/runtime-driver.js';

// The runtime driver: one conmon per container (which runs `runc create` and then holds
// stdio, writes the k8s-file log and the exit file), `runc` for everything else. No Node
// process per container. State that must outlive the daemon lives in files:
//
//   <root>/<id>/            the bundle and conmon's persist dir
//       config.json meta.json conmon.pid pidfile exit oom oci-log ctl winsz attach ctr.log
//       exec/<session>/     one directory per exec session
//   <root>/exits/<id>       conmon's exit file (one watched directory for all containers)
//   <root>/sockets/         conmon's socket dir (symlinks to bundles)
//
// `recover()` rebuilds everything from these files after a daemon restart.

export interface ConmonRuntimeOptions {
  /** State root for bundles, exit files and sockets. */
  root: string;
  /** runc --root (where runc keeps its own state). */
  runtimeRoot: string;
  runtimePath?: string;
  conmonPath?: string;
  logger: Logger;
  clock?: Clock;
  /** Handshake timeout (conmon → runc create → PID). */
  startTimeoutMs?: number;
  /** Log rotation: rotate at this size, keep this many files (the live one included). */
  logMaxSize?: number;
  logMaxFiles?: number;
}


const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const DEFAULT_LOG_MAX = 10 * 1024 * 1024;


export class ConmonRuntime implements RuntimeDriver {
  readonly root: string;
  readonly runtimeRoot: string;
  readonly runtimePath: string;
  readonly conmonPath: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly startTimeoutMs: number;
  readonly logMaxSize: number;
  readonly logMaxFiles: number;
  private readonly exits: ExitMonitor;
  private readonly rotation: LogRotation;
  /** meta.json cache (immutable per container run): the rotation timer reads it every tick. */
  private readonly metas = new Map<string, ContainerMeta>();

  constructor(opts: ConmonRuntimeOptions) {
    this.root = opts.root;
    this.runtimeRoot = opts.runtimeRoot;
    this.runtimePath = opts.runtimePath ?? '/usr/sbin/runc';
    this.conmonPath = opts.conmonPath ?? '/usr/bin/conmon';
    this.log = opts.logger.child({ component: 'runtime' });
    this.clock = opts.clock ?? systemClock;
    this.startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.logMaxSize = opts.logMaxSize ?? DEFAULT_LOG_MAX;
    this.logMaxFiles = Math.max(1, opts.logMaxFiles ?? 3);
    this.exits = new ExitMonitor({ exitDir: this.exitDir(), bundleDir: (id) => this.bundleDir(id), clock: this.clock, log: this.log });
    this.rotation = new LogRotation({
      meta: (id) => this.meta(id),
      listIds: () => this.listIds(),
      ctlPath: (id) => join(this.bundleDir(id), 'ctl'),
      maxSize: this.logMaxSize,
      maxFiles: this.logMaxFiles,
      log: this.log,
    });
  }

  bundleDir(id: string): string {
    return join(this.root, id);
  }
  private exitDir(): string {
    return join(this.root, 'exits');
  }
  private socketDir(): string {
    return join(this.root, 'sockets');
  }

  private checkId(id: string): void {
    if (!ID_RE.test(id) || id === 'exits' || id === 'sockets') throw invalid(`invalid container id ${JSON.stringify(id)}`);
  }

  private runc(args: string[], opts: { allowFailure?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return run([this.runtimePath, '--root', this.runtimeRoot, ...args], { timeoutMs: opts.timeoutMs ?? 30_000, allowFailure: true }).then((r) => {
      if (r.code !== 0 && !opts.allowFailure) throw runcError(args[0] ?? 'runc', r);
      return r;
    });
  }

  private async ensureDirs(): Promise<void> {
    await mkdir(this.exitDir(), { recursive: true });
    await mkdir(this.socketDir(), { recursive: true });
    await mkdir(this.runtimeRoot, { recursive: true });
    this.exits.startWatching();
  }

  /**
   * Creates the container: writes the bundle, spawns conmon (which runs `runc create`),
   * and waits for the container PID. The container is `created`; call `start`.
   * On failure nothing is left behind and the runtime's own message is in the error.
   */
  async create(id: string, spec: OciSpec, opts: CreateContainerOptions = {}): Promise<{ pid: number }> {
    this.checkId(id);
    await this.ensureDirs();
    const bundle = this.bundleDir(id);
    try {
      await mkdir(bundle, { recursive: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(`container ${id} already exists in the runtime`);
      throw internal(`create bundle ${bundle}`, e);
    }
    const meta: ContainerMeta = {
      id,
      name: opts.name ?? id,
      tty: opts.tty === true,
      stdin: opts.stdin === true,
      logPath: opts.logPath ?? join(bundle, 'ctr.log'),
      createdAt: new Date(this.clock.now()).toISOString(),
      ...(opts.logMaxSize ? { logMaxSize: opts.logMaxSize } : {}),
      ...(opts.logMaxFiles ? { logMaxFiles: opts.logMaxFiles } : {}),
    };
    try {
      if (spec.process.terminal !== meta.tty) spec = { ...spec, process: { ...spec.process, terminal: meta.tty } };
      await writeFile(join(bundle, 'config.json'), serializeSpec(spec));
      await writeFile(join(bundle, 'meta.json'), JSON.stringify(meta));
      this.metas.set(id, meta);
      const argv = conmonCreateArgv({
        conmonPath: this.conmonPath,
        runtimePath: this.runtimePath,
        runtimeRoot: this.runtimeRoot,
        id,
        name: meta.name,
        bundle,
        persistDir: bundle,
        exitDir: this.exitDir(),
        socketDir: this.socketDir(),
        logPath: meta.logPath,
        logSizeMax: conmonLogSizeMax(meta.logMaxSize ?? this.logMaxSize),
        tty: meta.tty,
        stdin: meta.stdin,
      });
      const child = this.spawnConmon(argv, bundle, false);
      const sync = child.stdio[3] as Readable;
      const lines = lineReader(sync);
      (child.stdio[4] as Writable).end(Buffer.from([0]));
      const first = await withTimeout(lines.next(), this.startTimeoutMs, `conmon for ${id}: no PID`);
      const pid = parseSyncData(first);
      if (pid.data < 0) {
        const msg = (await readOciLogError(join(bundle, 'oci-log'))) ?? pid.message ?? 'runtime create failed';
        throw new WharfError('InvalidArgument', msg, { details: { runtime: true } });
      }
      // conmon keeps the sync pipe open for the container's life: EOF = exited.
      this.exits.track(id, sync);
      return { pid: pid.data };
    } catch (e) {
      await this.cleanupFailedCreate(id);
      if (e instanceof WharfError) throw e;
      throw internal(`create ${id}`, e);
    }
  }

  private spawnConmon(argv: string[], cwd: string, attachPipe: boolean): ChildProcess {
    const env = { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4', ...(attachPipe ? { _OCI_ATTACHPIPE: '5' } : {}) };
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', ...(attachPipe ? (['pipe'] as const) : [])];
    const child = spawnProcess(argv, { stdio, detached: true, cwd, env });
    const errs: Buffer[] = [];
    child.stderr?.on('data', (b: Buffer) => errs.push(b));
    child.stdout?.resume();
    child.on('exit', (code) => {
      if (code !== 0) this.log.warn({ code, stderr: Buffer.concat(errs).toString().slice(0, 2000) }, 'conmon exited with an error');
    });
    child.on('error', (e) => this.log.error({ err: e }, 'conmon spawn failed'));
    child.unref();
    return child;
  }

  private async cleanupFailedCreate(id: string): Promise<void> {
    const bundle = this.bundleDir(id);
    const conmonPid = await readPid(join(bundle, 'conmon.pid'));
    if (conmonPid && (await isConmon(conmonPid))) {
      try {
        process.kill(conmonPid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await this.runc(['delete', '--force', id], { allowFailure: true });
    await this.removeFiles(id);
  }

  private async removeFiles(id: string): Promise<void> {
    this.exits.forget(id);
    this.metas.delete(id);
    await rm(this.bundleDir(id), { recursive: true, force: true });
    await rm(join(this.exitDir(), id), { force: true });
    await rm(join(this.socketDir(), id), { force: true, recursive: true });
  }

  async start(id: string): Promise<void> {
    this.checkId(id);
    await this.runc(['start', id]);
  }

  /** Sends any signal (name or number) to the container's init process. */
  async kill(id: string, signal: string | number = 'SIGTERM'): Promise<void> {
    this.checkId(id);
    const n = parseSignal(signal);
    await this.runc(['kill', id, String(n)]);
  }

  async pause(id: string): Promise<void> {
    this.checkId(id);
    await this.runc(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    this.checkId(id);
    await this.runc(['resume', id]);
  }

  /** runc's view of the container, or undefined when runc does not know it. */
  async state(id: string): Promise<RuntimeState | undefined> {
    this.checkId(id);
    const r = await this.runc(['state', id], { allowFailure: true });
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout) as { id: string; status: RuntimeStatus; pid: number };
    return { id: s.id, status: s.status, pid: s.pid };
  }

  /** Live update of resources (`runc update --r -`), with an OCI `linux.resources` object. */
  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    this.checkId(id);
    const r = await run([this.runtimePath, '--root', this.runtimeRoot, 'update', '--resources', '-', id], {
      input: JSON.stringify(resources),
      allowFailure: true,
      timeoutMs: 30_000,
    });
    if (r.code !== 0) throw runcError('update', r);
  }

  /**
   * Deletes the container from the runtime and removes its files. Without `force` a
   * running container is a Conflict. With `force` it is killed (SIGKILL) first.
   */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    this.checkId(id);
    // Fast path (no `runc state`): an exited container is deleted straight away.
    const exited = !opts.force && (await this.exitStatus(id)) !== undefined;
    if (exited) {
      const r = await this.runc(['delete', id], { allowFailure: true });
      if (r.code !== 0 && (await this.state(id)) !== undefined) throw runcError('delete', r);
    } else {
      const st = await this.state(id);
      if (st && (st.status === 'running' || st.status === 'paused') && !opts.force) {
        throw conflict(`container ${id} is ${st.status}: stop it first or force`);
      }
      if (st) await this.runc(opts.force ? ['delete', '--force', id] : ['delete', id]);
    }
    const conmonPid = await readPid(join(this.bundleDir(id), 'conmon.pid'));
    if (conmonPid && opts.force && (await isConmon(conmonPid))) {
      // conmon exits by itself once the container is gone; give it a moment to write the exit file.
      const deadline = this.clock.now() + 2000;
      while ((await isConmon(conmonPid)) && this.clock.now() < deadline) await this.clock.sleep(20);
      if (await isConmon(conmonPid)) {
        try {
          process.kill(conmonPid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    this.exits.gone(id);
    await this.removeFiles(id);
  }

  /** The exit status if the container has exited (exit file present), else undefined. */
  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    this.checkId(id);
    return this.exits.exitStatus(id);
  }

  /** Resolves when the container exits (or its conmon vanishes: `lost`). */
  async wait(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    this.checkId(id);
    return this.exits.wait(id, signal);
  }

  /** Stops watchers and timers (containers keep running). */
  close(): void {
    this.exits.close();
    this.rotation.stop();
  }

  async meta(id: string): Promise<ContainerMeta | undefined> {
    this.checkId(id);
    const cached = this.metas.get(id);
    if (cached) return cached;
    try {
      const m = JSON.parse(await readFile(join(this.bundleDir(id), 'meta.json'), 'utf8')) as ContainerMeta;
      this.metas.set(id, m);
      return m;
    } catch {
      return undefined;
    }
  }

  /** Attaches to the container's stdio (stdout/stderr separated; stdin when created with `stdin`). */
  async attach(id: string): Promise<AttachStream> {
    this.checkId(id);
    if (!(await exists(this.bundleDir(id)))) throw notFound(`no such container in the runtime: ${id}`);
    return AttachStream.connect(this.bundleDir(id));
  }

  /** Resizes the container's TTY through conmon's control FIFO. */
  async resize(id: string, rows: number, cols: number): Promise<void> {
    this.checkId(id);
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) {
      throw invalid(`invalid terminal size ${rows}x${cols}`);
    }
    await writeCtl(join(this.bundleDir(id), 'ctl'), `1 ${rows} ${cols}\n`);
  }

  /** Rotates the container's log when it reached its size limit. */
  rotateLog(id: string): Promise<boolean> {
    return this.rotation.rotate(id);
  }

  /** Rotation of every container's log on one timer (conmon's own cap bounds the file while the daemon is away). */
  startLogRotation(intervalMs = 1000): void {
    this.rotation.start(intervalMs);
  }

  /** The log files of a container, oldest first. */
  logFiles(id: string): Promise<string[]> {
    return this.rotation.files(id);
  }

  private async listIds(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    return names.filter((n) => n !== 'exits' && n !== 'sockets' && ID_RE.test(n));
  }

  /**
   * Re-adopts containers after a daemon restart, from the files alone: running/paused
   * (conmon alive) are kept; exited ones report their exit code and OOM flag; a container
   * whose conmon vanished without an exit file is `lost`; a `created` container without
   * conmon (the daemon died mid-create) is deleted.
   */
  async recover(): Promise<RecoveredContainer[]> {
    await this.ensureDirs();
    const out: RecoveredContainer[] = [];
    for (const id of await this.listIds()) {
      const meta = await this.meta(id);
      const exit = await this.exitStatus(id);
      if (!meta) {
        await this.runc(['delete', '--force', id], { allowFailure: true });
        await this.removeFiles(id);
        out.push({ id, meta, status: 'removed', reason: 'incomplete create (no metadata)' });
        continue;
      }
      if (exit) {
        out.push({ id, meta, status: 'exited', exit });
        continue;
      }
      const conmonPid = await readPid(join(this.bundleDir(id), 'conmon.pid'));
      const monitored = conmonPid !== undefined && (await isConmon(conmonPid));
      const st = await this.state(id);
      if (monitored && st && st.status !== 'stopped') {
        out.push({ id, meta, status: st.status, pid: st.pid });
        continue;
      }
      if (monitored && !st) {
        // conmon is still between its start and runc create: treat like a lost create.
        try {
          process.kill(conmonPid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const again = await this.exitStatus(id);
      if (again) {
        out.push({ id, meta, status: 'exited', exit: again });
        continue;
      }
      if (!st || st.status === 'created') {
        await this.runc(['delete', '--force', id], { allowFailure: true });
        await this.removeFiles(id);
        out.push({ id, meta, status: 'removed', reason: 'created but never started, and its conmon is gone' });
        continue;
      }
      out.push({ id, meta, status: 'lost', reason: `conmon is gone without an exit file; runtime state ${st.status}` });
    }
    return out;
  }

  /** Runs a process in the container through its own conmon (attached or detached, TTY or not). */
  async exec(id: string, proc: OciProcess, opts: ExecOptions = {}): Promise<ExecSession> {
    this.checkId(id);
    const st = await this.state(id);
    if (!st) throw notFound(`no such container in the runtime: ${id}`);
    if (st.status !== 'running') throw conflict(`container ${id} is not running`);
    const spec = JSON.parse(await readFile(join(this.bundleDir(id), 'config.json'), 'utf8')) as OciSpec;
    const sessionId = randomBytes(8).toString('hex');
    const execDir = join(this.bundleDir(id), 'exec', sessionId);
    await mkdir(join(execDir, 'exit'), { recursive: true });
    await mkdir(join(execDir, 'persist'), { recursive: true });
    const tty = opts.tty === true;
    const process_: OciSpec['process'] = {
      ...spec.process,
      ...proc,
      terminal: tty,
      // Docker: the exec's env is the container's with the exec's variables added or replaced.
      env: proc.env ? mergeEnv(spec.process.env, proc.env) : spec.process.env,
      cwd: proc.cwd ?? spec.process.cwd,
      user: proc.user ?? spec.process.user,
      args: proc.args,
    };
    delete (process_ as { rlimits?: unknown }).rlimits;
    const specPath = join(execDir, 'process.json');
    await writeFile(specPath, JSON.stringify(process_));
    const argv = conmonExecArgv({
      conmonPath: this.conmonPath,
      runtimePath: this.runtimePath,
      runtimeRoot: this.runtimeRoot,
      containerId: id,
      sessionId,
      execDir,
      processSpecPath: specPath,
      socketDir: this.socketDir(),
      attach: opts.attach === true,
      tty,
      stdin: opts.stdin === true,
      logPath: join(execDir, 'exec.log'),
    });
    const attach = opts.attach === true;
    const child = this.spawnConmon(argv, execDir, attach);
    const sync = child.stdio[3] as Readable;
    const start = child.stdio[4] as Writable;
    const lines = lineReader(sync);
    let stream: AttachStream | undefined;
    try {
      start.write(Buffer.from([0]));
      if (attach) {
        const ready = lineReader((child.stdio as unknown as Readable[])[5]!);
        const r = parseSyncData(await withTimeout(ready.next(), this.startTimeoutMs, `exec in ${id}: attach socket not ready`));
        if (r.data < 0) throw new WharfError('Internal', r.message ?? 'exec attach failed');
        stream = await AttachStream.connect(execDir);
        opts.onAttach?.(stream);
        start.end(Buffer.from([0]));
      } else start.end();
      const first = parseSyncData(await withTimeout(lines.next(), this.startTimeoutMs, `exec in ${id}: no PID`));
      if (first.data < 0) {
        const msg = (await readOciLogError(join(execDir, 'oci-log'))) ?? first.message ?? 'exec failed';
        throw new WharfError('InvalidArgument', msg, { details: { runtime: true } });
      }
      const exited = lines.next().then(async (l) => {
        if (l !== undefined) {
          const d = parseSyncData(l);
          if (d.data >= 0 || d.message === undefined) return d.data;
        }
        const text = await readFile(join(execDir, 'exit', id), 'utf8').catch(() => '');
        const code = Number.parseInt(text.trim(), 10);
        return Number.isNaN(code) ? 255 : code;
      });
      unrefStream(sync);
      return {
        sessionId,
        pid: first.data,
        ...(stream ? { stream } : {}),
        exited,
        resize: (rows, cols) => writeCtl(join(execDir, 'ctl'), `1 ${rows} ${cols}\n`),
      };
    } catch (e) {
      stream?.close();
      sync.destroy();
      throw e instanceof WharfError ? e : internal(`exec in ${id}`, e);
    }
  }

  /** Removes an exec session's files once it has exited. */
  async removeExec(id: string, sessionId: string): Promise<void> {
    this.checkId(id);
    if (!/^[0-9a-f]{16}$/.test(sessionId)) throw invalid(`invalid exec session ${sessionId}`);
    await rm(join(this.bundleDir(id), 'exec', sessionId), { recursive: true, force: true });
  }
}

