import { posix } from 'node:path';
import { errorMessage, invalid } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { VolumeService } from '../volumes/volume-service.js';
import { checkDuplicates, toOciMount, type MountRequest, type OciMount } from '../volumes/mount-spec.js';
import type { ContainerRecord, MountPoint, StorageRequest } from './types.js';

// The mounts-preparation step of the containers engine (Docker's registerMountPoints /
// populateVolumes / setupMounts): at create, the container's mount requests, the volumes of
// --volumes-from and the image's VOLUMEs become MountPoints (volumes created and acquired);
// at start, volumes are (re-)acquired, empty ones get the image's content, and the OCI mounts
// are returned; at removal the volumes are released (anonymous ones removed with `rm -v`).

/** What the containers engine asks of the mounts step (ContainerMounts implements it). */
export interface MountsStep {
  prepare(id: string, storage: StorageRequest, ctx: PrepareContext): Promise<MountPoint[]>;
  atStart(r: ContainerRecord, rootfs: string): Promise<OciMount[]>;
  atExit(r: ContainerRecord): void;
  atRemove(r: ContainerRecord, removeVolumes: boolean): Promise<void>;
}

export interface PrepareContext {
  /** The image's VOLUME paths (Config.Volumes keys). */
  imageVolumes: string[];
  /** Destinations of HostConfig.Tmpfs (they win over image volumes, clash with other mounts). */
  tmpfs: string[];
  /** Resolves --volumes-from references (NotFound when missing). */
  lookup: (ref: string) => ContainerRecord;
}

export type VolumeEventSink = (action: 'mount' | 'unmount', volume: string, attributes: Record<string, string>) => void;

export interface ContainerMountsOptions {
  volumes: VolumeService;
  logger: Logger;
  onEvent?: VolumeEventSink;
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

function modeText(r: MountRequest): string {
  if (r.type === 'tmpfs') return '';
  const parts: string[] = [];
  if (r.readOnly) parts.push('ro');
  if (r.type === 'bind') {
    if (r.relabel) parts.push(r.relabel);
    if (r.propagation) parts.push(r.propagation);
  } else if (r.name) {
    // Docker shows "z" for a named volume's default mode, nothing for an anonymous one.
    if (r.noCopy) parts.push('nocopy');
    if (!r.readOnly && !r.noCopy) parts.push('z');
  }
  return parts.join(',');
}

function withReadOnly(m: OciMount, readOnly: boolean): OciMount {
  return { ...m, options: m.options.map((o) => (o === 'ro' || o === 'rw' ? (readOnly ? 'ro' : 'rw') : o)) };
}

export class ContainerMounts implements MountsStep {
  private readonly log: Logger;

  constructor(private readonly o: ContainerMountsOptions) {
    this.log = o.logger.child({ component: 'mounts' });
  }

