import { randomUUID, randomInt } from 'node:crypto';
import { WharfError, isWharfError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Store, KeyValue } from '../../store/store.js';
import type { KubeObject, ObjectList } from '../apis/meta.js';
import { apiVersionOf, resourceByKind, type ResourceInfo } from '../apis/registry.js';
import { decodeObject, invalidObject, validateObject, validateUpdate } from '../apis/validate.js';
import { qosClass } from '../apis/defaults.js';
import { matchesFields, matchesRequirements, type FieldRequirement, type Requirement } from '../apis/selectors.js';
import { applyPatch, canonical, type PatchType } from './patch.js';
import { encodeContinue } from '../../store/keys.js';
import { ServiceIpAllocator } from './service-ips.js';
import { HIGHEST_USER_PRIORITY, SYSTEM_PRIORITY_CLASSES } from '../apis/scheduling-v1.js';

// Generic storage of API objects on the revisioned store: keys, resourceVersion (= the store's
// modRevision), create/update/patch/delete semantics of Kubernetes' generic registry, and the
// per-kind strategies (status reset on create, generation, graceful pod deletion, binding, scale).

type Obj = Record<string, any>;

export interface Selectors {
  labels: Requirement[];
  fields: FieldRequirement[];
}

export interface ListRequest extends Selectors {
  limit?: number;
  continue?: string;
}

export interface DeleteRequest {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface DeleteResult {
  /** The object: the last state if deleted now, the current state if deletion is pending. */
  object: KubeObject;
  /** True if the object is gone from the store. */
  deleted: boolean;
}

export type Subresource = 'status' | undefined;

const REGISTRY = '/registry/';

export function resourcePrefix(info: ResourceInfo, namespace?: string): string {
  const base = `${REGISTRY}${info.group || 'core'}/${info.plural}/`;
  return info.namespaced && namespace ? `${base}${namespace}/` : base;
}

export function objectKey(info: ResourceInfo, namespace: string | undefined, name: string): string {
  return `${resourcePrefix(info, info.namespaced ? namespace : undefined)}${name}`;
}

const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function notFoundErr(info: ResourceInfo, name: string): WharfError {
  return new WharfError('NotFound', `${info.plural}${info.group ? `.${info.group}` : ''} "${name}" not found`, {
    details: { name, group: info.group, kind: info.plural },
  });
}

function conflictErr(info: ResourceInfo, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): WharfError {
  return new WharfError('Conflict', `Operation cannot be fulfilled on ${info.plural}${info.group ? `.${info.group}` : ''} "${name}": ${why}`, {
    details: { name, group: info.group, kind: info.plural },
  });
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return JSON.stringify(canonical(strip(a))) === JSON.stringify(canonical(strip(b)));
}

export class ObjectStorage {
  private readonly serviceIps: ServiceIpAllocator;
  private pcCache: { at: number; items: Obj[] } | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    serviceCidr?: string,
  ) {
    this.serviceIps = new ServiceIpAllocator(store, serviceCidr);
  }

  /** Allocates the ClusterIP of a Service being created (none for ExternalName or headless `None`). */
  private async allocateClusterIp(obj: Obj): Promise<string | undefined> {
    const spec = obj.spec as Obj;
    if (spec.type === 'ExternalName' || spec.clusterIP === 'None') return undefined;
    const wanted = spec.clusterIP || (spec.clusterIPs as string[] | undefined)?.[0] || undefined;
    const ip = await this.serviceIps.allocate(`${String(obj.metadata.namespace)}/${String(obj.metadata.name)}`, wanted);
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
    return ip;
  }

  private async releaseClusterIp(info: ResourceInfo, obj: KubeObject): Promise<void> {
    const ip = info.kind === 'Service' ? ((obj as Obj).spec?.clusterIP as string | undefined) : undefined;
    if (ip && ip !== 'None') await this.serviceIps.release(ip);
  }

  /** The PriorityClasses (a short-lived cache: a pod create need not list them each time). */
  private async priorityClasses(fresh = false): Promise<Obj[]> {
    const now = this.clock.now();
    if (!fresh && this.pcCache && now - this.pcCache.at < 1000) return this.pcCache.items;
    const info = resourceByKind('scheduling.k8s.io/v1', 'PriorityClass')!;
    const items: Obj[] = [];
    let cont: string | undefined;
    do {
      const page = await this.store.list(resourcePrefix(info), cont ? { continue: cont } : {});
      for (const kv of page.items) items.push(this.decode(kv) as Obj);
      cont = page.continue;
    } while (cont);
    this.pcCache = { at: now, items };
    return items;
  }

