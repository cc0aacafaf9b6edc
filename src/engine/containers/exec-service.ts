import { EventEmitter } from 'node:events';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errorMessage, invalid, notFound } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { AttachStream } from '../runtime/attach.js';
import type { ExecOptions, ExecSession, OciProcess } from './runtime-driver.js';
import { computeCapabilities } from '../runtime/spec.js';
import { resolveUser } from '../runtime/user.js';
import type { ContainerEvent, ContainerRecord } from './types.js';

// Docker's exec instances (`POST /containers/{id}/exec`, `/exec/{id}/start|json|resize`):
// a record made at create, run once at start through the runtime (one conmon per exec),
// its exit code kept for inspect. Records live in memory (as in Docker) and go away with
// their container.

/** What exec needs from the containers engine (ContainerService satisfies it). */
export interface ExecHost {
  inspect(ref: string): ContainerRecord;
  exec(ref: string, proc: OciProcess, opts?: ExecOptions): Promise<ExecSession>;
  rootfsPath(id: string): string;
  /** What "all capabilities" means on this host (the daemon's bounding set). */
  readonly hostCapabilities: readonly string[];
  on(event: 'event', listener: (e: ContainerEvent) => void): unknown;
}

export interface ExecConfig {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  privileged?: boolean;
  tty?: boolean;
  attachStdin?: boolean;
  attachStdout?: boolean;
  attachStderr?: boolean;
  /** [rows, cols] applied right after start (TTY only). */
  consoleSize?: [number, number];
}

export interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  /** null until the process has exited (or failed to start). */
  exitCode: number | null;
  pid: number;
  started: boolean;
  createdAt: number;
}

export interface ExecEvent {
  type: 'container';
  action: string;
  id: string;
  attributes: Record<string, string>;
}

interface LiveExec {
  rec: ExecRecord;
  session?: ExecSession;
  startedWaiters: (() => void)[];
}

export interface ExecStartResult {
  /** The process's stdio (when attached). */
  stream?: AttachStream;
  /** Resolves with the exit code once the exec record is updated (inspect shows it). */
  exited: Promise<number>;
}

export interface ExecServiceOptions {
  host: ExecHost;
  logger: Logger;
  clock?: Clock;
  /** Removes an exec session's runtime files after exit. */
  removeSession?: (containerId: string, sessionId: string) => Promise<void>;
  /** Finished execs kept per container (oldest dropped first). */
  maxFinishedPerContainer?: number;
}

const MAX_SIZE = 65535;

