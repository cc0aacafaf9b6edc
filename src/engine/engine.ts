import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errorMessage } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { processAlive, run } from '../core/exec/run.js';
import { acquireDataRootLock, type DataRootLock } from './data-root-lock.js';
import { EngineDb } from './db.js';
import { EventBus } from './events/event-bus.js';
import { ImageService } from './images/image-service.js';
import { ImageDistribution, type DistributionOptions } from './images/distribution.js';
import { OverlaySnapshotter } from './snapshots/overlay-snapshotter.js';
import { ConmonRuntime } from './runtime/conmon-runtime.js';
import { ContainerService } from './containers/container-service.js';
import type { Isolator } from './containers/isolator.js';
import { ContainerMounts } from './containers/container-mounts.js';
import { ContainerFs } from './containers/container-fs.js';
import { ExecService } from './containers/exec-service.js';
import { ContainerLogReader } from './containers/container-logs.js';
import { ContainerStatsReader } from './containers/container-stats.js';
import { Builder } from './build/builder.js';
import { VolumeService } from './volumes/volume-service.js';
import { SqliteNetworkStore } from './networks/network-store.js';
import { DEFAULT_BIP, DEFAULT_BRIDGE, NetworkManager } from './networks/network-manager.js';
import { NetnsPool } from './networks/netns-pool.js';
import { ContainerNetworking } from './networks/container-networking.js';
import { checkIfName, type Runner } from './networks/ip-driver.js';
import type {
  ContainerExec,
  ContainerFiles,
  ContainerLifecycle,
  ContainerLogs,
  ContainerStats,
  EngineEvents,
  EngineSystem,
  ImageBuilder,
  ImageStore,
  ImageTransfer,
  Networks,
  Volumes,
} from './roles.js';

// The single-host engine as one object: the constructor builds every part from a config
// (nothing listens, nothing is recovered yet); `start()` re-adopts what the previous run left
// (networks, containers, log rotation, mounts, builder, stale netns, the netns pool) in that
// order; `stop()` stops watching and closes, leaving containers running (live restore). Callers
// (`wharf daemon`, `wharf server`, the node agent) use only the role objects (roles.ts).
//
// Everything that is a kernel-wide name derives from the config, so several engines run on
// one host: the bridge name names the nft table (wharf-<bridge>) and the netns prefix
// (wharf-<bridge>-); the cgroup parent, data root and exec root are the config's.

export interface EngineConfig {
  /** Persistent state (images, containers, volumes, wharf.db); locked for the engine's life. */
  dataRoot: string;
  /** Runtime state (conmon bundles, runc state, sockets). */
  execRoot: string;
  logger: Logger;
  clock?: Clock;
  /** The process runner for ip/nft/cp (default core/exec run). */
  runner?: Runner;
  /** The OCI runtime binary (default /usr/sbin/runc) and conmon (default /usr/bin/conmon). */
  runtimePath?: string;
  conmonPath?: string;
  /** Default network's bridge (default wharf0); also names the nft table and the netns prefix. */
  bridgeName?: string;
  /** Default network's gateway/prefix (default 10.209.0.1/16). */
  bip?: string;
  /** Prepared network namespaces kept warm (default 2; 0 = none). */
  netnsPool?: number;
  /** Parent of every container cgroup (default /wharf): give each engine on a host its own. */
  cgroupParent?: string;
  /** Host path of the init for `--init` (default /usr/bin/tini-static). */
  initPath?: string;
  /** The registry client pulls and pushes use (built by the composition root: TLS, CAs, insecure registries); closed by stop(). */
  registry: DistributionOptions['client'];
  /** Create busybox:latest from the host's busybox-static at start when missing. */
  bootstrapBusybox?: boolean;
  /**
   * The containers' isolators, from the default list (cgroups and resources, seccomp and
   * capabilities, mounts and volumes, network): add (GPU, disk quota, user namespaces), reorder
   * or replace. Default: the list as is.
   */
  isolators?: (defaults: Isolator[]) => Isolator[];
}

export interface EngineStartReport {
  networks: { kept: number; removed: number; broken: string[] };
  containers: { running: string[]; exited: string[]; lost: string[]; orphansRemoved: string[] };
  staleNetns: string[];
}

export class Engine {
  readonly dataRoot: string;
  readonly execRoot: string;
  /** Stable ID kept in DATA_ROOT/engine-id (Docker's daemon ID). */
  readonly id: string;

  readonly containers: ContainerLifecycle;
  readonly exec: ContainerExec;
  readonly logs: ContainerLogs;
  readonly stats: ContainerStats;
  readonly files: ContainerFiles;
  readonly images: ImageStore;
  readonly distribution: ImageTransfer;
  readonly builder: ImageBuilder;
  readonly networks: Networks;
  readonly volumes: Volumes;
  readonly events: EngineEvents;
  readonly system: EngineSystem;