  /**
   * The Priority admission plugin: spec.priorityClassName (or the globalDefault class) gives
   * spec.priority and spec.preemptionPolicy; an unknown class is a 400.
   */
  private async admitPodPriority(pod: Obj): Promise<void> {
    const spec = pod.spec as Obj;
    const name = spec.priorityClassName as string | undefined;
    let value = 0;
    let policy: string | undefined;
    if (name) {
      if (SYSTEM_PRIORITY_CLASSES[name] !== undefined) value = SYSTEM_PRIORITY_CLASSES[name];
      else {
        let pc = (await this.priorityClasses()).find((c) => c.metadata.name === name);
        pc ??= (await this.priorityClasses(true)).find((c) => c.metadata.name === name);
        if (!pc) {
          throw new WharfError('InvalidArgument', `pods "${String(pod.metadata.name ?? pod.metadata.generateName ?? '')}" is invalid: spec.priorityClassName: no PriorityClass with name "${name}" was found (create it first, or remove the field)`, {
            details: { field: 'spec.priorityClassName' },
          });
        }
        value = pc.value as number;
        policy = pc.preemptionPolicy as string | undefined;
      }
    } else {
      const def = (await this.priorityClasses()).filter((c) => c.globalDefault === true).sort((a, b) => (a.value as number) - (b.value as number))[0];
      if (def) {
        spec.priorityClassName = def.metadata.name;
        value = def.value as number;
        policy = def.preemptionPolicy as string | undefined;
      }
    }
    if (spec.priority !== undefined && spec.priority !== value) {
      throw new WharfError('InvalidArgument', `pods "${String(pod.metadata.name ?? '')}" is invalid: spec.priority: the integer value of priority (${String(spec.priority)}) must not be provided in pod spec; the priority admission computed ${value} from the PriorityClass name`, {
        details: { field: 'spec.priority' },
      });
    }
    spec.priority = value;
    if (policy && spec.preemptionPolicy === undefined) spec.preemptionPolicy = policy;
    spec.preemptionPolicy ??= 'PreemptLowerPriority';
  }

