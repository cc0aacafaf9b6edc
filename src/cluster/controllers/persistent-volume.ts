import { isWharfError } from '../../core/errors.js';
import { DEFAULT_CLASS_ANNOTATION, LOCAL_PATH_FINALIZER, LOCAL_PATH_PROVISIONED, LOCAL_PATH_ROOT_ANNOTATION, LOCAL_PROVISIONER } from '../apis/storage-v1.js';
import { value } from '../scheduler/quantity.js';
import type { ResourceApi } from '../client/resource-api.js';
import { Controller, type ReconcileResult } from './controller.js';
import type { ControllerContext } from './context.js';
import { Informer } from '../client/informer.js';
import { clone, keyOf, type Obj } from './objects.js';

// The PersistentVolume controller with Wharf's built-in local provisioner (what k3s's
// local-path-provisioner and kube-controller-manager's PV binder do together):
// - a claim without storageClassName gets the default class (retroactive default class);
// - a claim binds to an Available PV of its class that is big enough and has its access modes;
// - otherwise, for class provisioner `wharf.dev/local-path`: with WaitForFirstConsumer it waits
//   until a pod using the claim is scheduled, then creates a PV on that pod's node — a directory
//   under the node's advertised local-path root, pinned by nodeAffinity — and binds both ways;
// - a PV whose claim is gone is Released; with reclaimPolicy Delete it is deleted: its
//   finalizer stays until the node's agent removed the directory (LocalPathReaper).
// Reconcile keys: `claim:<ns>/<name>` and `volume:<name>`.

export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
export const DEFAULT_STORAGE_CLASS = 'local-path';

type Any = Record<string, any>;
type Claim = Obj & { spec: Any; status?: Any };
type Volume = Obj & { spec: Any; status?: Any };
type PodLike = Obj & { spec?: Any };
type ClassLike = Obj & Any;

const str = (x: unknown) => JSON.stringify(x ?? null);

