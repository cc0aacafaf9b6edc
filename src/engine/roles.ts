import type { Readable } from 'node:stream';
import type { AttachStream } from './runtime/attach.js';
import type { ContainerCreateRequest, ContainerState, MountPoint } from './containers/types.js';
import type { ContainerUpdate, WaitCondition, WaitResult } from './containers/container-service.js';
import type { HostResources } from './containers/resources.js';
import type { TopResult } from './containers/top.js';
import type { ExecConfig, ExecRecord, ExecStartResult } from './containers/exec-service.js';
import type { LogEntry, LogReadOptions } from './containers/container-logs.js';
import type { StatsSample } from './containers/container-stats.js';
import type { ContainerChange, PruneFilters, PutArchiveOptions } from './containers/container-fs.js';
import type { PathStat } from './containers/rootfs-path.js';
import type { EngineEvent, EngineEventListener, EngineEventType } from './events/event-bus.js';
import type { CreateNetworkRequest, NetworkFilters, NetworkInspect } from './networks/network-manager.js';
import type { EndpointRecord, NetworkRecord } from './networks/types.js';
import type { VolumeFilters, VolumeInspect, VolumeRecord } from './volumes/volume-service.js';
import type { ImageService } from './images/image-service.js';
import type { ImageDistribution } from './images/distribution.js';
import type { Builder } from './build/builder.js';

// The engine's public surface: small role interfaces with engine view types (not Docker wire
// types, not the persisted records). `Engine` (engine.ts) exposes one object per role; the
// Docker API adapter, `wharf daemon`, `wharf server` and the node agent use only these.

/** A container as callers see it (the engine persists more). */
export interface ContainerView {
  id: string;
  name: string;
  /** The image reference as given at create, and the image ID it resolved to. */
  image: string;
  imageId: string;
  /** ISO time of create. */
  createdAt: string;
  /** The create request, as accepted (labels merged with the image's). */
  request: ContainerCreateRequest;
  /** The image's runtime config at create. */
  imageConfig: {
    entrypoint?: string[] | null;
    cmd?: string[] | null;
    env?: string[] | null;
    workingDir?: string;
    user?: string;
    stopSignal?: string;
    labels?: Record<string, string> | null;
    healthcheck?: ContainerCreateRequest['healthcheck'];
    exposedPorts?: string[];
  };
  state: ContainerState;
  /** The live log file (read it through ContainerLogs). */
  logPath: string;
  mounts?: MountPoint[];
}

export interface ContainerListOptions {
  /** Stopped containers too (default: running, paused, restarting only). */
  all?: boolean;
  /** Docker's label filter: every entry must match, `key` (present) or `key=value`. */
  label?: string[];
}

/** Create, run, stop and remove containers; inspect and list them. */
export interface ContainerLifecycle {
  create(req: ContainerCreateRequest): Promise<{ id: string; warnings: string[] }>;
  /** An auto-remove container whose start fails is removed. Already running: NotModified. */
  start(ref: string): Promise<void>;
  stop(ref: string, opts?: { timeoutSec?: number; signal?: string }): Promise<void>;
  restart(ref: string, opts?: { timeoutSec?: number }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts?: { force?: boolean; removeVolumes?: boolean }): Promise<void>;
  wait(ref: string, condition?: WaitCondition, signal?: AbortSignal): Promise<WaitResult>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  rename(ref: string, newName: string): void;
  update(ref: string, upd: ContainerUpdate): Promise<{ warnings: string[] }>;
  list(opts?: ContainerListOptions): ContainerView[];
  /** By ID, unique ID prefix or name; NotFound otherwise. */
  inspect(ref: string): ContainerView;
  /** The stdio of a running container. */
  attach(ref: string): Promise<AttachStream>;
  /** Running: now; created or exited: connected at its next start, before the process runs. */
  attachAtStart(ref: string, signal?: AbortSignal): Promise<AttachStream>;
  /** The TTY of a running container. */
  resize(ref: string, rows: number, cols: number): Promise<void>;
  top(ref: string, psArgs: string): Promise<TopResult>;
  /** What the host offers for resource limits. */
  hostResources(): HostResources;
  /** Whether a container uses an image (image removal): a running one first, with its ID. */
  imageUse(imageId: string): { state: 'running' | 'stopped'; container: string } | false;
}

