import type { CreateOptions, SpecContext } from '../runtime/spec.js';
import type { ContainerRecord, MountPoint, StorageRequest } from './types.js';
import type { ContainerNetworkRequest } from './network-hook.js';

// The container's isolation as a list of isolators (the Mesos unified containerizer's idea):
// each owns one concern (mounts and volumes, network, cgroups and resources, seccomp and
// capabilities; later user namespaces, GPUs, disk quotas) and is called by the lifecycle at
// fixed points. The list is chosen by the composition root (engine.ts); the lifecycle code
// (container-service.ts) knows no isolator by name.

/** A container being created: what isolators check and resolve before anything is stored. */
export interface IsolatorDraft {
  id: string;
  name: string;
  /** The create options; an isolator may normalize its part (e.g. checked resources). */
  options: CreateOptions;
  storage: StorageRequest;
  network: ContainerNetworkRequest | undefined;
  /** The image's VOLUME paths. */
  imageVolumes: string[];
  /** Warnings for the caller (Docker's create Warnings). */
  warnings: string[];
  /** Resolved mounts (the mounts isolator fills them). */
  mounts?: MountPoint[];
  /** Resolves another container (--volumes-from, container:<x>); NotFound when missing. */
  lookup(ref: string): ContainerRecord;
}

/** One start of a container: what the OCI spec is built from. Isolators add their part in list order. */
export interface Launch {
  /** The create options (the network isolator adds the netns and /etc files). */
  options: CreateOptions;
  /** Spec inputs owned by isolators (mounts, cgroups path and version, host capabilities and limits). */
  spec: Omit<SpecContext, 'rootfs' | 'cgroupsPath' | 'passwd' | 'group'> & { cgroupsPath?: string };
  /** Host path of the mounted root filesystem. */
  rootfs: string;
}

/** Why a container's isolation is cleaned: its run ended (exit, failed start, lost) or it is removed. */
export type CleanupReason = { kind: 'exit' } | { kind: 'remove'; removeVolumes: boolean };

export interface Isolator {
  readonly name: string;
  /** At create, first: checks (and normalizes) the request; no side effects; throws on bad input. */
  validate?(d: IsolatorDraft): void;
  /** At create, after every validation: side effects (volumes). A later failure is undone by cleanup(remove). */
  prepare?(d: IsolatorDraft): Promise<void>;
  /** At every start, in list order, before the spec is built. A failure cleans the run (cleanup exit). */
  start?(c: ContainerRecord, launch: Launch): Promise<void>;
  /** At engine start, with every container (after the containers are recovered). */
  recover?(all: ContainerRecord[]): Promise<void>;
  /** Idempotent; called in reverse list order. */
  cleanup?(c: ContainerRecord, why: CleanupReason): Promise<void>;
}