  private readonly log: Logger;
  private readonly lock: DataRootLock;
  private readonly db: EngineDb;
  private readonly imageService: ImageService;
  private readonly runtime: ConmonRuntime;
  private readonly ctrs: ContainerService;
  private readonly mounts: ContainerMounts;
  private readonly build: Builder;
  private readonly netManager: NetworkManager;
  private readonly netHook: ContainerNetworking;
  private readonly pool: NetnsPool | undefined;
  private readonly registry: EngineConfig['registry'];
  private readonly bootstrapBusybox: boolean;
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';

  constructor(cfg: EngineConfig) {
    const log = cfg.logger;
    this.log = log.child({ component: 'engine' });
    const clock = cfg.clock ?? systemClock;
    const runner = cfg.runner ?? run;
    const dataRoot = resolve(cfg.dataRoot);
    const execRoot = resolve(cfg.execRoot);
    this.dataRoot = dataRoot;
    this.execRoot = execRoot;
    this.registry = cfg.registry;
    this.bootstrapBusybox = cfg.bootstrapBusybox === true;
    const bridgeName = checkIfName(cfg.bridgeName ?? DEFAULT_BRIDGE);
    const poolSize = cfg.netnsPool ?? 2;
    mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
    mkdirSync(execRoot, { recursive: true, mode: 0o700 });
    this.lock = acquireDataRootLock(dataRoot);
    try {
      this.db = EngineDb.open({ dataRoot });
      this.id = engineId(dataRoot);
    } catch (e) {
      this.lock.release();
      throw e;
    }
    const db = this.db;
    const bus = new EventBus(clock);
    this.events = bus;
    const images = new ImageService({ dataRoot, db, logger: log.child({ component: 'images' }) });
    this.imageService = images;
    const snapshotter = new OverlaySnapshotter({ dataRoot, db, images });
    this.runtime = new ConmonRuntime({
      root: join(execRoot, 'runtime'),
      runtimeRoot: join(execRoot, 'runc'),
      logger: log.child({ component: 'runtime' }),
      clock,
      ...(cfg.runtimePath ? { runtimePath: cfg.runtimePath } : {}),
      ...(cfg.conmonPath ? { conmonPath: cfg.conmonPath } : {}),
    });
    const volumes = new VolumeService({
      db,
      dataRoot,
      runner,
      clock,
      logger: log.child({ component: 'volumes' }),
      onEvent: (action, name, attrs) => bus.emit('volume', action, name, attrs),
    });
    this.mounts = new ContainerMounts({ volumes, logger: log, onEvent: (action, name, attrs) => bus.emit('volume', action, name, attrs) });
    const netLog = log.child({ component: 'networks' });
    this.netManager = new NetworkManager({ runner, logger: netLog, clock, store: new SqliteNetworkStore(db), daemonName: bridgeName, bridgeName, bip: cfg.bip ?? DEFAULT_BIP });
    const netnsPrefix = `wharf-${bridgeName}-`;
    this.pool = poolSize > 0 ? new NetnsPool({ manager: this.netManager, runner, logger: netLog, size: poolSize, network: 'bridge', prefix: netnsPrefix }) : undefined;
    // The hook needs the containers it serves: looked up lazily (only called after construction).
    this.netHook = new ContainerNetworking({
      manager: this.netManager,
      ...(this.pool ? { pool: this.pool } : {}),
      runner,
      logger: netLog,
      dataRoot,
      netnsPrefix,
      containers: () => this.ctrs,
      onEvent: (action, n, containerId) => bus.emit('network', action, n.id, { name: n.name, type: n.driver, container: containerId }),
    });
    this.ctrs = new ContainerService({
      dataRoot,
      db,
      images,
      snapshotter,
      runtime: this.runtime,
      logger: log,
      clock,
      mounts: this.mounts,
      network: this.netHook,
      ...(cfg.cgroupParent ? { cgroupParent: cfg.cgroupParent } : {}),
      ...(cfg.initPath ? { initPath: cfg.initPath } : {}),
      ...(cfg.isolators ? { isolators: cfg.isolators } : {}),
    });
    this.ctrs.on('event', (e) => bus.emit('container', e.action, e.id, e.attributes));
    const execs = new ExecService({ host: this.ctrs, logger: log, clock, removeSession: (cid, sid) => this.runtime.removeExec(cid, sid) });
    execs.on('event', (e) => bus.emit('container', e.action, e.id, e.attributes));
    this.build = new Builder({ dataRoot, mounts: snapshotter, db, images, containers: this.ctrs, logger: log, clock });

    this.containers = this.ctrs;
    this.exec = execs;
    this.logs = new ContainerLogReader({ host: this.ctrs, clock });
    this.stats = new ContainerStatsReader(this.ctrs);
    this.files = new ContainerFs(this.ctrs, log);
    this.images = images;
    this.distribution = new ImageDistribution({ images, client: cfg.registry, logger: log });
    this.builder = this.build;
    this.volumes = volumes;
    const mgr = this.netManager;
    const hook = this.netHook;
    this.networks = {
      list: (f) => mgr.list(f),
      inspect: (ref) => mgr.inspect(ref),
      createNetwork: (req) => mgr.createNetwork(req),
      removeNetwork: (ref) => mgr.removeNetwork(ref),
      prune: (f) => mgr.prune(f),
      connect: (n, c, x) => hook.connect(n, c, x),
      disconnect: (n, c, o) => hook.disconnect(n, c, o),
      endpointsOf: (id) => hook.endpointsOf(id),
      findNetwork: (ref) => hook.findNetwork(ref),
      idle: () => hook.idle(),
    };
    const ctrs = this.ctrs;
    this.system = {
      id: this.id,
      dataRoot,
      execRoot,
      counts: async () => {
        const all = ctrs.list({ all: true });
        const n = (s: string) => all.filter((r) => r.state.status === s).length;
        return { images: (await images.list()).length, containers: all.length, running: n('running'), paused: n('paused'), stopped: all.length - n('running') - n('paused') };
      },
      imageDiskUsage: () => images.diskUsage(),
      volumeDiskUsage: async () => {
        const out = [];
        for (const v of volumes.list()) out.push({ volume: v, size: await volumes.size(v.name).catch(() => -1), refCount: volumes.inspect(v.name).users.length });
        return out;
      },
    };
  }