/** Processes run in a running container (Docker's exec instances). */
export interface ContainerExec {
  /** Records the exec; nothing runs until start. */
  create(ref: string, cfg: ExecConfig): { id: string };
  inspect(id: string): ExecRecord;
  /** Attached unless `detach`: the stream is connected before the process runs (add listeners in `onAttach`). */
  start(id: string, opts?: { detach?: boolean; tty?: boolean; consoleSize?: [number, number]; onAttach?: (s: AttachStream) => void }): Promise<ExecStartResult>;
  resize(id: string, rows: number, cols: number): Promise<void>;
}

/** A container's log as a stream of entries (tail, since/until, follow). */
export interface ContainerLogs {
  read(ref: string, opts?: LogReadOptions): AsyncIterable<LogEntry>;
}

/** Resource samples of running containers. */
export interface ContainerStats {
  /** undefined when the container does not run. */
  sample(ref: string): Promise<StatsSample | undefined>;
}

/** A container's files: docker cp, export, diff, sizes, prune of stopped containers. */
export interface ContainerFiles {
  stat(ref: string, path: string): Promise<PathStat>;
  getArchive(ref: string, path: string, begin: (stat: PathStat) => NodeJS.WritableStream): Promise<void>;
  putArchive(ref: string, path: string, body: Readable, opts: PutArchiveOptions): Promise<void>;
  export(ref: string, begin: () => NodeJS.WritableStream): Promise<void>;
  changes(ref: string): Promise<ContainerChange[]>;
  sizes(id: string): Promise<{ sizeRw: number; sizeRootFs: number }>;
  prune(f: PruneFilters): Promise<{ deleted: string[]; reclaimed: number }>;
}

/** The local image store (list, inspect, tag, remove, prune, load, save, import). */
export type ImageStore = Pick<ImageService, 'list' | 'inspect' | 'history' | 'tag' | 'remove' | 'prune' | 'load' | 'save' | 'importRootfs' | 'diskUsage'>;

/** Pull from and push to registries. */
export type ImageTransfer = Pick<ImageDistribution, 'pull' | 'push' | 'login'>;

/** Dockerfile builds. */
export type ImageBuilder = Pick<Builder, 'validate' | 'build' | 'pruneCache'>;

/** Networks and containers' endpoints on them. */
export interface Networks {
  list(filters?: NetworkFilters): NetworkRecord[];
  inspect(ref: string): NetworkInspect;
  createNetwork(req: CreateNetworkRequest): Promise<NetworkRecord>;
  removeNetwork(ref: string): Promise<void>;
  prune(filters?: { label?: string[] }): Promise<string[]>;
  connect(network: string, container: string, cfg?: { ipv4?: string; aliases?: string[] }): Promise<void>;
  disconnect(network: string, container: string, opts?: { force?: boolean }): Promise<void>;
  /** A container's endpoints (address, gateway, prefix) on every network it joined. */
  endpointsOf(id: string): Array<{ network: NetworkRecord; endpoint: EndpointRecord; prefixLen: number }>;
  findNetwork(ref: string): NetworkRecord | undefined;
  /** Resolves when networking being freed in the background is gone. */
  idle(): Promise<void>;
}

/** Named and anonymous volumes. */
export interface Volumes {
  list(filters?: VolumeFilters): VolumeRecord[];
  inspect(name: string): VolumeInspect;
  create(req: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string> }): Promise<VolumeRecord>;
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  prune(opts?: { all?: boolean; label?: string[] }): Promise<{ deleted: string[]; spaceReclaimed: number }>;
  /** Bytes used (du). */
  size(name: string): Promise<number>;
}

/** The engine's event bus: replay, live subscription, and publishing for adapters that act on the engine's behalf. */
export interface EngineEvents {
  history(sinceNano: number): EngineEvent[];
  subscribe(l: EngineEventListener): () => void;
  emit(type: EngineEventType, action: string, id: string, attributes?: Record<string, string>): EngineEvent;
}

/** Counts and disk usage for /info and /system/df. */
export interface EngineSystem {
  /** Stable engine ID, kept in the data root. */
  readonly id: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  counts(): Promise<{ images: number; containers: number; running: number; paused: number; stopped: number }>;
  imageDiskUsage(): ReturnType<ImageService['diskUsage']>;
  volumeDiskUsage(): Promise<{ volume: VolumeRecord; size: number; refCount: number }[]>;
}
