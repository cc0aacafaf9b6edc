import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { WharfError, errorMessage } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { EngineDb } from '../engine/db.js';
import { ImageService } from '../engine/images/image-service.js';
import { ImageDistribution } from '../engine/images/distribution.js';
import { RegistryClient } from '../registry/client/registry-client.js';
import { ApiServer } from '../dockerapi/server.js';
import { readHostInfo } from '../dockerapi/host-info.js';
import { SystemRouter } from '../dockerapi/routers/system.js';
import { ImagesRouter } from '../dockerapi/routers/images.js';
import { EventsRouter } from '../dockerapi/routers/events.js';
import { EventLog } from '../dockerapi/events.js';
import { ContainersRouter } from '../dockerapi/routers/containers.js';
import { ContainerStatsRouter } from '../dockerapi/routers/container-stats.js';
import { ContainerUpdateRouter } from '../dockerapi/routers/container-resources.js';
import { ExecRouter } from '../dockerapi/routers/exec.js';
import { ContainerOpsRouter } from '../dockerapi/routers/container-ops.js';
import { ContainerFsRouter } from '../dockerapi/routers/container-fs.js';
import { ContainerFs } from '../engine/containers/container-fs.js';
import { ExecService } from '../engine/containers/exec-service.js';
import { OverlaySnapshotter } from '../engine/snapshots/overlay-snapshotter.js';
import { ConmonRuntime } from '../engine/runtime/conmon-runtime.js';
import { ContainerService } from '../engine/containers/container-service.js';
import { Builder } from '../engine/build/builder.js';
import { BuildRouter } from '../dockerapi/routers/build.js';
import { systemClock } from '../core/clock.js';
import { VolumeService } from '../engine/volumes/volume-service.js';
import { ContainerMounts } from '../engine/containers/container-mounts.js';
import { VolumesRouter } from '../dockerapi/routers/volumes.js';
import { run, processAlive } from '../core/exec/run.js';
import { SqliteNetworkStore } from '../engine/networks/network-store.js';
import { DEFAULT_BIP, DEFAULT_BRIDGE, NetworkManager } from '../engine/networks/network-manager.js';
import { NetnsPool } from '../engine/networks/netns-pool.js';
import { ContainerNetworking } from '../engine/networks/container-networking.js';
import { checkIfName } from '../engine/networks/ip-driver.js';
import { NetworksRouter } from '../dockerapi/routers/networks.js';
import { runClient } from '../cli/client.js';
import { acquireDataRootLock, type DataRootLock } from './data-root-lock.js';
import { WHARF_VERSION } from './version.js';

// `wharf daemon` (dockerd's flags) and `wharf start` (what `npm start` runs): the composition
// root of the single-host engine and its Docker Engine API.

export const DEFAULT_DATA_ROOT = '/var/lib/wharf';
export const DEFAULT_EXEC_ROOT = '/run/wharf';
export const DEFAULT_HOST = 'unix:///run/wharf/wharf.sock';
export const DEFAULT_CONFIG_DIR = '/etc/wharf';

export interface DaemonConfig {
  dataRoot: string;
  execRoot: string;
  /** `unix:///path.sock` addresses (dockerd's -H). */
  hosts: string[];
  /** Create busybox:latest from the host's busybox-static when missing (wharf start). */
  bootstrapBusybox?: boolean;
  /** Registries reached over plain HTTP (besides loopback), like dockerd's --insecure-registry. */
  insecureRegistries?: string[];
  /** A CA bundle trusted for every registry. */
  registryCa?: string;
  /** Daemon config dir: registry CAs in `<configDir>/certs.d/<host:port>/ca.crt` (Docker's layout). */
  configDir?: string;
  /** Default network's bridge (--bridge-name, default wharf0); also names the nft table and netns prefix. */
  bridgeName?: string;
  /** Default network's gateway/prefix (--bip, default 10.209.0.1/16). */
  bip?: string;
  /** Warm pool of prepared network namespaces on the default bridge (default 2; 0 = off). */
  netnsPool?: number;
}

