import type { Command } from 'commander';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { WharfError, errorMessage } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import { systemClock } from '../core/clock.js';
import { EngineDb } from '../engine/db.js';
import { Engine } from '../engine/engine.js';
import { acquireDataRootLock } from '../engine/data-root-lock.js';
import { ImageService } from '../engine/images/image-service.js';
import { DEFAULT_BIP, DEFAULT_BRIDGE } from '../engine/networks/network-manager.js';
import { RegistryClient } from '../registry/client/registry-client.js';
import { ApiServer } from '../dockerapi/server.js';
import { readHostInfo } from '../dockerapi/host-info.js';
import { SystemRouter } from '../dockerapi/routers/system.js';
import { ImagesRouter } from '../dockerapi/routers/images.js';
import { EventsRouter } from '../dockerapi/routers/events.js';
import { ContainersRouter } from '../dockerapi/routers/containers.js';
import { ContainerStatsRouter } from '../dockerapi/routers/container-stats.js';
import { ContainerUpdateRouter } from '../dockerapi/routers/container-resources.js';
import { ExecRouter } from '../dockerapi/routers/exec.js';
import { ContainerOpsRouter } from '../dockerapi/routers/container-ops.js';
import { ContainerFsRouter } from '../dockerapi/routers/container-fs.js';
import { BuildRouter } from '../dockerapi/routers/build.js';
import { VolumesRouter } from '../dockerapi/routers/volumes.js';
import { NetworksRouter } from '../dockerapi/routers/networks.js';
import { runClient } from '../cli/client.js';
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

/** The registry client of an engine: dockerd's registry flags (CAs in certs.d, insecure registries). */
export function registryClientFor(cfg: Pick<DaemonConfig, 'insecureRegistries' | 'registryCa' | 'configDir'>, log: Logger): RegistryClient {
  return new RegistryClient({
    logger: log,
    insecureRegistries: cfg.insecureRegistries ?? [],
    ...(cfg.registryCa ? { caFile: resolve(cfg.registryCa) } : {}),
    certsDir: join(resolve(cfg.configDir ?? DEFAULT_CONFIG_DIR), 'certs.d'),
    userAgent: `wharf/${WHARF_VERSION}`,
  });
}

/** The Docker Engine API over an engine: one router per resource, each given the engine roles it needs. */
export async function dockerApiFor(engine: Engine, log: Logger): Promise<ApiServer> {
  const host = await readHostInfo();
  const { containers, events } = engine;
  return new ApiServer({
    logger: log,
    serverVersion: WHARF_VERSION,
    routers: [
      new SystemRouter({
        backend: engine.system,
        host,
        serverVersion: WHARF_VERSION,
        daemonId: engine.system.id,
        dataRoot: engine.system.dataRoot,
        execRoot: engine.system.execRoot,
      }),
      new ImagesRouter(engine.images, {
        onEvent: (action, ref) => events.emit('image', action, ref, { name: ref }),
        inUse: (id) => containers.imageUse(id),
        distribution: engine.distribution,
      }),
      new EventsRouter(events, systemClock),
      new ContainersRouter(containers, engine.logs, { sizes: (id) => engine.files.sizes(id) }, engine.networks),
      new ContainerStatsRouter({ inspect: (ref) => containers.inspect(ref), sample: (ref) => engine.stats.sample(ref) }),
      new ContainerUpdateRouter(containers),
      new VolumesRouter(engine.volumes),
      new ExecRouter(engine.exec, containers),
      new ContainerOpsRouter(containers),
      new BuildRouter(engine.builder),
      new ContainerFsRouter(engine.files, { onPrune: (reclaimed) => events.emit('container', 'prune', '', { reclaimed: String(reclaimed) }) }),
      new NetworksRouter({ networks: engine.networks, containers: engine.networks, onEvent: (action, n) => events.emit('network', action, n.id, { name: n.name, type: n.driver }) }),
    ],
  });
}

export class Daemon {
  private stopped = false;

  private constructor(
    private readonly log: Logger,
    readonly engine: Engine,
    private readonly api: ApiServer,
    readonly sockets: string[],
  ) {}

  /** Parse → `new Engine(config)` → start it → serve the Docker API over it on the sockets. */
  static async start(cfg: DaemonConfig, log: Logger): Promise<Daemon> {
    const hosts = cfg.hosts.length ? cfg.hosts : [DEFAULT_HOST];
    const sockets = [...new Set(hosts.map(parseHost))];
    const registry = registryClientFor(cfg, log);
    let engine: Engine;
    try {
      engine = new Engine({
        dataRoot: cfg.dataRoot,
        execRoot: cfg.execRoot,
        logger: log,
        registry,
        bridgeName: cfg.bridgeName ?? DEFAULT_BRIDGE,
        bip: cfg.bip ?? DEFAULT_BIP,
        netnsPool: cfg.netnsPool ?? 2,
        bootstrapBusybox: cfg.bootstrapBusybox === true,
      });
    } catch (e) {
      await registry.close().catch(() => undefined);
      throw e;
    }
    let api: ApiServer | undefined;
    try {
      await engine.start();
      api = await dockerApiFor(engine, log);
      for (const path of sockets) {
        await prepareSocketPath(path);
        await api.listenUnix(path);
      }
    } catch (err) {
      await api?.close().catch(() => undefined);
      await engine.stop().catch(() => undefined);
      throw err;
    }
    log.info({ dataRoot: engine.dataRoot, execRoot: engine.execRoot, sockets, pid: process.pid, version: WHARF_VERSION }, 'daemon ready');
    return new Daemon(log, engine, api, sockets);
  }

  /** Closes the listeners (removing the sockets), then the engine (containers keep running). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.api.close();
    await this.engine.stop();
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