  async prepare(id: string, storage: StorageRequest, ctx: PrepareContext): Promise<MountPoint[]> {
    const own = [...(storage.mounts ?? [])];
    const tmpfs = ctx.tmpfs.map((t) => posix.normalize(t).replace(/(.)\/$/, '$1'));
    checkDuplicates([...own, ...tmpfs.map((target) => ({ type: 'tmpfs' as const, target, readOnly: false }))]);
    const taken = new Set([...own.map((m) => m.target), ...tmpfs]);

    // --volumes-from: the source containers' volumes and binds (not tmpfs), mode overridable.
    const inherited: MountPoint[] = [];
    for (const vf of storage.volumesFrom ?? []) {
      const src = ctx.lookup(vf.container);
      if (src.id === id) throw invalid('a container cannot take volumes from itself');
      for (const mp of src.mounts ?? []) {
        if (mp.type === 'tmpfs' || taken.has(mp.destination)) continue;
        taken.add(mp.destination);
        const readOnly = vf.mode ? vf.mode === 'ro' : mp.readOnly;
        inherited.push({ ...mp, readOnly, mode: vf.mode ?? mp.mode, copyUp: false, oci: withReadOnly(mp.oci, readOnly) });
      }
    }
    // The image's VOLUMEs not covered by anything else: anonymous volumes.
    for (const v of ctx.imageVolumes) {
      if (!v.startsWith('/')) continue;
      const target = posix.normalize(v).replace(/(.)\/$/, '$1');
      if (taken.has(target) || target === '/') continue;
      taken.add(target);
      own.push({ type: 'volume', name: '', target, readOnly: false, noCopy: false });
    }

    const prepared = await this.o.volumes.prepareMounts(id, own);
    const points: MountPoint[] = [];
    try {
      own.forEach((r, i) => {
        const oci = prepared.mounts[i]!;
        const name = prepared.names[i];
        points.push({
          type: r.type,
          ...(name ? { name, driver: 'local' } : {}),
          source: r.type === 'tmpfs' ? '' : oci.source,
          destination: r.target,
          readOnly: r.readOnly,
          mode: modeText(r),
          propagation: r.type === 'bind' ? (r.propagation ?? 'rprivate') : '',
          copyUp: r.type === 'volume' && !r.noCopy && !r.subpath,
          oci: r.type === 'tmpfs' ? toOciMount(r) : oci,
        });
      });
      for (const mp of inherited) {
        if (mp.type === 'volume' && mp.name) await this.o.volumes.acquire(mp.name, id);
        points.push(mp);
      }
    } catch (err) {
      await this.o.volumes.releaseAll(id, { removeAnonymous: true }).catch(() => undefined);
      throw err;
    }
    // Parents before children (Docker sorts mounts by destination depth).
    return points.sort((a, b) => depth(a.destination) - depth(b.destination));
  }

  async atStart(r: ContainerRecord, rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    for (const mp of r.mounts ?? []) {
      if (mp.type === 'volume' && mp.name) {
        await this.o.volumes.acquire(mp.name, r.id); // idempotent; mounts volumes with device options again if needed
        if (mp.copyUp) await this.o.volumes.copyUp(mp.name, rootfs, mp.destination);
        this.o.onEvent?.('mount', mp.name, {
          container: r.id,
          destination: mp.destination,
          driver: mp.driver ?? 'local',
          propagation: mp.propagation,
          'read/write': String(!mp.readOnly),
        });
      }
      out.push(mp.oci);
    }
    return out;
  }

  atExit(r: ContainerRecord): void {
    for (const mp of r.mounts ?? []) {
      if (mp.type === 'volume' && mp.name) this.o.onEvent?.('unmount', mp.name, { container: r.id, driver: mp.driver ?? 'local' });
    }
  }

  async atRemove(r: ContainerRecord, removeVolumes: boolean): Promise<void> {
    await this.o.volumes.releaseAll(r.id, { removeAnonymous: removeVolumes });
  }

  /**
   * After a daemon restart: users that no longer exist are dropped (anonymous volumes only they
   * used are removed), and every container re-acquires its volumes (re-registering itself and
   * re-mounting volumes with device options).
   */
  async recover(records: readonly ContainerRecord[]): Promise<void> {
    const ids = new Set(records.map((r) => r.id));
    // Anonymous volumes whose users are all gone (a create that crashed before its record was
    // written) belong to nobody: they go, like the rest of what belonged to vanished containers.
    const orphans = this.o.volumes
      .list({ dangling: false })
      .filter((v) => v.anonymous && this.o.volumes.inspect(v.name).users.every((u) => !ids.has(u)))
      .map((v) => v.name);
    await this.o.volumes.restore((id) => ids.has(id));
    for (const name of orphans) {
      await this.o.volumes.remove(name).catch((e: unknown) => this.log.warn({ volume: name, err: errorMessage(e) }, 'orphan anonymous volume not removed'));
    }
    for (const r of records) {
      for (const mp of r.mounts ?? []) {
        if (mp.type !== 'volume' || !mp.name) continue;
        await this.o.volumes.acquire(mp.name, r.id).catch((e: unknown) => this.log.warn({ container: r.id, volume: mp.name, err: errorMessage(e) }, 'volume not re-acquired'));
      }
    }
  }
}