  /**
   * Re-adopts the previous run's state, in order: networks (endpoints of live containers kept),
   * containers (running ones watched again, exits recorded, restart policies applied), log
   * rotation, mounts, the builder's leftovers, stale network namespaces, the netns pool.
   * On failure the engine is stopped and the error rethrown.
   */
  async start(): Promise<EngineStartReport> {
    if (this.state !== 'new') throw new Error(`engine already ${this.state}`);
    this.state = 'starting';
    try {
      if (this.bootstrapBusybox) {
        const r = await this.imageService.bootstrapBusybox();
        this.log.info({ image: 'busybox:latest', id: r.id, created: r.created }, r.created ? 'created busybox:latest' : 'busybox:latest present');
      }
      // Endpoints of containers still running stay as they are (live restore); the others go.
      const networks = await this.netManager.restore(async (id) => {
        if (id.startsWith('pool:')) return true;
        try {
          const r = this.ctrs.inspect(id);
          return ['running', 'paused', 'restarting', 'removing'].includes(r.state.status) && r.state.pid > 0 && (await processAlive(r.state.pid));
        } catch {
          return false;
        }
      });
      this.log.info(networks, 'networks restored');
      const containers = await this.ctrs.recover();
      this.log.info(containers, 'containers recovered');
      this.runtime.startLogRotation();
      await this.ctrs.recoverIsolators(); // mounts and volumes: orphaned anonymous volumes go
      await this.build.recover();
      const staleNetns = await this.netHook.sweepNetns();
      if (staleNetns.length) this.log.info({ netns: staleNetns }, 'stale network namespaces removed');
      if (this.pool) {
        const pool = this.pool;
        pool.adopt();
        pool.fill().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'netns pool fill failed'));
      }
      this.state = 'started';
      return { networks, containers, staleNetns };
    } catch (e) {
      await this.stop().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'stop after a failed start failed'));
      throw e;
    }
  }

  /**
   * Stops watching containers (they keep running: live restore), drains prepared namespaces
   * nobody uses, closes networking, the registry client and the database, and releases the
   * data-root lock. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await (this.registry as { close?: () => Promise<void> }).close?.().catch(() => undefined);
    this.ctrs.close();
    await this.netHook.idle().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'network teardown at stop failed'));
    await this.pool?.drain().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'netns pool drain failed'));
    await this.netManager.close().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'network close failed'));
    this.db.close();
    this.lock.release();
  }
}

/** A stable engine ID kept in the data root (moby keeps `engine-id`). */
function engineId(dataRoot: string): string {
  const path = join(dataRoot, 'engine-id');
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (id) return id;
  } catch {
    /* first start */
  }
  const id = randomUUID();
  writeFileSync(path, `${id}\n`, { mode: 0o600 });
  return id;
}