/** dockerd's -H syntax. Only unix sockets for now: TCP comes with TLS and tokens in a later issue. */
export function parseHost(host: string): string {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path.startsWith('/')) throw new WharfError('InvalidArgument', `invalid host ${host}: the socket path must be absolute (unix:///path.sock)`);
    if (Buffer.byteLength(path) > 107) throw new WharfError('InvalidArgument', `invalid host ${host}: socket paths are limited to 107 bytes`);
    return path;
  }
  if (/^(tcp|http|https):\/\//.test(host)) {
    throw new WharfError(
      'Unsupported',
      `listening on ${host} is not supported yet: TCP comes with TLS and token authentication in a later version; use -H unix:///path.sock`,
    );
  }
  throw new WharfError('InvalidArgument', `invalid host ${host}: expected unix:///path.sock`);
}

export class Daemon {
  private stopped = false;

  private constructor(
    private readonly log: Logger,
    private readonly lock: DataRootLock,
    private readonly db: EngineDb,
    readonly images: ImageService,
    readonly containers: ContainerService,
    private readonly api: ApiServer,
    readonly sockets: string[],
    private readonly registryClient: RegistryClient,
    private readonly networks: NetworkManager,
    private readonly pool: NetnsPool | undefined,
    private readonly netHook: ContainerNetworking,
  ) {}

