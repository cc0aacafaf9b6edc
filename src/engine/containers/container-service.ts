import { EventEmitter } from 'node:events';
import { mkdir, readFile, realpath, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError, conflict, errorMessage, invalid } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { EngineDb } from '../db.js';
import type { Mount, Snapshotter } from '../snapshots/snapshotter.js';
import type { ImageRuntimeConfig } from '../images/types.js';
import type { ExitStatus, ExecOptions, ExecSession, OciProcess, RuntimeDriver } from './runtime-driver.js';
import type { AttachStream } from '../runtime/attach.js';
import { buildSpec, parseCapBnd, parseProcLimits, updateResources, type CreateOptions, type Resources } from '../runtime/spec.js';
import { parseSignal } from '../runtime/signals.js';
import { Cgroups, type CgroupStats } from '../runtime/cgroups.js';
import { ContainerStore } from './container-store.js';
import type { MountsStep } from './container-mounts.js';
import { normalizeName, randomName } from './names.js';
import { checkResources, mergeUpdate, readHostResources, type HostResources } from './resources.js';
import type { ContainerAction, ContainerCreateRequest, ContainerEvent, ContainerRecord, ContainerState, HealthConfig, LogOptions, RestartPolicy } from './types.js';
import { top, type TopResult } from './top.js';
import type { ContainerNetworkHook, ContainerNetworkRequest } from './network-hook.js';
import type { CleanupReason, Isolator, IsolatorDraft, Launch } from './isolator.js';
import { CgroupsIsolator } from './isolators/cgroups-isolator.js';
import { SecurityIsolator } from './isolators/security-isolator.js';
import { MountsIsolator, refuseMounts } from './isolators/mounts-isolator.js';
import { NetworkIsolator } from './isolators/network-isolator.js';

// The container engine: the model (SQLite + memory), names, create from an image through
// the snapshotter, start/stop/kill/wait/remove, restart policies, events, and re-adoption
// after a daemon restart. Docker's create only records; the runtime container (conmon +
// runc create) is made at start and deleted when the process exits, so an exited container
// holds no cgroup, mount or process.

/** The part of the image store this needs (ImageService satisfies it). */
export interface ImageLookup {
  inspect(ref: string): Promise<{ id: string; config: ImageRuntimeConfig }>;
}

export interface ContainerServiceOptions {
  dataRoot: string;
  db: EngineDb;
  images: ImageLookup;
  snapshotter: Snapshotter;
  runtime: RuntimeDriver;
  logger: Logger;
  clock?: Clock;
  /** Parent of every container cgroup (default /wharf). */
  cgroupParent?: string;
  /** Host path of the init for `--init` (options.initPath 'default'; default /usr/bin/tini-static). */
  initPath?: string;
  cgroups?: Cgroups;
  /** What the host offers for resource limits (default: read from /sys/fs/cgroup at construction). */
  hostResources?: HostResources;
  /** Volumes and mounts (absent: mount requests are refused as not implemented). */
  mounts?: MountsStep;
  /** Networking (netns, addresses, ports, /etc files); without it containers get an empty netns. */
  network?: ContainerNetworkHook;
  /**
   * The container's isolation, in order (the composition root chooses): a list, or a function
   * of the default list (cgroups, security, then mounts and network when given above).
   */
  isolators?: Isolator[] | ((defaults: Isolator[]) => Isolator[]);
}

/** `POST /containers/{id}/update` in engine terms: only what is given changes. */
export interface ContainerUpdate {
  resources?: Resources;
  restartPolicy?: RestartPolicy;
}

export interface WaitResult {
  exitCode: number;
  error?: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

const DEFAULT_STOP_TIMEOUT = 10;

interface Live {
  exitWaiters: ((r: WaitResult) => void)[];
  removeWaiters: ((r: WaitResult) => void)[];
  /** Resolves when the current run's exit has been fully handled. */
  exited?: Promise<void>;
  manualStop?: boolean;
  restartTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
  /** Attaches made before start (`docker run` attaches first): connected after runtime create, before the process runs. */
  startAttachers?: { resolve: (a: AttachStream) => void; reject: (e: unknown) => void }[];
}

export class ContainerService extends EventEmitter<{ event: [ContainerEvent] }> {
  private readonly store: ContainerStore;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly cgroupParent: string;
  private readonly live = new Map<string, Live>();
  private readonly fsLocks = new Map<string, Promise<void>>();
  private readonly hostLimits = parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
  /** The daemon's bounding set: what "all capabilities" (privileged container or exec) means here. */
  readonly hostCapabilities = parseCapBnd(readFileSync('/proc/self/status', 'utf8'));
  private cgroupsP: Promise<Cgroups> | undefined;
  private hostResourcesV: HostResources | undefined;
  private closed = false;
  private readonly isolators: readonly Isolator[];

  constructor(private readonly opts: ContainerServiceOptions) {
    super();
    this.store = new ContainerStore(opts.db);
    this.log = opts.logger.child({ component: 'containers' });
    this.clock = opts.clock ?? systemClock;
    this.cgroupParent = opts.cgroupParent ?? '/wharf';
    if (opts.cgroups) this.cgroupsP = Promise.resolve(opts.cgroups);
    this.hostResourcesV = opts.hostResources;
    const iso = opts.isolators;
    this.isolators = Array.isArray(iso) ? iso : iso ? iso(this.defaultIsolators()) : this.defaultIsolators();
  }

