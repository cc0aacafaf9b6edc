import { posix } from 'node:path';
import { z } from 'zod';
import { invalid } from '../../core/errors.js';
import type { ContainerRecord, StorageRequest } from '../../engine/containers/types.js';
import { checkVolumeName, parseVolumeFlag, parseVolumesFrom, type MountRequest, type Propagation } from '../../engine/volumes/mount-spec.js';

// Docker's storage fields of a container create (HostConfig.Binds, HostConfig.Mounts,
// Config.Volumes, HostConfig.VolumesFrom, HostConfig.Tmpfs) → the engine's StorageRequest, and
// the engine's mount points → inspect's `Mounts`. Validation is the engine's parsers'
// (InvalidArgument → 400); nothing here touches the host.

export const ApiMount = z
  .object({
    Type: z.string().nullish(),
    Source: z.string().nullish(),
    Target: z.string().nullish(),
    ReadOnly: z.boolean().nullish(),
    Consistency: z.string().nullish(),
    BindOptions: z
      .object({
        Propagation: z.string().nullish(),
        NonRecursive: z.boolean().nullish(),
        CreateMountpoint: z.boolean().nullish(),
        ReadOnlyNonRecursive: z.boolean().nullish(),
        ReadOnlyForceRecursive: z.boolean().nullish(),
      })
      .nullish(),
    VolumeOptions: z
      .object({
        NoCopy: z.boolean().nullish(),
        Labels: z.record(z.string(), z.string()).nullish(),
        Subpath: z.string().nullish(),
        DriverConfig: z.object({ Name: z.string().nullish(), Options: z.record(z.string(), z.string()).nullish() }).nullish(),
      })
      .nullish(),
    TmpfsOptions: z.object({ SizeBytes: z.number().int().nullish(), Mode: z.number().int().nullish(), Options: z.array(z.array(z.string())).nullish() }).nullish(),
  })
  .passthrough();
export type ApiMount = z.infer<typeof ApiMount>;

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

function target(t: string | null | undefined, what: string): string {
  if (!t) throw invalid(`invalid mount config for type "${what}": field Target must not be empty`);
  if (!t.startsWith('/')) throw invalid(`invalid mount config for type "${what}": invalid mount path: '${t}' mount path must be absolute`);
  const n = posix.normalize(t).replace(/(.)\/$/, '$1');
  if (n === '/') throw invalid(`invalid mount config for type "${what}": invalid specification: destination can't be '/'`);
  return n;
}

/** One entry of HostConfig.Mounts (moby's mount.Mount) → a mount request. */
export function mountFromApi(m: ApiMount): MountRequest {
  const type = m.Type ?? '';
  const readOnly = m.ReadOnly === true;
  if (type === 'bind') {
    const t = target(m.Target, type);
    if (m.VolumeOptions) throw invalid('invalid mount config for type "bind": field VolumeOptions must not be specified');
    if (m.TmpfsOptions) throw invalid('invalid mount config for type "bind": field TmpfsOptions must not be specified');
    const src = m.Source ?? '';
    if (!src) throw invalid('invalid mount config for type "bind": field Source must not be empty');
    if (!src.startsWith('/')) throw invalid(`invalid mount config for type "bind": invalid mount path: '${src}' mount path must be absolute`);
    const p = m.BindOptions?.Propagation ?? '';
    if (p && !PROPAGATIONS.includes(p)) throw invalid(`invalid mount config for type "bind": invalid propagation mode: ${p}`);
    return {
      type: 'bind',
      source: posix.normalize(src).replace(/(.)\/$/, '$1'),
      target: t,
      readOnly,
      createSource: m.BindOptions?.CreateMountpoint === true,
      ...(p ? { propagation: p as Propagation } : {}),
      ...(m.BindOptions?.NonRecursive ? { nonRecursive: true } : {}),
    };
  }
  if (type === 'volume') {
    const t = target(m.Target, type);
    if (m.BindOptions) throw invalid('invalid mount config for type "volume": field BindOptions must not be specified');
    if (m.TmpfsOptions) throw invalid('invalid mount config for type "volume": field TmpfsOptions must not be specified');
    const name = m.Source ?? '';
    if (name) checkVolumeName(name);
    const vo = m.VolumeOptions ?? {};
    const sub = vo.Subpath ?? '';
    if (sub && (sub.startsWith('/') || sub.split('/').includes('..'))) throw invalid(`invalid mount config for type "volume": invalid subpath ${JSON.stringify(sub)}`);
    const driver = vo.DriverConfig?.Name ?? '';
    const opts = vo.DriverConfig?.Options ?? {};
    return {
      type: 'volume',
      name,
      target: t,
      readOnly,
      noCopy: vo.NoCopy === true,
      ...(sub ? { subpath: sub } : {}),
      ...(vo.Labels && Object.keys(vo.Labels).length ? { labels: vo.Labels } : {}),
      ...(driver ? { driver } : {}),
      ...(Object.keys(opts).length ? { driverOptions: opts } : {}),
    };
  }
  if (type === 'tmpfs') {
    const t = target(m.Target, type);
    if (m.Source) throw invalid('invalid mount config for type "tmpfs": field Source must not be specified');
    if (m.BindOptions || m.VolumeOptions) throw invalid('invalid mount config for type "tmpfs": only TmpfsOptions apply');
    const to = m.TmpfsOptions ?? {};
    if (to.SizeBytes != null && to.SizeBytes < 0) throw invalid(`invalid mount config for type "tmpfs": invalid size ${to.SizeBytes}`);
    if (to.Mode != null && (to.Mode < 0 || to.Mode > 0o7777)) throw invalid(`invalid mount config for type "tmpfs": invalid mode ${to.Mode}`);
    if (to.Options?.length) throw invalid('invalid mount config for type "tmpfs": TmpfsOptions.Options is not supported');
    return { type: 'tmpfs', target: t, readOnly, ...(to.SizeBytes ? { sizeBytes: to.SizeBytes } : {}), ...(to.Mode ? { mode: to.Mode } : {}) };
  }
  if (type === '') throw invalid('invalid mount config: field Type must not be empty');
  throw invalid(`invalid mount config: mount type unknown: ${JSON.stringify(type)} (bind, volume or tmpfs)`);
}