export class PersistentVolumeController {
  readonly controller: Controller;
  private readonly claimApi: ResourceApi<Claim>;
  private readonly volumeApi: ResourceApi<Volume>;
  private readonly waitingNoted = new Set<string>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly claims: Informer<Claim>,
    private readonly volumes: Informer<Volume>,
    private readonly classes: Informer<ClassLike>,
    private readonly pods: Informer<PodLike>,
    private readonly nodes: Informer<Obj>,
  ) {
    this.claimApi = claims.api;
    this.volumeApi = volumes.api;
    this.controller = new Controller({ name: 'persistentvolume-binder', clock: ctx.clock, log: ctx.log, reconcile: (k) => this.reconcile(k), ...(ctx.workers ? { workers: ctx.workers } : {}) });
    const claimKey = (c: Claim) => this.controller.enqueue(`claim:${keyOf(c)}`);
    const volKey = (v: Volume) => this.controller.enqueue(`volume:${keyOf(v)}`);
    claims.addHandlers({ onAdd: claimKey, onUpdate: (_o, c) => claimKey(c), onDelete: (c) => {
      claimKey(c);
      for (const v of this.volumes.list((x) => x.spec.claimRef?.uid === c.metadata.uid)) volKey(v);
    } });
    volumes.addHandlers({ onAdd: volKey, onUpdate: (_o, v) => volKey(v), onDelete: (v) => {
      const ref = v.spec.claimRef as Any | undefined;
      if (ref) this.controller.enqueue(`claim:${String(ref.namespace)}/${String(ref.name)}`);
    } });
    const podClaims = (p: PodLike) => {
      if (!p.spec?.nodeName) return;
      for (const v of (p.spec.volumes as Any[] | undefined) ?? []) {
        if (v.persistentVolumeClaim) this.controller.enqueue(`claim:${String(p.metadata.namespace)}/${String(v.persistentVolumeClaim.claimName)}`);
      }
    };
    pods.addHandlers({ onAdd: podClaims, onUpdate: (_o, p) => podClaims(p) });
    classes.addHandlers({ onAdd: () => this.allClaims(), onUpdate: () => this.allClaims() });
  }

  private allClaims(): void {
    for (const c of this.claims.list()) if (!c.spec.volumeName) this.controller.enqueue(`claim:${keyOf(c)}`);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const i = key.indexOf(':');
    const kind = key.slice(0, i);
    const k = key.slice(i + 1);
    if (kind === 'claim') return this.syncClaim(k);
    return this.syncVolume(k);
  }

  private defaultClass(): ClassLike | undefined {
    return this.classes.list((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true').sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))[0];
  }

  private async syncClaim(key: string): Promise<ReconcileResult | void> {
    const cached = this.claims.get(key);
    if (!cached || cached.metadata.deletionTimestamp) return;
    let c = clone(cached);
    if (c.spec.storageClassName === undefined) {
      const d = this.defaultClass();
      if (d) {
        c.spec.storageClassName = d.metadata.name;
        c = await this.claimApi.update(c);
      }
    }
    // Already bound (or half-bound by an earlier attempt)?
    const named = c.spec.volumeName ? this.volumes.get(String(c.spec.volumeName)) : this.volumes.list((v) => v.spec.claimRef?.uid === c.metadata.uid)[0];
    if (named) {
      const ref = named.spec.claimRef as Any | undefined;
      if (ref && ref.uid !== c.metadata.uid) return this.claimStatus(c, 'Lost');
      return this.bind(c, named);
    }
    if (c.spec.volumeName) return this.claimStatus(c, 'Pending'); // names a PV that does not exist (yet)
    const want = value(c.spec.resources?.requests?.storage ?? 0);
    const modes = (c.spec.accessModes as string[] | undefined) ?? [];
    const match = this.volumes
      .list((v) => !v.spec.claimRef && !v.metadata.deletionTimestamp && (v.status?.phase ?? 'Available') === 'Available' && (v.spec.storageClassName ?? '') === (c.spec.storageClassName ?? '') && value(v.spec.capacity?.storage ?? 0) >= want && modes.every((m) => ((v.spec.accessModes as string[] | undefined) ?? []).includes(m)))
      .sort((a, b) => value(a.spec.capacity?.storage ?? 0) - value(b.spec.capacity?.storage ?? 0))[0];
    if (match) return this.bind(c, match);
    const cls = c.spec.storageClassName ? this.classes.get(String(c.spec.storageClassName)) : undefined;
    if (!cls) {
      if (c.spec.storageClassName) this.noteOnce(c, 'ProvisioningFailed', `storageclass.storage.k8s.io "${String(c.spec.storageClassName)}" not found`, 'Warning');
      return this.claimStatus(c, 'Pending');
    }
    if (cls.provisioner !== LOCAL_PROVISIONER) {
      this.noteOnce(c, 'ExternalProvisioning', `Waiting for a volume to be created by the external provisioner "${String(cls.provisioner)}"; Wharf provisions only "${LOCAL_PROVISIONER}"`);
      return this.claimStatus(c, 'Pending');
    }
    let node = c.metadata.annotations?.[SELECTED_NODE_ANNOTATION];
    if (!node) {
      const consumer = this.pods.list((p) => p.metadata.namespace === c.metadata.namespace && !!p.spec?.nodeName && !p.metadata.deletionTimestamp && ((p.spec.volumes as Any[] | undefined) ?? []).some((v) => v.persistentVolumeClaim?.claimName === c.metadata.name))[0];
      node = consumer?.spec?.nodeName as string | undefined;
    }
    if (!node && cls.volumeBindingMode !== 'WaitForFirstConsumer') {
      node = this.nodes.list((n) => !!n.metadata.annotations?.[LOCAL_PATH_ROOT_ANNOTATION]).map((n) => String(n.metadata.name)).sort()[0];
    }
    if (!node) {
      this.noteOnce(c, 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
      return this.claimStatus(c, 'Pending');
    }
    const root = this.nodes.get(node)?.metadata.annotations?.[LOCAL_PATH_ROOT_ANNOTATION];
    if (!root) {
      this.noteOnce(c, 'ProvisioningFailed', `node "${node}" runs no Wharf agent that provisions local volumes (no ${LOCAL_PATH_ROOT_ANNOTATION} annotation)`, 'Warning');
      return this.claimStatus(c, 'Pending');
    }
    const name = `pvc-${String(c.metadata.uid)}`;
    const pv: Volume = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name,
        annotations: { 'pv.kubernetes.io/provisioned-by': LOCAL_PROVISIONER, [LOCAL_PATH_PROVISIONED]: 'true' },
        finalizers: [LOCAL_PATH_FINALIZER],
      },
      spec: {
        capacity: { storage: c.spec.resources?.requests?.storage },
        accessModes: modes,
        persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
        storageClassName: cls.metadata.name,
        volumeMode: 'Filesystem',
        local: { path: `${root.replace(/\/+$/, '')}/${name}_${String(c.metadata.namespace)}_${String(c.metadata.name)}` },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
      },
    };
    let made: Volume;
    try {
      made = await this.volumeApi.create(pv);
      this.ctx.events?.record(c, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${name} on node ${node}`);
    } catch (err) {
      if (!isWharfError(err, 'AlreadyExists')) throw err;
      made = await this.volumeApi.get(undefined, name);
    }
    return this.bind(c, made);
  }

  /** Both halves: PV.spec.claimRef + phase Bound, PVC.spec.volumeName + status Bound. */
  private async bind(c: Claim, v: Volume): Promise<void> {
    let pv = clone(v);
    if (!pv.spec.claimRef) {
      pv.spec.claimRef = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid };
      pv = await this.volumeApi.update(pv);
    }
    if (pv.status?.phase !== 'Bound') pv = await this.volumeApi.updateStatus({ ...pv, status: { ...(pv.status ?? {}), phase: 'Bound' } });
    let claim = c;
    if (claim.spec.volumeName !== pv.metadata.name) {
      claim = clone(claim);
      claim.spec.volumeName = pv.metadata.name;
      claim = await this.claimApi.update(claim);
      this.ctx.events?.record(c, 'Normal', 'Bound', `Bound to volume ${String(pv.metadata.name)}`);
    }
    await this.claimStatus(claim, 'Bound', pv);
  }

  private async claimStatus(c: Claim, phase: string, pv?: Volume): Promise<void> {
    const status: Any = { phase };
    if (pv) {
      status.accessModes = pv.spec.accessModes;
      status.capacity = pv.spec.capacity;
    }
    if (str(c.status) !== str(status)) await this.claimApi.updateStatus({ ...c, status });
  }

  private noteOnce(c: Claim, reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    const k = `${String(c.metadata.uid)}/${reason}`;
    if (this.waitingNoted.has(k)) return;
    this.waitingNoted.add(k);
    this.ctx.events?.record(c, type, reason, message);
  }

  private async syncVolume(name: string): Promise<void> {
    const cached = this.volumes.get(name);
    if (!cached || cached.metadata.deletionTimestamp) return;
    const ref = cached.spec.claimRef as Any | undefined;
    if (!ref) {
      if (cached.status?.phase !== 'Available') await this.volumeApi.updateStatus({ ...cached, status: { phase: 'Available' } });
      return;
    }
    const claim = this.claims.get(`${String(ref.namespace)}/${String(ref.name)}`);
    if (claim && claim.metadata.uid === ref.uid) {
      if (!claim.spec.volumeName) this.controller.enqueue(`claim:${keyOf(claim)}`);
      return;
    }
    if (!claim && ref.uid && !this.claims.hasSynced()) return;
    // Its claim is gone: Released; Delete reclaims it.
    if (cached.spec.persistentVolumeReclaimPolicy === 'Delete') {
      try {
        await this.volumeApi.delete(undefined, name, { uid: String(cached.metadata.uid) });
        this.ctx.events?.record(cached, 'Normal', 'VolumeDelete', `claim ${String(ref.namespace)}/${String(ref.name)} is gone; deleting the volume (reclaimPolicy Delete)`);
      } catch (err) {
        if (!isWharfError(err, 'NotFound') && !isWharfError(err, 'Conflict')) throw err;
      }
      return;
    }
    if (cached.status?.phase !== 'Released') await this.volumeApi.updateStatus({ ...cached, status: { phase: 'Released', message: `claim ${String(ref.namespace)}/${String(ref.name)} was deleted (reclaimPolicy ${String(cached.spec.persistentVolumeReclaimPolicy)})` } });
  }
}

/** The default StorageClass every Wharf cluster has (created by the controller manager when missing). */
export function defaultStorageClass(): Obj {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
    provisioner: LOCAL_PROVISIONER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'WaitForFirstConsumer',
  };
}