  /** cgroups and resources, seccomp and capabilities, then mounts and network when this service was given them. */
  defaultIsolators(parts: { mounts?: MountsStep | undefined; network?: ContainerNetworkHook | undefined } = this.opts): Isolator[] {
    return [
      new CgroupsIsolator({ pathOf: (id) => this.cgroupsPath(id), version: async () => (await this.cgroups()).version, hostResources: () => this.hostResources() }),
      new SecurityIsolator({ capabilities: this.hostCapabilities, limits: this.hostLimits }),
      ...(parts.mounts ? [new MountsIsolator(parts.mounts)] : []),
      ...(parts.network ? [new NetworkIsolator(parts.network, this.log)] : []),
    ];
  }

  /** The host's resource capabilities (read once). */
  hostResources(): HostResources {
    this.hostResourcesV ??= readHostResources(this.opts.cgroups?.version ?? (existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1));
    return this.hostResourcesV;
  }

  private cgroups(): Promise<Cgroups> {
    this.cgroupsP ??= Cgroups.detect();
    return this.cgroupsP;
  }

  private dir(id: string): string {
    return join(this.opts.dataRoot, 'containers', id);
  }
  private rootfs(id: string): string {
    return join(this.dir(id), 'rootfs');
  }
  /** Where the container's root filesystem is mounted while it runs (host path). */
  rootfsPath(id: string): string {
    return this.rootfs(id);
  }
  cgroupsPath(id: string): string {
    return `${this.cgroupParent}/${id}`;
  }

  private liveOf(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { exitWaiters: [], removeWaiters: [] };
      this.live.set(id, l);
    }
    return l;
  }

  private emitEvent(action: ContainerAction, r: ContainerRecord, extra: Record<string, string> = {}): void {
    const ev: ContainerEvent = {
      type: 'container',
      action,
      id: r.id,
      attributes: { name: r.name, image: r.image, ...(r.request.labels ?? {}), ...extra },
      timeNano: this.clock.now() * 1e6,
    };
    this.emit('event', ev);
  }

  private setState(r: ContainerRecord, patch: Partial<ContainerState>): ContainerRecord {
    const next = { ...r, state: { ...r.state, ...patch } };
    this.store.save(next);
    return next;
  }

  // ---------- queries (from memory) ----------