export class ExecService extends EventEmitter<{ event: [ExecEvent] }> {
  private readonly execs = new Map<string, LiveExec>();
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly opts: ExecServiceOptions) {
    super();
    this.log = opts.logger.child({ component: 'exec' });
    this.clock = opts.clock ?? systemClock;
    opts.host.on('event', (e) => {
      if (e.action === 'destroy') for (const [id, x] of this.execs) if (x.rec.containerId === e.id) this.execs.delete(id);
    });
  }

  private emitEvent(action: string, rec: ExecRecord, extra: Record<string, string> = {}): void {
    let attrs: Record<string, string> = {};
    try {
      const c = this.opts.host.inspect(rec.containerId);
      attrs = { name: c.name, image: c.image };
    } catch {
      /* container gone */
    }
    this.emit('event', { type: 'container', action, id: rec.containerId, attributes: { ...attrs, execID: rec.id, ...extra } });
  }

  private commandText(rec: ExecRecord): string {
    return rec.config.cmd.join(' ');
  }

  /** Docker's exec create: checks the container runs; records the exec (nothing runs yet). */
  create(ref: string, cfg: ExecConfig): { id: string } {
    const c = this.opts.host.inspect(ref);
    if (!Array.isArray(cfg.cmd) || cfg.cmd.length === 0 || cfg.cmd[0] === '') throw invalid('No exec command specified');
    if (c.state.status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.state.status !== 'running') throw conflict(`container ${c.id} is not running`);
    for (const kv of cfg.env ?? []) if (kv.startsWith('=') || kv === '') throw invalid(`invalid environment variable: ${JSON.stringify(kv)}`);
    if (cfg.workingDir && !cfg.workingDir.startsWith('/')) throw invalid(`the working directory '${cfg.workingDir}' is invalid, it needs to be an absolute path`);
    if (cfg.consoleSize) checkSize(cfg.consoleSize[0], cfg.consoleSize[1]);
    const rec: ExecRecord = { id: randomId(), containerId: c.id, config: cfg, running: false, exitCode: null, pid: 0, started: false, createdAt: this.clock.now() };
    this.execs.set(rec.id, { rec, startedWaiters: [] });
    this.trim(c.id);
    this.emitEvent(`exec_create: ${this.commandText(rec)}`, rec);
    return { id: rec.id };
  }

  private trim(containerId: string): void {
    const max = this.opts.maxFinishedPerContainer ?? 256;
    const done = [...this.execs.values()].filter((x) => x.rec.containerId === containerId && x.rec.started && !x.rec.running);
    for (const x of done.slice(0, Math.max(0, done.length - max))) this.execs.delete(x.rec.id);
  }

  private live(id: string): LiveExec {
    const x = this.execs.get(id);
    if (!x) throw notFound(`No such exec instance: ${id}`);
    return x;
  }

  inspect(id: string): ExecRecord {
    return { ...this.live(id).rec };
  }

  /** Exec IDs of a container (inspect's ExecIDs). */
  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((x) => x.rec.containerId === containerId && x.rec.running).map((x) => x.rec.id);
  }

  /**
   * Runs the exec. Attached (`detach` false): the returned stream carries its stdio and is
   * connected before the process runs. A start failure in the runtime (missing binary …)
   * is thrown after the record got Docker's exit code (127 not found, 126 otherwise).
   */
  async start(
    id: string,
    opts: { detach?: boolean; tty?: boolean; consoleSize?: [number, number]; onAttach?: (s: AttachStream) => void } = {},
  ): Promise<ExecStartResult> {
    const x = this.live(id);
    const rec = x.rec;
    if (rec.running) throw conflict(`Error: Exec command ${id} is already running`);
    if (rec.started) throw conflict(`Error: Exec command ${id} has already run`);
    const c = this.opts.host.inspect(rec.containerId);
    if (c.state.status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
    if (c.state.status !== 'running') throw conflict(`container ${c.id} is not running`);
    rec.started = true;
    const cfg = rec.config;
    const tty = opts.tty ?? cfg.tty === true;
    const attach = opts.detach !== true && (cfg.attachStdin === true || cfg.attachStdout === true || cfg.attachStderr === true);
    let session: ExecSession;
    try {
      const proc = await this.processFor(c, cfg);
      session = await this.opts.host.exec(c.id, proc, { tty, stdin: attach && cfg.attachStdin === true, attach, ...(opts.onAttach ? { onAttach: opts.onAttach } : {}) });
    } catch (e) {
      rec.exitCode = execFailureExitCode(errorMessage(e));
      this.wake(x);
      this.emitEvent('exec_die', rec, { exitCode: String(rec.exitCode) });
      throw e;
    }
    x.session = session;
    rec.running = true;
    rec.pid = session.pid;
    this.wake(x);
    this.emitEvent(`exec_start: ${this.commandText(rec)}`, rec);
    const size = opts.consoleSize ?? cfg.consoleSize;
    if (tty && size && size[0] > 0 && size[1] > 0) await session.resize(size[0], size[1]).catch(() => undefined);
    const exited = session.exited.then(
      (code) => code,
      () => 255,
    ).then((code) => {
      rec.running = false;
      rec.exitCode = code;
      rec.pid = 0;
      x.session = undefined;
      this.emitEvent('exec_die', rec, { exitCode: String(code) });
      void this.opts.removeSession?.(rec.containerId, session.sessionId).catch((e: unknown) => this.log.debug({ exec: id, err: errorMessage(e) }, 'exec cleanup failed'));
      return code;
    });
    return { ...(session.stream ? { stream: session.stream } : {}), exited };
  }

  private wake(x: LiveExec): void {
    const w = x.startedWaiters;
    x.startedWaiters = [];
    for (const f of w) f();
  }

  /** Resizes an exec's TTY; waits up to 10 s for a start in flight (the CLI resizes right after start). */
  async resize(id: string, rows: number, cols: number): Promise<void> {
    checkSize(rows, cols);
    const x = this.live(id);
    if (!x.rec.started || (x.rec.running && !x.session)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 10_000);
        x.startedWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (!x.rec.running || !x.session) throw conflict(`Exec ${id} is not running`);
    if (!x.rec.config.tty) return; // Docker ignores a resize of a non-TTY exec
    await x.session.resize(rows, cols);
  }

  /** The OCI process of an exec: the container's, with Docker's exec overrides. */
  private async processFor(c: ContainerRecord, cfg: ExecConfig): Promise<OciProcess> {
    const proc: OciProcess = { args: cfg.cmd };
    if (cfg.env?.length) proc.env = cfg.env;
    if (cfg.workingDir) proc.cwd = cfg.workingDir;
    if (cfg.user) {
      const rootfs = this.opts.host.rootfsPath(c.id);
      const u = resolveUser(cfg.user, await readInRoot(rootfs, 'etc/passwd'), await readInRoot(rootfs, 'etc/group'), c.request.options.groupAdd ?? []);
      proc.user = { uid: u.uid, gid: u.gid, ...(u.additionalGids.length ? { additionalGids: u.additionalGids } : {}) };
    }
    if (cfg.privileged) {
      const all = computeCapabilities([], [], true, this.opts.host.hostCapabilities);
      proc.capabilities = { bounding: all, effective: all, permitted: all };
    }
    return proc;
  }
}

function checkSize(rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > MAX_SIZE || cols > MAX_SIZE) {
    throw invalid(`invalid terminal size ${rows}x${cols}`);
  }
}

/** Docker's exit codes for an exec the runtime could not start. */
export function execFailureExitCode(msg: string): number {
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  return 126;
}

async function readInRoot(rootfs: string, rel: string): Promise<string | undefined> {
  try {
    const root = await realpath(rootfs);
    const real = await realpath(join(rootfs, rel));
    if (!real.startsWith(`${root}/`)) return undefined;
    return await readFile(real, 'utf8');
  } catch {
    return undefined;
  }
}