  static async start(cfg: DaemonConfig, log: Logger): Promise<Daemon> {
    const dataRoot = resolve(cfg.dataRoot);
    const execRoot = resolve(cfg.execRoot);
    const hosts = cfg.hosts.length ? cfg.hosts : [DEFAULT_HOST];
    const sockets = [...new Set(hosts.map(parseHost))];
    mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
    mkdirSync(execRoot, { recursive: true, mode: 0o700 });
    const lock = acquireDataRootLock(dataRoot);
    let db: EngineDb | undefined;
    let api: ApiServer | undefined;
    let containers: ContainerService | undefined;
    const registryClient = new RegistryClient({
      logger: log,
      insecureRegistries: cfg.insecureRegistries ?? [],
      ...(cfg.registryCa ? { caFile: resolve(cfg.registryCa) } : {}),
      certsDir: join(resolve(cfg.configDir ?? DEFAULT_CONFIG_DIR), 'certs.d'),
      userAgent: `wharf/${WHARF_VERSION}`,
    });
    let networks: NetworkManager | undefined;
    let pool: NetnsPool | undefined;
    try {
      db = EngineDb.open({ dataRoot });
      const images = new ImageService({ dataRoot, db, logger: log.child({ component: 'images' }) });
      if (cfg.bootstrapBusybox) {
        const r = await images.bootstrapBusybox();
        log.info({ image: 'busybox:latest', id: r.id, created: r.created }, r.created ? 'created busybox:latest' : 'busybox:latest present');
      }
      const host = await readHostInfo();
      const events = new EventLog(systemClock);
      const snapshotter = new OverlaySnapshotter({ dataRoot, db, images });
      const runtime = new ConmonRuntime({ root: join(execRoot, 'runtime'), runtimeRoot: join(execRoot, 'runc'), logger: log.child({ component: 'runtime' }) });
      const volumes = new VolumeService({
        db,
        dataRoot,
        runner: run,
        clock: systemClock,
        logger: log.child({ component: 'volumes' }),
        onEvent: (action, name, attrs) => events.emit('volume', action, name, attrs),
      });
      const mounts = new ContainerMounts({ volumes, logger: log, onEvent: (action, name, attrs) => events.emit('volume', action, name, attrs) });
      // Networking: the default bridge from --bridge-name/--bip; the bridge name also names this
      // daemon's nft table (wharf-<bridge>) and its namespaces in /run/netns, so daemons never collide.
      const bridgeName = checkIfName(cfg.bridgeName ?? DEFAULT_BRIDGE);
      const netLog = log.child({ component: 'networks' });
      const mgr = new NetworkManager({ runner: run, logger: netLog, clock: systemClock, store: new SqliteNetworkStore(db), daemonName: bridgeName, bridgeName, bip: cfg.bip ?? DEFAULT_BIP });
      networks = mgr;
      const netnsPrefix = `wharf-${bridgeName}-`;
      const poolSize = cfg.netnsPool ?? 2;
      if (poolSize > 0) pool = new NetnsPool({ manager: mgr, runner: run, logger: netLog, size: poolSize, network: 'bridge', prefix: netnsPrefix });
      // The hook needs the engine it is given to: looked up lazily (only called after construction).
      const lookup = (): ContainerService => ctrs;
      const netHook = new ContainerNetworking({
        manager: mgr,
        ...(pool ? { pool } : {}),
        runner: run,
        logger: netLog,
        dataRoot,
        netnsPrefix,
        containers: lookup,
        onEvent: (action, n, containerId) => events.emit('network', action, n.id, { name: n.name, type: n.driver, container: containerId }),
      });
      const ctrs: ContainerService = new ContainerService({ dataRoot, db, images, snapshotter, runtime, logger: log, mounts, network: netHook });
      containers = ctrs;
      ctrs.on('event', (e) => events.emit('container', e.action, e.id, e.attributes));
      const execs = new ExecService({ host: ctrs, logger: log, removeSession: (cid, sid) => runtime.removeExec(cid, sid) });
      execs.on('event', (e) => events.emit('container', e.action, e.id, e.attributes));
      const ctrFs = new ContainerFs(ctrs, log);
      // Endpoints of containers still running stay as they are (live restore); the others go.
      const netRec = await mgr.restore(async (id) => {
        if (id.startsWith('pool:')) return true;
        try {
          const r = lookup().inspect(id);
          return ['running', 'paused', 'restarting', 'removing'].includes(r.state.status) && r.state.pid > 0 && (await processAlive(r.state.pid));
        } catch {
          return false;
        }
      });
      log.info(netRec, 'networks restored');
      const rec = await ctrs.recover();
      log.info(rec, 'containers recovered');
      runtime.startLogRotation();
      await mounts.recover(ctrs.list({ all: true }));
      const builder = new Builder({ dataRoot, db, images, containers: ctrs, logger: log });
      await builder.recover();
      const swept = await netHook.sweepNetns();
      if (swept.length) log.info({ netns: swept }, 'stale network namespaces removed');
      if (pool) {
        pool.adopt();
        pool.fill().catch((err: unknown) => netLog.warn({ err: errorMessage(err) }, 'netns pool fill failed'));
      }
      const counts = () => {
        const all = ctrs.list({ all: true });
        const n = (s: string) => all.filter((r) => r.state.status === s).length;
        return { containers: all.length, running: n('running'), paused: n('paused'), stopped: all.length - n('running') - n('paused') };
      };
      api = new ApiServer({
        logger: log,
        serverVersion: WHARF_VERSION,
        routers: [
          new SystemRouter({
            backend: {
              counts: async () => ({ images: (await images.list()).length, ...counts() }),
              imageDiskUsage: () => images.diskUsage(),
              volumeDiskUsage: async () => {
                const out = [];
                for (const v of volumes.list()) {
                  out.push({ volume: v, size: await volumes.size(v.name).catch(() => -1), refCount: volumes.inspect(v.name).users.length });
                }
                return out;
              },
            },
            host,
            serverVersion: WHARF_VERSION,
            daemonId: daemonId(dataRoot),
            dataRoot,
            execRoot,
          }),
          new ImagesRouter(images, {
            onEvent: (action, ref) => events.emit('image', action, ref, { name: ref }),
            inUse: (id) => ctrs.imageUse(id),
            distribution: new ImageDistribution({ images, client: registryClient, logger: log }),
          }),
          new EventsRouter(events, systemClock),
          new ContainersRouter(ctrs, { sizes: (id) => ctrFs.sizes(id) }, netHook),
          new ContainerStatsRouter(ctrs),
          new ContainerUpdateRouter(ctrs),
          new VolumesRouter(volumes),
          new ExecRouter(execs, ctrs),
          new ContainerOpsRouter(ctrs),
          new BuildRouter(builder),
          new ContainerFsRouter(ctrFs, { onPrune: (reclaimed) => events.emit('container', 'prune', '', { reclaimed: String(reclaimed) }) }),
          new NetworksRouter({ networks: mgr, containers: netHook, onEvent: (action, n) => events.emit('network', action, n.id, { name: n.name, type: n.driver }) }),
        ],
      });
      for (const path of sockets) {
        await prepareSocketPath(path);
        await api.listenUnix(path);
      }
      log.info({ dataRoot, execRoot, sockets, pid: process.pid, version: WHARF_VERSION }, 'daemon ready');
      return new Daemon(log, lock, db, images, ctrs, api, sockets, registryClient, mgr, pool, netHook);
    } catch (err) {
      await registryClient.close().catch(() => undefined);
      await api?.close().catch(() => undefined);
      await pool?.drain().catch(() => undefined);
      await networks?.close().catch(() => undefined);
      containers?.close();
      db?.close();
      lock.release();
      throw err;
    }
  }