  /** Running ones (all with `all`); `label` as Docker's filter: every `key` or `key=value` must match. */
  list(opts: { all?: boolean; label?: string[] } = {}): ContainerRecord[] {
    const all = this.store.list();
    const rows = opts.all ? all : all.filter((r) => r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting');
    if (!opts.label?.length) return rows;
    const want = opts.label.map((l) => l.split('=', 2) as [string, string | undefined]);
    return rows.filter((r) => {
      const labels = r.request.labels ?? {};
      return want.every(([k, v]) => (v === undefined ? k in labels : labels[k] === v));
    });
  }

  inspect(ref: string): ContainerRecord {
    return this.store.find(ref);
  }

  /** Whether a container uses an image (for image removal): a running one first, with its ID. */
  imageUse(imageId: string): { state: 'running' | 'stopped'; container: string } | false {
    let stopped: string | undefined;
    for (const r of this.store.list()) {
      if (r.imageId !== imageId) continue;
      if (['running', 'paused', 'restarting'].includes(r.state.status)) return { state: 'running', container: r.id };
      stopped ??= r.id;
    }
    return stopped ? { state: 'stopped', container: stopped } : false;
  }

  // ---------- create ----------

  async create(req: ContainerCreateRequest): Promise<{ id: string; warnings: string[] }> {
    if (!req || typeof req.image !== 'string' || req.image === '') throw invalid('image is required');
    const name = req.name ? normalizeName(req.name) : randomName((n) => this.store.nameTaken(n));
    if (this.store.nameTaken(name)) {
      throw conflict(`Conflict. The container name "/${name}" is already in use by container "${this.store.find(name).id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    validateRestartPolicy(req.restartPolicy, req.autoRemove);
    if (req.stopTimeout !== undefined && (!Number.isInteger(req.stopTimeout) || req.stopTimeout < -1)) throw invalid(`invalid stop timeout ${req.stopTimeout}`);
    const image = await this.opts.images.inspect(req.image); // NotFound: "No such image: X"
    const cfg = image.config;
    const imageConfig: ContainerRecord['imageConfig'] = {
      entrypoint: cfg.Entrypoint ?? null,
      cmd: cfg.Cmd ?? null,
      env: cfg.Env ?? null,
      workingDir: cfg.WorkingDir ?? '',
      user: cfg.User ?? '',
      stopSignal: cfg.StopSignal ?? '',
      labels: cfg.Labels ?? null,
      ...(cfg.Healthcheck
        ? { healthcheck: { test: cfg.Healthcheck.Test, intervalNs: cfg.Healthcheck.Interval, timeoutNs: cfg.Healthcheck.Timeout, retries: cfg.Healthcheck.Retries, startPeriodNs: cfg.Healthcheck.StartPeriod } as HealthConfig }
        : {}),
      ...(cfg.ExposedPorts && Object.keys(cfg.ExposedPorts).length ? { exposedPorts: Object.keys(cfg.ExposedPorts) } : {}),
    };
    const id = randomId();
    const options: CreateOptions = { hostname: id.slice(0, 12), ...req.options };
    const draft: IsolatorDraft = {
      id,
      name,
      options,
      storage: req.storage ?? {},
      network: req.network,
      imageVolumes: Object.keys(cfg.Volumes ?? {}),
      warnings: [],
      lookup: (ref) => this.store.find(ref),
    };
    if (!this.isolators.some((i) => i.name === 'mounts')) refuseMounts(draft);
    for (const i of this.isolators) i.validate?.(draft);
    const log = checkLogOptions(req.log);
    // Validate everything now (bad input changes nothing); the user is resolved at start against the rootfs.
    buildSpec({ ...imageConfig, user: '' }, { ...options, user: '' }, { rootfs: '/nonexistent', cgroupsPath: this.cgroupsPath(id), hostLimits: this.hostLimits });
    const record: ContainerRecord = {
      id,
      name,
      image: req.image,
      imageId: image.id,
      createdAt: new Date(this.clock.now()).toISOString(),
      request: { ...req, name, options, labels: { ...(cfg.Labels ?? {}), ...(req.labels ?? {}) }, log },
      imageConfig,
      state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '', startedAt: '', finishedAt: '', restartCount: 0 },
      logPath: join(this.dir(id), 'ctr.log'),
    };
    const prepared: Isolator[] = [];
    try {
      for (const i of this.isolators) {
        if (!i.prepare) continue;
        await i.prepare(draft);
        prepared.push(i);
        if (draft.mounts) record.mounts = draft.mounts;
      }
      await this.opts.snapshotter.prepare(id, image.id);
      this.store.insert(record);
    } catch (e) {
      for (const i of prepared.reverse()) await i.cleanup?.(record, { kind: 'remove', removeVolumes: true }).catch(() => undefined);
      await this.opts.snapshotter.remove(id).catch(() => undefined);
      await rm(this.dir(id), { recursive: true, force: true });
      throw e;
    }
    this.emitEvent('create', record);
    return { id, warnings: draft.warnings };
  }

  // ---------- start ----------

  /** Starts the container. As moby: an auto-remove container whose start fails is removed (with its anonymous volumes). */
  async start(ref: string): Promise<void> {
    const r = this.store.find(ref);
    try {
      await this.startRun(r.id);
    } catch (e) {
      if (r.request.autoRemove && !(e instanceof WharfError && e.kind === 'NotModified')) {
        await this.remove(r.id, { force: true, removeVolumes: true }).catch((err: unknown) => this.log.warn({ container: r.id, err: errorMessage(err) }, 'auto-remove after a failed start failed'));
      }
      throw e;
    }
  }

  private async startRun(ref: string): Promise<void> {
    let r = this.store.find(ref);
    if (r.state.status === 'running' || r.state.status === 'paused') throw new WharfError('NotModified', 'container already started');
    if (r.state.status === 'removing') throw conflict(`container ${r.id} is being removed`);
    const l = this.liveOf(r.id);
    if (l.restartTimer) clearTimeout(l.restartTimer);
    l.restartTimer = undefined;
    l.manualStop = false;
    const id = r.id;
    const rootfs = this.rootfs(id);
    await this.fsIdle(id);
    const started: Isolator[] = [];
    try {
      // A stale runtime container (an earlier run that was not cleaned) would block create.
      if (await this.opts.runtime.meta(id)) await this.opts.runtime.delete(id, { force: true });
      const mounts = await this.opts.snapshotter.mounts(id);
      await mkdir(rootfs, { recursive: true });
      await this.opts.snapshotter.unmount(rootfs);
      await this.opts.snapshotter.mount(mounts, rootfs);
      const options = r.request.options.initPath === 'default' ? { ...r.request.options, initPath: this.opts.initPath ?? '/usr/bin/tini-static' } : r.request.options;
      const launch: Launch = { options, spec: {}, rootfs };
      for (const i of this.isolators) {
        started.push(i);
        await i.start?.(r, launch);
      }
      const spec = buildSpec(r.imageConfig, launch.options, {
        ...launch.spec,
        rootfs,
        cgroupsPath: launch.spec.cgroupsPath ?? this.cgroupsPath(id),
        passwd: await readRootfsFile(rootfs, 'etc/passwd'),
        group: await readRootfsFile(rootfs, 'etc/group'),
      });
      const { pid } = await this.opts.runtime.create(id, spec, {
        name: r.name,
        tty: r.request.options.tty === true,
        stdin: r.request.openStdin === true,
        logPath: r.logPath,
        ...(r.request.log?.maxSize ? { logMaxSize: r.request.log.maxSize } : {}),
        ...(r.request.log?.maxFiles ? { logMaxFiles: r.request.log.maxFiles } : {}),
      });
      const attachers = l.startAttachers ?? [];
      l.startAttachers = [];
      for (const a of attachers) await this.opts.runtime.attach(id).then(a.resolve, a.reject);
      await this.opts.runtime.start(id).catch(async (e: unknown) => {
        await this.opts.runtime.delete(id, { force: true }).catch(() => undefined);
        throw e;
      });
      r = this.setState(r, { status: 'running', pid, error: '', exitCode: 0, oomKilled: false, startedAt: new Date(this.clock.now()).toISOString(), finishedAt: '' });
    } catch (e) {
      for (const a of l.startAttachers ?? []) a.reject(e);
      l.startAttachers = [];
      await this.opts.snapshotter.unmount(rootfs).catch(() => undefined);
      await this.cleanupIsolators(r, { kind: 'exit' }, started);
      const msg = errorMessage(e);
      this.setState(this.store.find(id), { status: r.state.startedAt ? 'exited' : 'created', exitCode: startFailureExitCode(msg), error: msg, pid: 0 });
      throw e;
    }
    this.emitEvent('start', r);
    this.monitor(id);
    this.startHealth(id);
  }

  /** The effective healthcheck: the create request's, else the image's; undefined for none. */
  private healthOf(r: ContainerRecord): Required<HealthConfig> | undefined {
    const h = { ...(r.imageConfig.healthcheck ?? {}), ...(r.request.healthcheck ?? {}) };
    const test = h.test ?? [];
    if (test.length === 0 || test[0] === 'NONE') return undefined;
    const ns = (v: number | undefined, d: number) => (v && v > 0 ? v : d);
    return { test, intervalNs: ns(h.intervalNs, 30e9), timeoutNs: ns(h.timeoutNs, 30e9), retries: ns(h.retries, 3), startPeriodNs: h.startPeriodNs ?? 0 };
  }

  /** Healthchecks run by the daemon itself (an exec per probe), status in the record and as events. */
  private startHealth(id: string): void {
    const r = this.store.find(id);
    const h = this.healthOf(r);
    if (!h) return;
    const l = this.liveOf(id);
    const startedAt = this.clock.now();
    this.setState(r, { health: { status: 'starting', failingStreak: 0, log: [] } });
    const args = h.test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', h.test.slice(1).join(' ')] : h.test[0] === 'CMD' ? h.test.slice(1) : h.test;
    const tick = async () => {
      l.healthTimer = undefined;
      const cur = this.store.find(id);
      if (this.closed || cur.state.status !== 'running') return;
      const start = new Date(this.clock.now()).toISOString();
      let exitCode = -1;
      let output = '';
      try {
        const ex = await this.opts.runtime.exec(id, { args }, { attach: true });
        const chunks: Buffer[] = [];
        ex.stream?.on('stdout', (b) => chunks.push(b));
        ex.stream?.on('stderr', (b) => chunks.push(b));
        const code = await Promise.race([ex.exited, this.clock.sleep(h.timeoutNs / 1e6).then(() => -1)]);
        exitCode = code;
        output = code === -1 ? `Health check exceeded timeout (${h.timeoutNs / 1e9}s)` : Buffer.concat(chunks).toString('utf8').slice(0, 4096);
        ex.stream?.close();
        void ex.exited.then(() => this.opts.runtime.removeExec(id, ex.sessionId)).catch(() => undefined);
      } catch (e) {
        output = errorMessage(e);
      }
      const now = this.store.find(id);
      if (now.state.status !== 'running' || !now.state.health) return;
      const prev = now.state.health;
      const ok = exitCode === 0;
      const inStart = this.clock.now() - startedAt < h.startPeriodNs / 1e6;
      const streak = ok ? 0 : inStart ? prev.failingStreak : prev.failingStreak + 1;
      const status = ok ? 'healthy' : streak >= h.retries ? 'unhealthy' : prev.status;
      const log = [...prev.log, { start, end: new Date(this.clock.now()).toISOString(), exitCode, output }].slice(-5);
      const next = this.setState(now, { health: { status, failingStreak: streak, log } });
      if (status !== prev.status && status !== 'starting') this.emitEvent(`health_status: ${status}`, next);
      l.healthTimer = setTimeout(() => void tick(), h.intervalNs / 1e6);
      l.healthTimer.unref();
    };
    l.healthTimer = setTimeout(() => void tick(), Math.min(h.intervalNs / 1e6, 1000));
    l.healthTimer.unref();
  }

  /** Watches one run of the container and handles its exit. */
  private monitor(id: string): void {
    const l = this.liveOf(id);
    l.exited = this.opts.runtime
      .wait(id)
      .then((s) => this.handleExit(id, s))
      .catch((e: unknown) => {
        if (!this.closed) this.log.error({ container: id, err: errorMessage(e) }, 'waiting for a container failed');
      });
  }

  private async handleExit(id: string, s: ExitStatus): Promise<void> {
    if (this.closed) return;
    let r: ContainerRecord;
    try {
      r = this.store.find(id);
    } catch {
      return;
    }
    const finishedAt = s.exitedAt.toISOString();
    const removing = r.state.status === 'removing';
    const hl = this.liveOf(id);
    if (hl.healthTimer) clearTimeout(hl.healthTimer);
    hl.healthTimer = undefined;
    r = this.setState(r, {
      status: removing ? 'removing' : 'exited',
      pid: 0,
      exitCode: s.exitCode,
      oomKilled: s.oomKilled,
      finishedAt,
      error: s.lost ? 'the container monitor (conmon) vanished; exit code unknown' : '',
    });
    if (s.oomKilled) this.emitEvent('oom', r);
    this.emitEvent('die', r, { exitCode: String(s.exitCode) });
    await this.opts.runtime.delete(id, { force: true }).catch((e: unknown) => this.log.warn({ container: id, err: errorMessage(e) }, 'runtime delete failed'));
    await this.opts.snapshotter.unmount(this.rootfs(id)).catch((e: unknown) => this.log.warn({ container: id, err: errorMessage(e) }, 'unmount failed'));
    await this.cleanupIsolators(r, { kind: 'exit' });
    const l = this.liveOf(id);
    const waiters = l.exitWaiters;
    l.exitWaiters = [];
    for (const w of waiters) w({ exitCode: s.exitCode, ...(r.state.error ? { error: r.state.error } : {}) });
    if (removing) return;
    if (r.request.autoRemove) {
      // Not awaited: remove() waits for this exit handling (l.exited) to finish.
      void this.remove(id, { force: true, removeVolumes: true }).catch((e: unknown) => this.log.warn({ container: id, err: errorMessage(e) }, 'auto-remove failed'));
      return;
    }
    this.maybeRestart(r, l);
  }

  /** Docker's restart policies with its backoff (100 ms doubling, reset after 10 s of running). */
  private maybeRestart(r: ContainerRecord, l: Live): void {
    const p: RestartPolicy = r.request.restartPolicy ?? { name: 'no' };
    if (l.manualStop || p.name === 'no') return;
    if (p.name === 'on-failure') {
      if (r.state.exitCode === 0) return;
      if (p.maximumRetryCount && r.state.restartCount >= p.maximumRetryCount) return;
    }
    const ranMs = r.state.startedAt ? Date.parse(r.state.finishedAt) - Date.parse(r.state.startedAt) : 0;
    const count = ranMs > 10_000 ? 0 : r.state.restartCount;
    const delay = Math.min(100 * 2 ** count, 60_000);
    const next = this.setState(r, { status: 'restarting', restartCount: r.state.restartCount + 1 });
    l.restartTimer = setTimeout(() => {
      l.restartTimer = undefined;
      if (this.closed) return;
      const cur = this.store.find(next.id);
      if (cur.state.status !== 'restarting') return;
      this.setState(cur, { status: 'exited' });
      this.start(next.id)
        .then(() => this.emitEvent('restart', this.store.find(next.id)))
        .catch((e: unknown) => this.log.warn({ container: next.id, err: errorMessage(e) }, 'restart failed'));
    }, delay);
    l.restartTimer.unref();
  }

  // ---------- stop / kill / pause ----------

  async stop(ref: string, opts: { timeoutSec?: number; signal?: string } = {}): Promise<void> {
    const r = this.store.find(ref);
    const l = this.liveOf(r.id);
    l.manualStop = true;
    if (r.state.status === 'restarting') {
      if (l.restartTimer) clearTimeout(l.restartTimer);
      l.restartTimer = undefined;
      this.setState(r, { status: 'exited' });
      return;
    }
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw new WharfError('NotModified', 'container already stopped');
    const sig = opts.signal ?? (r.request.options.stopSignal || r.imageConfig.stopSignal || 'SIGTERM');
    const timeout = opts.timeoutSec ?? r.request.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    const exited = this.waitExit(r.id);
    if (r.state.status === 'paused') await this.opts.runtime.resume(r.id).catch(() => undefined);
    await this.opts.runtime.kill(r.id, sig).catch(() => undefined);
    this.emitEvent('kill', r, { signal: String(parseSignal(sig)) });
    const inTime = timeout < 0 ? await exited.then(() => true) : await raceTimeout(exited, timeout * 1000);
    if (!inTime) {
      await this.opts.runtime.kill(r.id, 'SIGKILL').catch(() => undefined);
      this.emitEvent('kill', r, { signal: '9' });
      if (!(await raceTimeout(exited, 15_000))) throw new WharfError('Timeout', `container ${r.id} did not exit after SIGKILL`);
    }
    await this.liveOf(r.id).exited;
    this.emitEvent('stop', this.store.find(r.id));
  }

  async restart(ref: string, opts: { timeoutSec?: number } = {}): Promise<void> {
    const r = this.store.find(ref);
    if (r.state.status === 'running' || r.state.status === 'paused') await this.stop(r.id, opts);
    await this.start(r.id);
    this.emitEvent('restart', this.store.find(r.id));
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const r = this.store.find(ref);
    const n = parseSignal(signal);
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw conflict(`Container ${r.id} is not running`);
    this.liveOf(r.id).manualStop = true; // as Docker: a killed container is not restarted by its policy
    await this.opts.runtime.kill(r.id, n);
    this.emitEvent('kill', r, { signal: String(n) });
  }

  async pause(ref: string): Promise<void> {
    const r = this.store.find(ref);
    if (r.state.status === 'paused') throw conflict(`Container ${r.id} is already paused`);
    if (r.state.status !== 'running') throw conflict(`Container ${r.id} is not running`);
    await this.opts.runtime.pause(r.id);
    this.emitEvent('pause', this.setState(r, { status: 'paused' }));
  }

  async unpause(ref: string): Promise<void> {
    const r = this.store.find(ref);
    if (r.state.status !== 'paused') throw conflict(`Container ${r.id} is not paused`);
    await this.opts.runtime.resume(r.id);
    this.emitEvent('unpause', this.setState(r, { status: 'running' }));
  }

  // ---------- wait / remove / rename ----------

  private waitExit(id: string): Promise<WaitResult> {
    return new Promise((resolve) => this.liveOf(id).exitWaiters.push(resolve));
  }

  /** Docker's wait: `not-running` (default) returns at once if not running; `next-exit`; `removed`. */
  async wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<WaitResult> {
    const r = this.store.find(ref);
    let p: Promise<WaitResult>;
    if (condition === 'removed') p = new Promise((resolve) => this.liveOf(r.id).removeWaiters.push(resolve));
    else if (condition === 'not-running' && !['running', 'paused', 'restarting'].includes(r.state.status)) {
      return { exitCode: r.state.exitCode, ...(r.state.error ? { error: r.state.error } : {}) };
    } else p = this.waitExit(r.id);
    if (!signal) return p;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new WharfError('Timeout', 'wait aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void p.then((v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      });
    });
  }

  /** `removeVolumes` (rm -v, and --rm containers): the container's anonymous volumes go with it. */
  async remove(ref: string, opts: { force?: boolean; removeVolumes?: boolean } = {}): Promise<void> {
    let r = this.store.find(ref);
    if (r.state.status === 'removing' && !opts.force) throw conflict(`removal of container ${r.id} is already in progress`);
    const running = r.state.status === 'running' || r.state.status === 'paused';
    if (running && !opts.force) {
      throw conflict(`You cannot remove a running container ${r.id}. Stop the container before attempting removal or force remove`);
    }
    const l = this.liveOf(r.id);
    l.manualStop = true;
    if (l.restartTimer) clearTimeout(l.restartTimer);
    r = this.setState(r, { status: 'removing' });
    if (running) {
      const exited = this.waitExit(r.id);
      await this.opts.runtime.kill(r.id, 'SIGKILL').catch(() => undefined);
      await raceTimeout(exited, 15_000);
    }
    await l.exited;
    await this.fsIdle(r.id);
    if (await this.opts.runtime.meta(r.id)) await this.opts.runtime.delete(r.id, { force: true }).catch(() => undefined);
    await this.opts.snapshotter.unmount(this.rootfs(r.id));
    await this.cleanupIsolators(r, { kind: 'remove', removeVolumes: opts.removeVolumes === true });
    await this.opts.snapshotter.remove(r.id);
    await rm(this.dir(r.id), { recursive: true, force: true });
    this.store.delete(r.id);
    this.emitEvent('destroy', r);
    for (const w of l.removeWaiters) w({ exitCode: r.state.exitCode });
    this.live.delete(r.id);
  }

  /** Cleans the container's isolation in reverse list order (idempotent; a remove's failure is thrown, an exit's logged). */
  private async cleanupIsolators(r: ContainerRecord, why: CleanupReason, only: readonly Isolator[] = this.isolators): Promise<void> {
    for (const i of [...only].reverse()) {
      if (!i.cleanup) continue;
      if (why.kind === 'remove') await i.cleanup(r, why);
      else await i.cleanup(r, why).catch((e: unknown) => this.log.warn({ container: r.id, isolator: i.name, err: errorMessage(e) }, 'isolator cleanup failed'));
    }
  }

  /** At engine start, after recover(): every isolator re-adopts or cleans what its containers left. */
  async recoverIsolators(): Promise<void> {
    const all = this.store.list();
    for (const i of this.isolators) await i.recover?.(all);
  }

  /** Replaces the network settings kept for the next start (`docker network connect/disconnect`). */
  setNetworkRequest(ref: string, network: ContainerNetworkRequest): ContainerRecord {
    const r = this.store.find(ref);
    const next = { ...r, request: { ...r.request, network } };
    this.store.save(next);
    return next;
  }

  rename(ref: string, newName: string): void {
    const name = normalizeName(newName);
    const old = this.store.find(ref);
    if (old.name === name) throw invalid('Renaming a container with the same name as its current name');
    const r = this.store.rename(old.id, name);
    this.emitEvent('rename', r, { oldName: `/${old.name}` });
  }

  // ---------- I/O ----------

  async attach(ref: string): Promise<AttachStream> {
    const r = this.store.find(ref);
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw conflict(`Container ${r.id} is not running`);
    return this.opts.runtime.attach(r.id);
  }

  /**
   * Attach for a container that may not run yet: running → now; created/exited → at its next
   * start, connected before the process runs so no output is missed.
   */
  attachAtStart(ref: string, signal?: AbortSignal): Promise<AttachStream> {
    const r = this.store.find(ref);
    if (r.state.status === 'running' || r.state.status === 'paused') return this.opts.runtime.attach(r.id);
    return new Promise((resolve, reject) => {
      const l = this.liveOf(r.id);
      const entry = { resolve, reject };
      (l.startAttachers ??= []).push(entry);
      signal?.addEventListener('abort', () => {
        l.startAttachers = (l.startAttachers ?? []).filter((x) => x !== entry);
        reject(new WharfError('Unavailable', 'attach aborted'));
      }, { once: true });
    });
  }

  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const r = this.store.find(ref);
    if (r.state.status !== 'running') throw conflict(`Container ${r.id} is not running`);
    await this.opts.runtime.resize(r.id, rows, cols);
  }

  async exec(ref: string, proc: OciProcess, opts: ExecOptions = {}): Promise<ExecSession> {
    const r = this.store.find(ref);
    if (r.state.status === 'paused') throw conflict(`Container ${r.id} is paused, unpause the container before exec`);
    if (r.state.status !== 'running') throw conflict(`Container ${r.id} is not running`);
    return this.opts.runtime.exec(r.id, proc, opts);
  }

  /**
   * Docker's update: resources change live (`runc update`) when the container runs and are
   * kept for its next start; the restart policy changes at once. Bad values change nothing.
   */
  async update(ref: string, upd: ContainerUpdate): Promise<{ warnings: string[] }> {
    const r = this.store.find(ref);
    if (upd.restartPolicy) {
      validateRestartPolicy(upd.restartPolicy, false);
      if (r.request.autoRemove && upd.restartPolicy.name !== 'no') throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
    }
    let warnings: string[] = [];
    let resources = r.request.options.resources ?? {};
    if (upd.resources && Object.keys(upd.resources).length) {
      const checkedUpd = checkResources(upd.resources, this.hostResources(), { update: true });
      warnings = checkedUpd.warnings;
      resources = mergeUpdate(resources, checkedUpd.resources);
      checkResources(resources, this.hostResources());
      const oci = updateResources(resources);
      if (upd.resources.pidsLimit !== undefined && upd.resources.pidsLimit < 0) oci.pids = { limit: -1 }; // back to unlimited
      if (upd.resources.memorySwap === -1) oci.memory = { ...(oci.memory as object), swap: -1 };
      if (r.state.status === 'running' || r.state.status === 'paused') {
        await this.opts.runtime.update(r.id, oci).catch((e: unknown) => {
          throw new WharfError(e instanceof WharfError ? e.kind : 'Internal', `Cannot update container ${r.id}: ${errorMessage(e)}`);
        });
      }
    }
    const cur = this.store.find(r.id);
    const options = { ...cur.request.options };
    if (Object.keys(resources).length) options.resources = resources;
    else delete options.resources;
    const next: ContainerRecord = { ...cur, request: { ...cur.request, options, ...(upd.restartPolicy ? { restartPolicy: upd.restartPolicy } : {}) } };
    this.store.save(next);
    this.emitEvent('update', next);
    return { warnings };
  }

  /** PIDs of the container's processes (from its cgroup), for `top`. */
  async pids(ref: string): Promise<number[]> {
    const r = this.store.find(ref);
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw conflict(`Container ${r.id} is not running`);
    return (await this.cgroups()).pids(this.cgroupsPath(r.id));
  }

  /** `docker top`: the host's `ps` with `psArgs`, rows of this container's processes only. */
  async top(ref: string, psArgs: string): Promise<TopResult> {
    return top(await this.pids(ref), psArgs);
  }

  /** The container's snapshot mounts (overlay lowerdir/upperdir), for `changes` and sizes. */
  snapshotMounts(id: string): Promise<Mount[]> {
    return this.opts.snapshotter.mounts(id);
  }

  /**
   * Runs `fn` with the container's root filesystem mounted at its rootfs path: as it is when
   * the container runs, mounted for the call (and unmounted after) when it does not. Calls for
   * a stopped container and its start are serialized, so a start never unmounts under a copy.
   */
  async withRootfs<T>(ref: string, fn: (rootfs: string, r: ContainerRecord) => Promise<T>): Promise<T> {
    const id = this.store.find(ref).id;
    const prev = this.fsLocks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chain = prev.then(() => mine);
    this.fsLocks.set(id, chain);
    await prev;
    try {
      const r = this.store.find(id);
      const rootfs = this.rootfs(id);
      if (r.state.status === 'running' || r.state.status === 'paused') return await fn(rootfs, r);
      if (r.state.status === 'removing') throw conflict(`container ${id} is being removed`);
      await mkdir(rootfs, { recursive: true });
      await this.opts.snapshotter.unmount(rootfs);
      await this.opts.snapshotter.mount(await this.opts.snapshotter.mounts(id), rootfs);
      try {
        return await fn(rootfs, r);
      } finally {
        // A start that waited for this call mounts again itself.
        await this.opts.snapshotter.unmount(rootfs).catch((e: unknown) => this.log.warn({ container: id, err: errorMessage(e) }, 'unmount after a file operation failed'));
      }
    } finally {
      release();
      if (this.fsLocks.get(id) === chain) this.fsLocks.delete(id);
    }
  }

  /** Waits for file operations on a stopped container's rootfs (start and remove must not unmount under them). */
  private async fsIdle(id: string): Promise<void> {
    for (let p = this.fsLocks.get(id); p; p = this.fsLocks.get(id)) {
      await p;
      if (this.fsLocks.get(id) === p) break;
    }
  }

  async stats(ref: string): Promise<CgroupStats> {
    const r = this.store.find(ref);
    if (r.state.status !== 'running' && r.state.status !== 'paused') throw conflict(`Container ${r.id} is not running`);
    return (await this.cgroups()).stats(this.cgroupsPath(r.id));
  }

  /** Log files oldest first (rotated ones, then the live one); readable whether or not the container runs. */
  async logFiles(ref: string): Promise<string[]> {
    const r = this.store.find(ref);
    const files: string[] = [];
    for (let i = (r.request.log?.maxFiles ?? this.opts.runtime.logMaxFiles) - 1; i >= 1; i--) files.push(`${r.logPath}.${i}`);
    files.push(r.logPath);
    const out: string[] = [];
    for (const f of files) if (await readFile(f).then(() => true, () => false)) out.push(f);
    return out;
  }

  // ---------- daemon start / stop ----------

  /**
   * Re-adopts containers after a restart: running ones are watched again, exits that
   * happened meanwhile are recorded (and restart policies applied), lost ones reported,
   * orphan runtime containers (no record) removed, `always`/`unless-stopped` started.
   */
  async recover(): Promise<{ running: string[]; exited: string[]; lost: string[]; orphansRemoved: string[] }> {
    const rec = await this.opts.runtime.recover();
    const byId = new Map(rec.map((x) => [x.id, x]));
    const out = { running: [] as string[], exited: [] as string[], lost: [] as string[], orphansRemoved: [] as string[] };
    for (const x of rec) {
      if (!this.store.list().some((r) => r.id === x.id) && x.status !== 'removed') {
        await this.opts.runtime.delete(x.id, { force: true }).catch(() => undefined);
        await this.opts.snapshotter.unmount(this.rootfs(x.id)).catch(() => undefined);
        out.orphansRemoved.push(x.id);
      }
    }
    for (const r of this.store.list()) {
      const x = byId.get(r.id);
      const wasLive = ['running', 'paused', 'restarting', 'removing'].includes(r.state.status);
      if (x && (x.status === 'running' || x.status === 'paused' || x.status === 'created')) {
        if (x.status === 'created') await this.opts.runtime.start(r.id).catch(() => undefined);
        this.setState(r, { status: x.status === 'paused' ? 'paused' : 'running', pid: x.pid });
        this.monitor(r.id);
        this.startHealth(r.id);
        out.running.push(r.id);
      } else if (x && x.status === 'exited') {
        this.setState(r, { status: 'running' });
        await this.handleExit(r.id, x.exit);
        out.exited.push(r.id);
      } else if (wasLive) {
        const reason = x && 'reason' in x ? x.reason : 'the container was gone when the daemon restarted';
        if (x) await this.opts.runtime.delete(r.id, { force: true }).catch(() => undefined);
        await this.opts.snapshotter.unmount(this.rootfs(r.id)).catch(() => undefined);
        await this.cleanupIsolators(r, { kind: 'exit' });
        this.setState(r, { status: 'exited', pid: 0, exitCode: 255, error: reason, finishedAt: new Date(this.clock.now()).toISOString() });
        this.emitEvent('die', this.store.find(r.id), { exitCode: '255' });
        out.lost.push(r.id);
      }
    }
    // Daemon start: `always` and `unless-stopped` containers come back (Docker's behaviour).
    for (const r of this.store.list()) {
      const p = r.request.restartPolicy?.name;
      if ((p === 'always' || p === 'unless-stopped') && (r.state.status === 'exited' || r.state.status === 'restarting') && !out.exited.includes(r.id)) {
        await this.start(r.id).catch((e: unknown) => this.log.warn({ container: r.id, err: errorMessage(e) }, 'restart at daemon start failed'));
      }
    }
    return out;
  }

  /** Stops watching (containers keep running: live restore). */
  close(): void {
    this.closed = true;
    for (const l of this.live.values()) {
      if (l.restartTimer) clearTimeout(l.restartTimer);
      if (l.healthTimer) clearTimeout(l.healthTimer);
    }
    this.opts.runtime.close();
  }
}

function validateRestartPolicy(p: RestartPolicy | undefined, autoRemove: boolean | undefined): void {
  if (!p) return;
  if (!['no', 'always', 'unless-stopped', 'on-failure', ''].includes(p.name)) throw invalid(`invalid restart policy: ${p.name}`);
  if (p.maximumRetryCount !== undefined && (!Number.isInteger(p.maximumRetryCount) || p.maximumRetryCount < 0)) {
    throw invalid('invalid restart policy: maximum retry count cannot be negative');
  }
  if (p.name !== 'on-failure' && (p.maximumRetryCount ?? 0) > 0) throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (autoRemove && p.name !== 'no') throw invalid('Conflicting options: cannot combine restart policy with auto-remove');
}

/** `--log-opt max-size/max-file` in engine terms, checked (rotation is always on). */
function checkLogOptions(o: LogOptions | undefined): LogOptions | undefined {
  if (!o) return undefined;
  if (o.maxSize !== undefined && (!Number.isSafeInteger(o.maxSize) || o.maxSize < 1)) throw invalid(`invalid max-size: ${o.maxSize}`);
  if (o.maxFiles !== undefined && (!Number.isSafeInteger(o.maxFiles) || o.maxFiles < 1)) throw invalid('max-file cannot be less than 1');
  return o.maxSize === undefined && o.maxFiles === undefined ? undefined : o;
}

/** Docker's exit codes for a start that failed in the runtime. */
function startFailureExitCode(msg: string): number {
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied/i.test(msg)) return 126;
  return 128;
}

/** Reads a file of the rootfs, refusing symlinks that lead outside it. */
async function readRootfsFile(rootfs: string, rel: string): Promise<string | undefined> {
  try {
    const root = await realpath(rootfs);
    const real = await realpath(join(rootfs, rel));
    if (!real.startsWith(`${root}/`)) return undefined;
    return await readFile(real, 'utf8');
  } catch {
    return undefined;
  }
}

function raceTimeout<T>(p: Promise<T>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

