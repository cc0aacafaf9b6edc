import { mkdir, readFile, readdir, rm, chmod } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../../../core/clock.js';
import { WharfError, isWharfError } from '../../../core/errors.js';
import type { RunOptions, RunResult } from '../../../core/exec/run.js';
import type { Logger } from '../../../core/log.js';
import { LOCAL_PATH_PROVISIONED } from '../../apis/storage-v1.js';
import { value } from '../../scheduler/quantity.js';
import { writeAtomically, type FileSpec } from './atomic-writer.js';
import { checkHostPath, type HostPathType } from './host-path.js';
import { downwardFiles, keyFiles, type NodeAllocatable } from './projections.js';

// The node agent's pod volumes. prepare() makes every volume of a pod ready on this node and
// returns, per volume name, the host directory (or file) the agent bind-mounts into the pod's
// containers; refresh() rewrites configMap/secret/downwardAPI/projected content when the
// objects change (the ..data swap: readers see the old set or the new one); cleanup() unmounts
// and removes everything of a pod; recover() does that for pods that vanished while the agent
// was down. Layout, as the kubelet's:
//   <dataRoot>/pods/<uid>/volumes/<plugin>/<name>
// with tmpfs mounted on secret volumes and `emptyDir: {medium: Memory}`.

type Obj = Record<string, any>;

/** Reads the objects volumes name; undefined when it does not exist. */
export interface VolumeObjectReader {
  get(kind: 'ConfigMap' | 'Secret' | 'PersistentVolumeClaim', namespace: string, name: string): Promise<Obj | undefined>;
  get(kind: 'PersistentVolume', namespace: undefined, name: string): Promise<Obj | undefined>;
}