  /** Closes the listeners (removing the sockets), the database, and releases the data-root lock. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.api.close();
    await this.registryClient.close().catch(() => undefined);
    this.containers.close(); // containers keep running (live restore); recover() re-adopts them
    // Prepared namespaces nobody uses are removed; running containers' networking stays.
    await this.netHook.idle();
    await this.pool?.drain().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'netns pool drain failed'));
    await this.networks.close();
    this.db.close();
    this.lock.release();
    this.log.info('daemon stopped');
  }
}

/** A stale socket file (no one accepting) is removed; a live one belongs to someone else. */
async function prepareSocketPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((res) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
  if (live) throw new WharfError('Conflict', `socket ${path} is in use by another process; stop it or choose another -H`);
  await unlink(path);
}

/** A stable daemon ID kept in the data root (moby keeps `engine-id`). */
function daemonId(dataRoot: string): string {
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

/** Runs the daemon until SIGTERM/SIGINT, then shuts down cleanly. */
export async function runDaemon(cfg: DaemonConfig, log: Logger, onReady?: (d: Daemon) => void): Promise<void> {
  const daemon = await Daemon.start(cfg, log);
  onReady?.(daemon);
  await new Promise<void>((resolveStop) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      daemon.stop().then(resolveStop, (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'shutdown failed');
        resolveStop();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

interface DaemonFlags {
  dataRoot: string;
  execRoot: string;
  host: string[];
  logLevel: string;
  insecureRegistry: string[];
  registryCa?: string;
  configDir: string;
  bridgeName: string;
  bip: string;
  netnsPool: string;
}

function registryConfig(flags: DaemonFlags): Pick<DaemonConfig, 'insecureRegistries' | 'registryCa' | 'configDir'> {
  return { insecureRegistries: flags.insecureRegistry, configDir: flags.configDir, ...(flags.registryCa ? { registryCa: flags.registryCa } : {}) };
}

function netFlags(flags: DaemonFlags): Pick<DaemonConfig, 'bridgeName' | 'bip' | 'netnsPool'> {
  const n = Number(flags.netnsPool);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new WharfError('InvalidArgument', `invalid --netns-pool ${flags.netnsPool}: 0-64`);
  return { bridgeName: flags.bridgeName, bip: flags.bip, netnsPool: n };
}

function addDaemonFlags(cmd: Command): Command {
  return cmd
    .option('--data-root <dir>', 'root directory of persistent state', DEFAULT_DATA_ROOT)
    .option('--exec-root <dir>', 'root directory of execution state (sockets, runtime files)', DEFAULT_EXEC_ROOT)
    .option('-H, --host <address>', `API socket to listen on, repeatable (default ${DEFAULT_HOST})`, collect, [])
    .option('-l, --log-level <level>', 'log level (trace, debug, info, warn, error, fatal)', process.env.WHARF_LOG_LEVEL ?? 'info')
    .option('--insecure-registry <host>', 'registry reached over plain HTTP (loopback always is), repeatable', collect, [])
    .option('--registry-ca <file>', 'CA bundle trusted for every registry (per registry: CONFIG_DIR/certs.d/HOST:PORT/ca.crt)')
    .option('--config-dir <dir>', 'daemon configuration directory (registry CAs in certs.d/)', DEFAULT_CONFIG_DIR)
    .option('--bridge-name <name>', 'bridge of the default network (also names the nft table wharf-<name>)', DEFAULT_BRIDGE)
    .option('--bip <cidr>', 'gateway address and prefix of the default bridge network', DEFAULT_BIP)
    .option('--netns-pool <n>', 'prepared network namespaces kept warm for fast starts (0 = none)', '2');
}

/**
 * `wharf image bootstrap`: with --data-root, builds busybox:latest straight into that data root
 * (no daemon may hold it); otherwise builds it in a scratch store and loads it through the
 * daemon's API (POST /images/load), so it works while the daemon runs.
 */
async function imageBootstrap(flags: { dataRoot?: string; host?: string; busybox?: string }): Promise<void> {
  const log = createLogger({ level: process.env.WHARF_LOG_LEVEL ?? 'warn', name: 'wharf' });
  const opts = flags.busybox ? { busyboxPath: flags.busybox } : {};
  if (flags.dataRoot) {
    const dataRoot = resolve(flags.dataRoot);
    mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
    const lock = acquireDataRootLock(dataRoot);
    const db = EngineDb.open({ dataRoot });
    try {
      const r = await new ImageService({ dataRoot, db, logger: log }).bootstrapBusybox(opts);
      process.stdout.write(`${r.created ? 'Created' : 'Already present'}: busybox:latest ${r.id}\n`);
    } finally {
      db.close();
      lock.release();
    }
    return;
  }
  const scratch = mkdtempSync(join('/var/tmp', 'wharf-bootstrap-'));
  try {
    const db = EngineDb.open({ dataRoot: scratch });
    try {
      const images = new ImageService({ dataRoot: scratch, db, logger: log });
      await images.bootstrapBusybox(opts);
      const tar = await images.save(['busybox:latest']);
      await runClient({ host: flags.host }, async (docker) => {
        const res = (await docker.loadImage(tar, { quiet: true })) as NodeJS.ReadableStream;
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(Buffer.from(c as Buffer));
        for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean)) {
          const m = JSON.parse(line) as { stream?: string; error?: string };
          if (m.error) throw new WharfError('Internal', m.error);
          if (m.stream) process.stdout.write(m.stream);
        }
      });
    } finally {
      db.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export function registerDaemon(program: Command): void {
  const image = program.commands.find((c) => c.name() === 'image') ?? program.command('image');
  image
    .command('bootstrap')
    .description("create busybox:latest offline from the host's busybox-static (through the daemon, or straight into --data-root)")
    .option('-H, --host <address>', 'daemon socket (default $DOCKER_HOST or unix:///run/wharf/wharf.sock)')
    .option('--data-root <dir>', 'write into this data root directly instead (no daemon may be running on it)')
    .option('--busybox <path>', 'the static busybox binary to use', '/bin/busybox')
    .action(async (flags: { dataRoot?: string; host?: string; busybox?: string }) => imageBootstrap(flags));

  addDaemonFlags(program.command('daemon').description('run the container engine and its Docker Engine API (like dockerd)')).action(
    async (flags: DaemonFlags) => {
      const log = createLogger({ level: flags.logLevel, name: 'wharf-daemon' });
      await runDaemon({ dataRoot: flags.dataRoot, execRoot: flags.execRoot, hosts: flags.host, ...registryConfig(flags), ...netFlags(flags) }, log);
    },
  );

  addDaemonFlags(
    program.command('start').description('create busybox:latest if missing and run the daemon in the foreground with the default paths'),
  ).action(async (flags: DaemonFlags) => {
    const log = createLogger({ level: flags.logLevel, name: 'wharf-daemon' });
    await runDaemon({ dataRoot: flags.dataRoot, execRoot: flags.execRoot, hosts: flags.host, bootstrapBusybox: true, ...registryConfig(flags), ...netFlags(flags) }, log, (d) => {
      const h = `unix://${d.sockets[0]}`;
      process.stdout.write(
        `\nWharf is running (pid ${process.pid}). Point the docker CLI at it:\n\n` +
          `  docker -H ${h} images\n` +
          `  export DOCKER_HOST=${h}   # then plain "docker images", "docker load -i x.tar", ...\n\n` +
          `Stop with Ctrl-C (SIGINT) or SIGTERM.\n`,
      );
    });
  });
}