export interface StorageFields {
  Binds?: string[] | null;
  Mounts?: ApiMount[] | null;
  VolumesFrom?: string[] | null;
  Tmpfs?: Record<string, string> | null;
  /** Config.Volumes. */
  Volumes?: Record<string, unknown> | null;
}

/** The create body's storage fields → the engine's request and the tmpfs map (CreateOptions.tmpfs). */
export function storageFromApi(f: StorageFields): { storage?: StorageRequest; tmpfs?: Record<string, string> } {
  const mounts: MountRequest[] = [];
  for (const b of f.Binds ?? []) {
    try {
      mounts.push(parseVolumeFlag(b));
    } catch (e) {
      throw invalid(`invalid volume specification: '${b}': ${(e as Error).message}`);
    }
  }
  for (const m of f.Mounts ?? []) mounts.push(mountFromApi(m));
  // Config.Volumes: `-v /path` → anonymous volumes, unless a bind or mount already covers the path.
  const covered = new Set(mounts.map((m) => m.target));
  for (const path of Object.keys(f.Volumes ?? {})) {
    if (!path.startsWith('/')) throw invalid(`invalid volume specification: '${path}': mount path must be absolute`);
    const r = parseVolumeFlag(path);
    if (!covered.has(r.target)) mounts.push(r);
    covered.add(r.target);
  }
  const volumesFrom = (f.VolumesFrom ?? []).map(parseVolumesFrom);
  const out: { storage?: StorageRequest; tmpfs?: Record<string, string> } = {};
  if (mounts.length || volumesFrom.length) out.storage = { ...(mounts.length ? { mounts } : {}), ...(volumesFrom.length ? { volumesFrom } : {}) };
  const tmpfs = f.Tmpfs ?? {};
  if (Object.keys(tmpfs).length) {
    for (const k of Object.keys(tmpfs)) if (!k.startsWith('/')) throw invalid(`invalid tmpfs destination ${JSON.stringify(k)}: mount path must be absolute`);
    out.tmpfs = { ...tmpfs };
  }
  return out;
}

/** Inspect's and list's `Mounts` (moby's types.MountPoint). */
export function mountPointsJson(r: ContainerRecord): Record<string, unknown>[] {
  return (r.mounts ?? []).map((m) => ({
    Type: m.type,
    ...(m.name ? { Name: m.name } : {}),
    Source: m.source,
    Destination: m.destination,
    ...(m.driver ? { Driver: m.driver } : {}),
    Mode: m.mode,
    RW: !m.readOnly,
    Propagation: m.propagation,
  }));
}