  /** PriorityClass rules: reserved names and values, one globalDefault. */
  private async admitPriorityClass(pc: Obj, updating?: Obj): Promise<void> {
    const name = String(pc.metadata.name);
    const causes: { reason: string; field: string; message: string }[] = [];
    if (name.startsWith('system-') && SYSTEM_PRIORITY_CLASSES[name] === undefined) {
      causes.push({ reason: 'FieldValueForbidden', field: 'metadata.name', message: 'metadata.name: Forbidden: the "system-" prefix is reserved for system priority classes' });
    }
    if (SYSTEM_PRIORITY_CLASSES[name] !== undefined) {
      causes.push({ reason: 'FieldValueForbidden', field: 'metadata.name', message: `metadata.name: Forbidden: "${name}" is a built-in priority class` });
    }
    if ((pc.value as number) > HIGHEST_USER_PRIORITY) {
      causes.push({ reason: 'FieldValueForbidden', field: 'value', message: `value: Forbidden: maximum allowed value of a user defined priority is ${HIGHEST_USER_PRIORITY}` });
    }
    if (updating && updating.value !== pc.value) causes.push({ reason: 'FieldValueForbidden', field: 'value', message: 'value: Forbidden: may not be changed in an update' });
    if (updating && updating.preemptionPolicy !== pc.preemptionPolicy) {
      causes.push({ reason: 'FieldValueForbidden', field: 'preemptionPolicy', message: 'preemptionPolicy: Forbidden: may not be changed in an update' });
    }
    if (pc.globalDefault === true) {
      const other = (await this.priorityClasses(true)).find((c) => c.globalDefault === true && c.metadata.name !== name);
      if (other) causes.push({ reason: 'FieldValueForbidden', field: 'globalDefault', message: `globalDefault: Forbidden: PriorityClass "${String(other.metadata.name)}" is already marked as the global default; only one may be` });
    }
    if (causes.length) throw invalidObject('PriorityClass', name, causes, 'scheduling.k8s.io');
    this.pcCache = undefined;
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  decode(kv: KeyValue): KubeObject {
    const o = JSON.parse(kv.value) as KubeObject;
    o.metadata.resourceVersion = String(kv.modRevision);
    return o;
  }

  private encode(o: KubeObject): string {
    const { resourceVersion: _rv, ...meta } = o.metadata;
    return JSON.stringify({ ...o, metadata: meta });
  }

  async currentRevision(): Promise<number> {
    return this.store.currentRevision();
  }

  async getKv(info: ResourceInfo, ns: string | undefined, name: string): Promise<KeyValue> {
    const kv = await this.store.get(objectKey(info, ns, name));
    if (!kv) throw notFoundErr(info, name);
    return kv;
  }

  async get(info: ResourceInfo, ns: string | undefined, name: string): Promise<KubeObject> {
    return this.decode(await this.getKv(info, ns, name));
  }

  async list(info: ResourceInfo, ns: string | undefined, req: ListRequest): Promise<ObjectList> {
    const prefix = resourcePrefix(info, ns);
    let storeContinue: string | undefined;
    let revision: number | undefined;
    if (req.continue) {
      try {
        const c = JSON.parse(Buffer.from(req.continue, 'base64url').toString('utf8')) as { r: number; c: string };
        if (typeof c.r !== 'number' || typeof c.c !== 'string') throw new Error('shape');
        revision = c.r;
        storeContinue = c.c;
      } catch {
        throw new WharfError('InvalidArgument', 'continue key is not valid: malformed token');
      }
    }
    const limit = req.limit && req.limit > 0 ? req.limit : 0;
    const filtered = req.labels.length > 0 || req.fields.length > 0;
    const items: KubeObject[] = [];
    let remaining: number | undefined;
    let next: string | undefined;
    for (;;) {
      const want = limit ? limit - items.length : 0;
      let page;
      try {
        page = await this.store.list(prefix, {
          ...(revision !== undefined ? { revision } : {}),
          ...(want ? { limit: filtered ? Math.max(want, 100) : want } : {}),
          ...(storeContinue ? { continue: storeContinue } : {}),
        });
      } catch (e) {
        if (isWharfError(e, 'Gone') && req.continue) {
          throw new WharfError('Gone', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.', { cause: e });
        }
        throw e;
      }
      revision = page.revision;
      let consumedAll = true;
      for (let i = 0; i < page.items.length; i++) {
        const kv = page.items[i]!;
        const o = this.decode(kv);
        if (matchesRequirements(req.labels, o.metadata.labels) && matchesFields(req.fields, o)) items.push(o);
        if (limit && items.length >= limit && i < page.items.length - 1) {
          // Stop mid-page: continue after this key (a store page of exactly what remains).
          consumedAll = false;
          next = encodeContinue(kv.key, revision);
          break;
        }
      }
      if (!consumedAll) break;
      storeContinue = page.continue;
      if (!storeContinue) break;
      if (limit && items.length >= limit) {
        next = storeContinue;
        if (!filtered && page.remaining !== undefined) remaining = page.remaining;
        break;
      }
    }
    const meta: ObjectList['metadata'] = { resourceVersion: String(revision) };
    if (next) meta.continue = Buffer.from(JSON.stringify({ r: revision, c: next }), 'utf8').toString('base64url');
    if (remaining !== undefined && next) meta.remainingItemCount = remaining;
    return { apiVersion: apiVersionOf(info), kind: `${info.kind}List`, metadata: meta, items };
  }

  async namespaceMustAccept(ns: string): Promise<void> {
    const nsInfo = resourceByKind('v1', 'Namespace')!;
    const kv = await this.store.get(objectKey(nsInfo, undefined, ns));
    if (!kv) throw new WharfError('NotFound', `namespaces "${ns}" not found`, { details: { name: ns, kind: 'namespaces' } });
    const o = this.decode(kv) as Obj;
    if (o.metadata.deletionTimestamp || o.status?.phase === 'Terminating') {
      throw new WharfError('Forbidden', `unable to create new content in namespace ${ns} because it is being terminated`, {
        details: { name: ns, kind: 'namespaces' },
      });
    }
  }

  /** Prepares and validates an object for create; returns it without writing. */
  private prepareCreate(info: ResourceInfo, ns: string | undefined, raw: unknown): KubeObject {
    const obj = decodeObject(info, raw) as Obj;
    const m = obj.metadata as Obj;
    if (info.namespaced) {
      if (m.namespace !== undefined && m.namespace !== ns) {
        throw new WharfError('InvalidArgument', `the namespace of the provided object (${m.namespace}) does not match the namespace sent on the request (${ns})`);
      }
      m.namespace = ns;
    } else delete m.namespace;
    if (m.resourceVersion) throw new WharfError('InvalidArgument', 'resourceVersion should not be set on objects to be created');
    if (!m.name && m.generateName) {
      let s = '';
      for (let i = 0; i < 5; i++) s += GENERATE_CHARS[randomInt(GENERATE_CHARS.length)];
      m.name = `${String(m.generateName)}${s}`;
    }
    m.uid = randomUUID();
    m.creationTimestamp = this.now();
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    delete m.managedFields;
    delete m.selfLink;
    if (info.hasSpec) m.generation = 1;
    else delete m.generation;
    // Status is the controllers' business: reset on create (Nodes register with theirs).
    switch (info.kind) {
      case 'Pod':
        obj.status = { phase: 'Pending', qosClass: qosClass(obj.spec) };
        if (obj.spec.nodeName) obj.status.conditions = [{ type: 'PodScheduled', status: 'True', lastTransitionTime: m.creationTimestamp }];
        break;
      case 'Namespace':
        obj.status = { phase: 'Active' };
        break;
      case 'Node':
      case 'Event':
      case 'Lease':
      case 'ConfigMap':
      case 'Secret':
        break;
      default:
        delete obj.status;
    }
    if (info.kind === 'Job' && !obj.spec.manualSelector) {
      // Like Kubernetes: a generated selector on the Job's uid, and the matching template labels.
      obj.spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': m.uid } };
      const tm = (obj.spec.template.metadata ??= {});
      tm.labels = { ...tm.labels, 'batch.kubernetes.io/controller-uid': m.uid, 'batch.kubernetes.io/job-name': m.name, 'controller-uid': m.uid, 'job-name': m.name };
    }
    validateObject(info, obj as KubeObject);
    return obj as KubeObject;
  }

  async create(info: ResourceInfo, ns: string | undefined, raw: unknown, opts: { dryRun?: boolean } = {}): Promise<KubeObject> {
    if (info.namespaced) await this.namespaceMustAccept(ns!);
    const generated = !(raw as Obj)?.metadata?.name && (raw as Obj)?.metadata?.generateName;
    for (let attempt = 0; ; attempt++) {
      const obj = this.prepareCreate(info, ns, structuredClone(raw));
      if (info.kind === 'Pod') await this.admitPodPriority(obj as Obj);
      if (info.kind === 'PriorityClass') await this.admitPriorityClass(obj as Obj);
      const key = objectKey(info, ns, obj.metadata.name!);
      if (opts.dryRun) {
        if (await this.store.get(key)) throw this.existsErr(info, obj.metadata.name!);
        return obj;
      }
      if (info.kind === 'Service') {
        if (await this.store.get(key)) throw this.existsErr(info, obj.metadata.name!);
        await this.allocateClusterIp(obj as Obj);
      }
      try {
        const kv = await this.store.create(key, this.encode(obj));
        obj.metadata.resourceVersion = String(kv.modRevision);
        return obj;
      } catch (e) {
        await this.releaseClusterIp(info, obj);
        if (isWharfError(e, 'AlreadyExists')) {
          if (generated && attempt < 5) continue;
          throw this.existsErr(info, obj.metadata.name!);
        }
        throw e;
      }
    }
  }

  private existsErr(info: ResourceInfo, name: string): WharfError {
    return new WharfError('AlreadyExists', `${info.plural}${info.group ? `.${info.group}` : ''} "${name}" already exists`, {
      details: { name, group: info.group, kind: info.plural },
    });
  }

  /**
   * Computes the next state from the current one for an update of the main resource or of `status`,
   * then writes it with CAS on the current modRevision.
   */
  async update(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    raw: unknown,
    opts: { subresource?: Subresource; dryRun?: boolean; currentKv?: KeyValue } = {},
  ): Promise<KubeObject> {
    const kv = opts.currentKv ?? (await this.getKv(info, ns, name));
    const cur = this.decode(kv);
    const body = decodeObject(info, raw) as Obj;
    const bm = body.metadata as Obj;
    if (bm.name !== undefined && bm.name !== name) {
      throw new WharfError('InvalidArgument', `the name of the object (${bm.name}) does not match the name on the URL (${name})`);
    }
    if (info.namespaced && bm.namespace !== undefined && bm.namespace !== ns) {
      throw new WharfError('InvalidArgument', `the namespace of the provided object (${bm.namespace}) does not match the namespace sent on the request (${ns})`);
    }
    if (bm.resourceVersion !== undefined && bm.resourceVersion !== '' && bm.resourceVersion !== cur.metadata.resourceVersion) {
      throw conflictErr(info, name);
    }
    let next: Obj;
    if (opts.subresource === 'status') {
      next = { ...structuredClone(cur), status: body.status };
      if (body.status === undefined) delete next.status;
    } else {
      next = body;
      const nm = next.metadata as Obj;
      const cm = cur.metadata as Obj;
      nm.name = name;
      if (info.namespaced) nm.namespace = ns;
      else delete nm.namespace;
      nm.uid = cm.uid;
      nm.creationTimestamp = cm.creationTimestamp;
      if (cm.deletionTimestamp) nm.deletionTimestamp = cm.deletionTimestamp;
      else delete nm.deletionTimestamp;
      if (cm.deletionGracePeriodSeconds !== undefined) nm.deletionGracePeriodSeconds = cm.deletionGracePeriodSeconds;
      else delete nm.deletionGracePeriodSeconds;
      delete nm.managedFields;
      delete nm.selfLink;
      if (cm.deletionTimestamp) {
        // Finalizers may only be removed once deletion has started.
        const added = ((nm.finalizers as string[] | undefined) ?? []).filter((f) => !((cm.finalizers as string[] | undefined) ?? []).includes(f));
        if (added.length) throw new WharfError('Forbidden', `${info.kind} "${name}" is being deleted: no new finalizers can be added (${added.join(', ')})`);
      }
      if (info.subresources.includes('status')) {
        if ((cur as Obj).status === undefined) delete next.status;
        else next.status = (cur as Obj).status;
      }
      if (info.kind === 'Pod' && (cur as Obj).spec.nodeName && !next.spec.nodeName) next.spec.nodeName = (cur as Obj).spec.nodeName;
      if (info.kind === 'Pod') {
        // Set by admission at create: an update that leaves them out keeps them.
        for (const f of ['priority', 'priorityClassName', 'preemptionPolicy']) if (next.spec[f] === undefined && (cur as Obj).spec[f] !== undefined) next.spec[f] = (cur as Obj).spec[f];
      }
      if (info.kind === 'PriorityClass') await this.admitPriorityClass(next, cur as Obj);
      if (info.kind === 'Service') {
        // spec.clusterIP is allocated by the server and immutable: an update without it keeps it.
        const c = (cur as Obj).spec ?? {};
        next.spec ??= {};
        if (next.spec.clusterIP === undefined || next.spec.clusterIP === '') {
          if (c.clusterIP !== undefined) next.spec.clusterIP = c.clusterIP;
          if (c.clusterIPs !== undefined) next.spec.clusterIPs = c.clusterIPs;
          if (next.spec.ipFamilies === undefined && c.ipFamilies !== undefined) next.spec.ipFamilies = c.ipFamilies;
          if (next.spec.ipFamilyPolicy === undefined && c.ipFamilyPolicy !== undefined) next.spec.ipFamilyPolicy = c.ipFamilyPolicy;
        } else if (next.spec.clusterIP !== c.clusterIP) {
          throw invalidObject('Service', name, [{ reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: `spec.clusterIP: Invalid value: "${String(next.spec.clusterIP)}": field is immutable` }]);
        }
      }
      if (info.kind === 'Job' && !next.spec.manualSelector && !next.spec.selector) {
        next.spec.selector = (cur as Obj).spec.selector;
        next.spec.template.metadata = { ...next.spec.template.metadata, labels: { ...(cur as Obj).spec.template.metadata?.labels, ...next.spec.template.metadata?.labels } };
      }
      if (info.hasSpec) {
        const specChanged = JSON.stringify(canonical(next.spec)) !== JSON.stringify(canonical((cur as Obj).spec));
        nm.generation = ((cm.generation as number | undefined) ?? 1) + (specChanged ? 1 : 0);
      }
      validateUpdate(info, next as KubeObject, cur);
    }
    validateObject(info, next as KubeObject);
    return this.write(info, ns, name, kv, cur, next as KubeObject, opts.dryRun);
  }

  /** Writes `next` over `cur` (CAS); removes the object when deletion is pending and no finalizer is left. */
  private async write(info: ResourceInfo, ns: string | undefined, name: string, kv: KeyValue, cur: KubeObject, next: KubeObject, dryRun?: boolean): Promise<KubeObject> {
    next.metadata.resourceVersion = cur.metadata.resourceVersion!;
    if (sameContent(next, cur)) return cur;
    if (dryRun) return next;
    const key = objectKey(info, ns, name);
    const finalizersLeft = (next.metadata.finalizers ?? []).length + (info.kind === 'Namespace' ? (((next as Obj).spec?.finalizers as string[] | undefined) ?? []).length : 0);
    const gracePending = info.kind === 'Pod' && next.metadata.deletionTimestamp && (next.metadata.deletionGracePeriodSeconds ?? 0) > 0;
    try {
      if (next.metadata.deletionTimestamp && finalizersLeft === 0 && !gracePending) {
        const tomb = await this.store.delete(key, kv.modRevision);
        next.metadata.resourceVersion = String(tomb.modRevision);
        await this.releaseClusterIp(info, cur);
        return next;
      }
      const out = await this.store.update(key, this.encode(next), kv.modRevision);
      next.metadata.resourceVersion = String(out.modRevision);
      return next;
    } catch (e) {
      if (isWharfError(e, 'Conflict')) throw conflictErr(info, name);
      if (isWharfError(e, 'NotFound')) throw notFoundErr(info, name);
      throw e;
    }
  }

  async patch(
    info: ResourceInfo,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: { subresource?: Subresource; dryRun?: boolean } = {},
  ): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.getKv(info, ns, name);
      const cur = this.decode(kv);
      const patched = applyPatch(type, structuredClone(cur), patch) as Obj;
      if (patched === null || typeof patched !== 'object' || Array.isArray(patched)) {
        throw new WharfError('InvalidArgument', 'the patch did not produce an object');
      }
      const pinned = patched.metadata?.resourceVersion !== cur.metadata.resourceVersion;
      try {
        return await this.update(info, ns, name, patched, { ...opts, currentKv: kv });
      } catch (e) {
        // A patch applies to the latest state: retry a lost race unless the patch pinned a resourceVersion.
        if (isWharfError(e, 'Conflict') && !pinned && attempt < 8) continue;
        throw e;
      }
    }
  }