export type Runner = (argv: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export interface PodVolumesOptions {
  dataRoot: string;
  nodeName: string;
  reader: VolumeObjectReader;
  run: Runner;
  clock: Clock;
  log: Logger;
  /** For limits.* in downward API files when a container sets none. */
  allocatable: NodeAllocatable;
}

export interface PreparedVolume {
  hostPath: string;
  readOnly: boolean;
}

/** Annotation on PersistentVolumes Wharf's local provisioner made: the agent creates their directory. */
export const LOCAL_PATH_ANNOTATION = LOCAL_PATH_PROVISIONED;

const PLUGIN: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

/** A volume that could not be set up: the agent reports it as a FailedMount event and retries. */
export class MountFailure extends WharfError {
  constructor(
    readonly volume: string,
    cause: unknown,
  ) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(isWharfError(cause) ? cause.kind : 'Internal', `MountVolume.SetUp failed for volume "${volume}" : ${msg}`, { cause });
    this.name = 'MountFailure';
  }
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string, mountinfo = '/proc/self/mountinfo'): Promise<string[]> {
  const text = await readFile(mountinfo, 'utf8');
  const root = resolve(dir);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === root || mp.startsWith(`${root}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

export class PodVolumes {
  constructor(private readonly o: PodVolumesOptions) {}

  podDir(uid: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(uid)) throw new WharfError('InvalidArgument', `bad pod uid ${JSON.stringify(uid)}`);
    return join(this.o.dataRoot, 'pods', uid);
  }

  private volumeDir(uid: string, source: string, name: string): string {
    return join(this.podDir(uid), 'volumes', PLUGIN[source]!, name);
  }

  /** Sets up every volume of the pod; throws a MountFailure naming the first volume that failed. */
  async prepare(pod: Obj, signal?: AbortSignal): Promise<Map<string, PreparedVolume>> {
    const uid = String(pod.metadata.uid);
    const out = new Map<string, PreparedVolume>();
    for (const v of (pod.spec?.volumes as Obj[] | undefined) ?? []) {
      signal?.throwIfAborted();
      try {
        out.set(v.name, await this.prepareOne(pod, uid, v, signal));
      } catch (err) {
        if (signal?.aborted) throw err;
        throw new MountFailure(v.name, err);
      }
    }
    return out;
  }

  /** Rewrites the content of the pod's configMap/secret/downwardAPI/projected volumes; names of those that changed. */
  async refresh(pod: Obj): Promise<string[]> {
    const changed: string[] = [];
    const uid = String(pod.metadata.uid);
    for (const v of (pod.spec?.volumes as Obj[] | undefined) ?? []) {
      const src = ['configMap', 'secret', 'downwardAPI', 'projected'].find((s) => v[s] !== undefined);
      if (!src) continue;
      const files = await this.filesOf(pod, v).catch(() => undefined); // a vanished object keeps the last content, as the kubelet does
      if (files && (await writeAtomically(this.volumeDir(uid, src, v.name), files, this.stamp()))) changed.push(v.name);
    }
    return changed;
  }

  /** Unmounts and removes everything of the pod on this node. Never follows into other mounts. */
  async cleanup(uid: string): Promise<void> {
    const dir = this.podDir(uid);
    for (const mp of await mountsUnder(dir)) {
      const r = await this.o.run(['umount', mp], { allowFailure: true, timeoutMs: 30_000 });
      if (r.code !== 0) {
        const lazy = await this.o.run(['umount', '-l', mp], { allowFailure: true, timeoutMs: 30_000 });
        if (lazy.code !== 0) throw new WharfError('Internal', `umount ${mp}: ${r.stderr.trim() || lazy.stderr.trim()}`);
      }
    }
    const left = await mountsUnder(dir);
    if (left.length > 0) throw new WharfError('Internal', `pod ${uid}: still mounted: ${left.join(', ')}`);
    await rm(dir, { recursive: true, force: true });
  }

  /** Cleans up the volumes of every pod directory whose uid is not live (pods deleted while the agent was down). */
  async recover(liveUids: Iterable<string>): Promise<string[]> {
    const live = new Set(liveUids);
    const entries = await readdir(join(this.o.dataRoot, 'pods')).catch(() => [] as string[]);
    const gone = entries.filter((u) => !live.has(u) && /^[A-Za-z0-9-]+$/.test(u));
    for (const u of gone) {
      await this.cleanup(u).catch((err: unknown) => this.o.log.warn({ err, pod: u }, 'could not clean up the volumes of a vanished pod'));
    }
    return gone;
  }

  private stamp(): string {
    return `${this.o.clock.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  }

  private async tmpfs(dir: string, opts: string[], signal?: AbortSignal): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if ((await mountsUnder(dir)).includes(resolve(dir))) return; // already mounted (prepare after a restart)
    await this.o.run(['mount', '-t', 'tmpfs', '-o', ['mode=0755', ...opts].join(','), 'tmpfs', dir], { timeoutMs: 30_000, ...(signal ? { signal } : {}) });
  }

  private async prepareOne(pod: Obj, uid: string, v: Obj, signal?: AbortSignal): Promise<PreparedVolume> {
    if (v.emptyDir) {
      const dir = this.volumeDir(uid, 'emptyDir', v.name);
      if (v.emptyDir.medium === 'Memory') {
        const size = v.emptyDir.sizeLimit !== undefined ? [`size=${value(v.emptyDir.sizeLimit)}`] : [];
        await this.tmpfs(dir, size, signal);
      } else await mkdir(dir, { recursive: true });
      await chmod(dir, 0o777); // like the kubelet: any user of the pod may write an emptyDir
      return { hostPath: dir, readOnly: false };
    }
    if (v.hostPath) {
      await checkHostPath(String(v.hostPath.path), (v.hostPath.type ?? '') as HostPathType);
      return { hostPath: String(v.hostPath.path), readOnly: false };
    }
    if (v.persistentVolumeClaim) return this.claimPath(pod, v);
    const src = ['configMap', 'secret', 'downwardAPI', 'projected'].find((s) => v[s] !== undefined);
    if (!src) throw new WharfError('Unsupported', `volume "${String(v.name)}": no volume source Wharf supports`);
    const dir = this.volumeDir(uid, src, v.name);
    const files = await this.filesOf(pod, v);
    // Secrets never touch the disk; a projected volume with a secret source neither.
    const secretish = src === 'secret' || (src === 'projected' && ((v.projected.sources as Obj[] | undefined) ?? []).some((s) => s.secret));
    if (secretish) await this.tmpfs(dir, ['size=16m'], signal);
    await writeAtomically(dir, files, this.stamp());
    return { hostPath: dir, readOnly: true };
  }

  private async filesOf(pod: Obj, v: Obj): Promise<FileSpec[]> {
    const ns = String(pod.metadata.namespace ?? 'default');
    if (v.configMap) {
      const cm = await this.o.reader.get('ConfigMap', ns, v.configMap.name);
      return keyFiles('ConfigMap', v.configMap.name, cm, v.configMap.items, v.configMap.defaultMode ?? 0o644, v.configMap.optional === true);
    }
    if (v.secret) {
      const s = await this.o.reader.get('Secret', ns, v.secret.secretName);
      return keyFiles('Secret', v.secret.secretName, s, v.secret.items, v.secret.defaultMode ?? 0o644, v.secret.optional === true);
    }
    if (v.downwardAPI) return downwardFiles(pod, v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644, this.o.allocatable);
    const mode = (v.projected.defaultMode as number | undefined) ?? 0o644;
    const files: FileSpec[] = [];
    for (const s of (v.projected.sources as Obj[] | undefined) ?? []) {
      if (s.configMap) files.push(...keyFiles('ConfigMap', s.configMap.name, await this.o.reader.get('ConfigMap', ns, s.configMap.name), s.configMap.items, mode, s.configMap.optional === true));
      else if (s.secret) files.push(...keyFiles('Secret', s.secret.name, await this.o.reader.get('Secret', ns, s.secret.name), s.secret.items, mode, s.secret.optional === true));
      else if (s.downwardAPI) files.push(...downwardFiles(pod, s.downwardAPI.items, mode, this.o.allocatable));
      else throw new WharfError('Unsupported', 'projected serviceAccountToken is not supported by Wharf yet');
    }
    return files;
  }

  private async claimPath(pod: Obj, v: Obj): Promise<PreparedVolume> {
    const ns = String(pod.metadata.namespace ?? 'default');
    const name = String(v.persistentVolumeClaim.claimName);
    const pvc = await this.o.reader.get('PersistentVolumeClaim', ns, name);
    if (!pvc) throw new WharfError('NotFound', `persistentvolumeclaim "${name}" not found`);
    if (pvc.metadata?.deletionTimestamp) throw new WharfError('Unavailable', `persistentvolumeclaim "${name}" is being deleted`);
    const pvName = pvc.spec?.volumeName as string | undefined;
    if (!pvName || pvc.status?.phase !== 'Bound') throw new WharfError('Unavailable', `persistentvolumeclaim "${name}" is not bound yet`);
    const pv = await this.o.reader.get('PersistentVolume', undefined, pvName);
    if (!pv) throw new WharfError('NotFound', `persistentvolume "${pvName}" (bound to claim "${name}") not found`);
    const nodes = pvNodeNames(pv);
    if (nodes && !nodes.includes(this.o.nodeName)) {
      throw new WharfError('InvalidArgument', `persistentvolume "${pvName}" is on node(s) ${nodes.join(', ')}, not on ${this.o.nodeName}`);
    }
    const path = String(pv.spec?.local?.path ?? pv.spec?.hostPath?.path ?? '');
    if (!path) throw new WharfError('Unsupported', `persistentvolume "${pvName}": only local and hostPath volumes can be mounted by Wharf`);
    if (pv.metadata?.annotations?.[LOCAL_PATH_ANNOTATION]) {
      await mkdir(path, { recursive: true, mode: 0o777 });
      await chmod(path, 0o777);
    } else if (pv.spec?.hostPath) await checkHostPath(path, (pv.spec.hostPath.type ?? '') as HostPathType);
    else await checkHostPath(path, 'Directory');
    return { hostPath: path, readOnly: v.persistentVolumeClaim.readOnly === true };
  }
}

/** The node names a PersistentVolume's required node affinity allows via kubernetes.io/hostname In, or undefined. */
export function pvNodeNames(pv: Obj): string[] | undefined {
  const terms = (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms as Obj[] | undefined) ?? [];
  const names: string[] = [];
  for (const t of terms) {
    for (const e of (t.matchExpressions as Obj[] | undefined) ?? []) {
      if (e.key === 'kubernetes.io/hostname' && e.operator === 'In') names.push(...((e.values as string[] | undefined) ?? []));
    }
  }
  return names.length ? names : undefined;
}
