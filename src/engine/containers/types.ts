import type { CreateOptions } from '../runtime/spec.js';
import type { MountRequest, OciMount, VolumesFromRequest } from '../volumes/mount-spec.js';
import type { ContainerNetworkRequest } from './network-hook.js';

// Domain types of containers (not Docker wire types: the Docker API adapter converts).

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface RestartPolicy {
  name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount?: number;
}

/** What a caller asks for at create, in engine terms. */
export interface ContainerCreateRequest {
  name?: string;
  /** Image reference or ID. */
  image: string;
  /** Everything the OCI spec is built from (see runtime/spec.ts). */
  options: CreateOptions;
  labels?: Record<string, string>;
  /** Keep stdin open for attach (`-i`). */
  openStdin?: boolean;
  /** Seconds between the stop signal and SIGKILL (default 10). */
  stopTimeout?: number;
  restartPolicy?: RestartPolicy;
  autoRemove?: boolean;
  /** Overrides the image's HEALTHCHECK (Docker's shape: test ['CMD', …] | ['CMD-SHELL', cmd] | ['NONE'], durations in ns). */
  healthcheck?: HealthConfig;
  /** Log rotation (`--log-opt max-size/max-file`); default 10 MB × 3. */
  log?: LogOptions;
  /** Binds, --mount, anonymous volumes (`-v /path`, Config.Volumes) and --volumes-from. */
  storage?: StorageRequest;
  /** Network mode, endpoints, published ports, DNS and /etc/hosts settings (absent: the default bridge). */
  network?: ContainerNetworkRequest;
}

export interface LogOptions {
  /** Rotate when the live file reaches this many bytes. */
  maxSize?: number;
  /** Files kept, the live one included (≥ 1). */
  maxFiles?: number;
}

export interface StorageRequest {
  mounts?: MountRequest[];
  volumesFrom?: VolumesFromRequest[];
}

/** A container's resolved mount (Docker's MountPoint): made at create, mounted at every start. */
export interface MountPoint {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Volume name (type volume). */
  name?: string;
  driver?: string;
  /** Host path ('' for tmpfs). */
  source: string;
  destination: string;
  readOnly: boolean;
  /** Docker's Mode text ("ro", "z", "" …). */
  mode: string;
  /** Bind propagation ('' for volumes and tmpfs, as Docker shows it). */
  propagation: string;
  /** Copy the image's content at the destination into the volume when it is empty (not nocopy). */
  copyUp: boolean;
  /** The OCI mount entry. */
  oci: OciMount;
}

export interface HealthConfig {
  test?: string[];
  intervalNs?: number;
  timeoutNs?: number;
  retries?: number;
  startPeriodNs?: number;
}

export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  log: { start: string; end: string; exitCode: number; output: string }[];
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  startedAt: string; // ISO, '' if never
  finishedAt: string; // ISO, '' if never
  restartCount: number;
  health?: HealthState;
}

export interface ContainerRecord {
  id: string;
  name: string;
  /** The reference as given at create. */
  image: string;
  imageId: string;
  createdAt: string;
  request: ContainerCreateRequest;
  /** The image's runtime config at create (entrypoint, cmd, env, workdir, user, stop signal, labels). */
  imageConfig: {
    entrypoint?: string[] | null;
    cmd?: string[] | null;
    env?: string[] | null;
    workingDir?: string;
    user?: string;
    stopSignal?: string;
    labels?: Record<string, string> | null;
    healthcheck?: HealthConfig;
    /** The image's EXPOSE ports ("80/tcp"), for `-P`. */
    exposedPorts?: string[];
  };
  state: ContainerState;
  logPath: string;
  /** Resolved at create (volumes created and acquired); absent for containers without mounts. */
  mounts?: MountPoint[];
}

export type ContainerAction =
  | 'create' | 'start' | 'update' | 'die' | 'stop' | 'kill' | 'oom' | 'destroy' | 'rename' | 'pause' | 'unpause' | 'restart'
  | 'health_status: healthy' | 'health_status: unhealthy';

export interface ContainerEvent {
  type: 'container';
  action: ContainerAction;
  id: string;
  attributes: Record<string, string>;
  /** Unix nanoseconds. */
  timeNano: number;
}