  async delete(info: ResourceInfo, ns: string | undefined, name: string, req: DeleteRequest): Promise<DeleteResult> {
    for (let attempt = 0; ; attempt++) {
      const kv = await this.getKv(info, ns, name);
      const cur = this.decode(kv) as Obj;
      const cm = cur.metadata as Obj;
      if (req.preconditions?.uid && req.preconditions.uid !== cm.uid) {
        throw conflictErr(info, name, `Precondition failed: UID in precondition: ${req.preconditions.uid}, UID in object meta: ${cm.uid}`);
      }
      if (req.preconditions?.resourceVersion && req.preconditions.resourceVersion !== cm.resourceVersion) {
        throw conflictErr(info, name, `Precondition failed: ResourceVersion in precondition: ${req.preconditions.resourceVersion}, ResourceVersion in object meta: ${cm.resourceVersion}`);
      }
      const next = structuredClone(cur);
      const nm = next.metadata as Obj;
      const finalizers: string[] = [...((nm.finalizers as string[] | undefined) ?? [])];
      const addFinalizer = (f: string) => {
        if (!finalizers.includes(f)) finalizers.push(f);
      };
      if (req.propagationPolicy === 'Orphan') addFinalizer('orphan');
      if (req.propagationPolicy === 'Foreground') addFinalizer('foregroundDeletion');
      if (info.kind === 'Namespace') {
        // The namespace controller empties the namespace and removes the `kubernetes` finalizer.
        next.status = { ...next.status, phase: 'Terminating' };
      }
      let grace = 0;
      if (info.kind === 'Pod') {
        const terminal = cur.status?.phase === 'Succeeded' || cur.status?.phase === 'Failed';
        grace = req.gracePeriodSeconds ?? (cur.spec.terminationGracePeriodSeconds as number | undefined) ?? 30;
        if (!cur.spec.nodeName || terminal) grace = 0;
        if (cm.deletionGracePeriodSeconds !== undefined && grace > (cm.deletionGracePeriodSeconds as number)) grace = cm.deletionGracePeriodSeconds as number;
      }
      const pendingFinalizers = finalizers.length > 0 || (info.kind === 'Namespace' && ((next.spec?.finalizers as string[] | undefined) ?? []).length > 0);
      if (!pendingFinalizers && grace === 0) {
        if (req.dryRun) return { object: cur as KubeObject, deleted: true };
        try {
          await this.store.delete(objectKey(info, ns, name), kv.modRevision);
          await this.releaseClusterIp(info, cur as KubeObject);
        } catch (e) {
          if (isWharfError(e, 'Conflict') && attempt < 8 && !req.preconditions?.resourceVersion) continue;
          if (isWharfError(e, 'NotFound')) throw notFoundErr(info, name);
          throw e;
        }
        return { object: cur as KubeObject, deleted: true };
      }
      if (finalizers.length) nm.finalizers = finalizers;
      if (!cm.deletionTimestamp || (info.kind === 'Pod' && grace < ((cm.deletionGracePeriodSeconds as number | undefined) ?? Infinity))) {
        nm.deletionTimestamp = new Date(this.clock.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        nm.deletionGracePeriodSeconds = grace;
      }
      if (sameContent(next as KubeObject, cur as KubeObject) || req.dryRun) return { object: next as KubeObject, deleted: false };
      try {
        const out = await this.store.update(objectKey(info, ns, name), this.encode(next as KubeObject), kv.modRevision);
        nm.resourceVersion = String(out.modRevision);
        return { object: next as KubeObject, deleted: false };
      } catch (e) {
        if (isWharfError(e, 'Conflict') && attempt < 8 && !req.preconditions?.resourceVersion) continue;
        throw e;
      }
    }
  }

  /** POST pods/{name}/binding: sets spec.nodeName once. */
  async bind(ns: string, name: string, raw: unknown, dryRun = false): Promise<void> {
    const podInfo = resourceByKind('v1', 'Pod')!;
    const b = raw as Obj;
    const target = b?.target?.name;
    if (typeof target !== 'string' || !target) {
      throw new WharfError('InvalidArgument', 'Binding "" is invalid: target.name: Required value', {
        details: { reason: 'Invalid', kind: 'Binding', causes: [{ reason: 'FieldValueRequired', field: 'target.name', message: 'target.name: Required value' }] },
      });
    }
    if (b.target.kind !== undefined && b.target.kind !== 'Node' && b.target.kind !== '') {
      throw new WharfError('InvalidArgument', `Binding "${name}" is invalid: target.kind: Unsupported value: "${String(b.target.kind)}": supported values: "Node"`, { details: { reason: 'Invalid', kind: 'Binding' } });
    }
    if (b.metadata?.name !== undefined && b.metadata.name !== name) {
      throw new WharfError('InvalidArgument', `the name of the binding (${String(b.metadata.name)}) does not match the pod (${name})`);
    }
    for (let attempt = 0; ; attempt++) {
      const kv = await this.getKv(podInfo, ns, name);
      const cur = this.decode(kv) as Obj;
      if (b.metadata?.uid && b.metadata.uid !== cur.metadata.uid) throw conflictErr(podInfo, name, 'Precondition failed: UID mismatch');
      if (b.metadata?.resourceVersion && b.metadata.resourceVersion !== cur.metadata.resourceVersion) throw conflictErr(podInfo, name);
      if (cur.metadata.deletionTimestamp) throw conflictErr(podInfo, name, 'pod is being deleted, cannot be assigned to a host');
      if (cur.spec.nodeName) throw conflictErr(podInfo, name, `pod ${name} is already assigned to node "${String(cur.spec.nodeName)}"`);
      const next = structuredClone(cur);
      next.spec.nodeName = target;
      const now = this.now();
      const conds = ((next.status?.conditions as Obj[] | undefined) ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastTransitionTime: now });
      next.status = { ...next.status, conditions: conds };
      if (dryRun) return;
      try {
        await this.store.update(objectKey(podInfo, ns, name), this.encode(next as KubeObject), kv.modRevision);
        return;
      } catch (e) {
        if (isWharfError(e, 'Conflict') && attempt < 8 && !b.metadata?.resourceVersion) continue;
        throw e;
      }
    }
  }
}
