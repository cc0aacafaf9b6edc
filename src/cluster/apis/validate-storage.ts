import type { StatusCause } from './meta.js';
import { VOLUME_SOURCES } from './core-v1.js';
import { dnsSubdomainError } from './schema.js';

// Semantic checks of pod volumes, volume mounts, PersistentVolumes, PersistentVolumeClaims,
// StorageClasses and StatefulSets (the cross-field rules a schema cannot say), as Kubernetes
// validates them. Used by validate.ts.

type Obj = Record<string, any>;

const DOWNWARD_FIELDS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations'];
const DOWNWARD_KEYED = /^metadata\.(labels|annotations)\['[^']+'\]$/;
const RESOURCE_FIELDS = ['limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.ephemeral-storage'];

const invalid = (causes: StatusCause[], field: string, value: unknown, msg: string) =>
  causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${JSON.stringify(value)}: ${msg}` });
const required = (causes: StatusCause[], field: string, msg = '') =>
  causes.push({ reason: 'FieldValueRequired', field, message: `${field}: Required value${msg ? `: ${msg}` : ''}` });
const unsupported = (causes: StatusCause[], field: string, msg: string) =>
  causes.push({ reason: 'FieldValueNotSupported', field, message: `${field}: Unsupported value: ${msg}` });

/** A relative path without '..' elements (items[].path, subPath, downwardAPI paths). */
export function relativePathError(p: string): string | undefined {
  if (p === '') return 'must not be empty';
  if (p.startsWith('/')) return 'must be a relative path';
  if (p.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}

function checkMode(causes: StatusCause[], field: string, mode: unknown): void {
  if (mode !== undefined && (typeof mode !== 'number' || mode < 0 || mode > 0o777)) {
    invalid(causes, field, mode, 'must be a number between 0 and 0777 (octal), both inclusive');
  }
}

function checkPaths(causes: StatusCause[], field: string, items: Obj[] | undefined, seen: Set<string>): void {
  (items ?? []).forEach((it, j) => {
    const f = `${field}[${j}]`;
    if (it.key === '') required(causes, `${f}.key`);
    const e = relativePathError(String(it.path));
    if (e) invalid(causes, `${f}.path`, it.path, e);
    else if (seen.has(it.path)) causes.push({ reason: 'FieldValueDuplicate', field: `${f}.path`, message: `${f}.path: Duplicate value: ${JSON.stringify(it.path)}` });
    seen.add(it.path);
    checkMode(causes, `${f}.mode`, it.mode);
  });
}

function checkDownwardItems(causes: StatusCause[], field: string, items: Obj[] | undefined, seen: Set<string>): void {
  (items ?? []).forEach((it, j) => {
    const f = `${field}[${j}]`;
    const e = relativePathError(String(it.path));
    if (e) invalid(causes, `${f}.path`, it.path, e);
    else if (seen.has(it.path)) causes.push({ reason: 'FieldValueDuplicate', field: `${f}.path`, message: `${f}.path: Duplicate value: ${JSON.stringify(it.path)}` });
    seen.add(it.path);
    checkMode(causes, `${f}.mode`, it.mode);
    if ((it.fieldRef === undefined) === (it.resourceFieldRef === undefined)) {
      invalid(causes, f, it.path, 'must specify exactly one of fieldRef and resourceFieldRef');
    }
    const fp = it.fieldRef?.fieldPath as string | undefined;
    if (fp !== undefined && !DOWNWARD_FIELDS.includes(fp) && !DOWNWARD_KEYED.test(fp)) {
      unsupported(causes, `${f}.fieldRef.fieldPath`, `${JSON.stringify(fp)}: supported values: ${DOWNWARD_FIELDS.map((x) => `"${x}"`).join(', ')}, metadata.labels['KEY'], metadata.annotations['KEY']`);
    }
    const rf = it.resourceFieldRef as Obj | undefined;
    if (rf) {
      if (!RESOURCE_FIELDS.includes(rf.resource)) unsupported(causes, `${f}.resourceFieldRef.resource`, `${JSON.stringify(rf.resource)}: supported values: ${RESOURCE_FIELDS.map((x) => `"${x}"`).join(', ')}`);
      if (!rf.containerName) required(causes, `${f}.resourceFieldRef.containerName`, 'must be specified in a volume');
    }
  });
}

/** spec.volumes[i]: exactly one source, and each source's own rules. */
export function checkVolume(causes: StatusCause[], field: string, v: Obj): void {
  const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined);
  if (sources.length > 1) {
    causes.push({ reason: 'FieldValueForbidden', field, message: `${field}: Forbidden: may not specify more than 1 volume type` });
  }
  if (v.emptyDir?.sizeLimit !== undefined && v.emptyDir.medium !== 'Memory') {
    unsupported(causes, `${field}.emptyDir.sizeLimit`, 'Wharf enforces sizeLimit only on memory-backed emptyDirs (medium: Memory, a tmpfs of that size)');
  }
  if (v.hostPath) {
    const p = String(v.hostPath.path);
    if (!p.startsWith('/')) invalid(causes, `${field}.hostPath.path`, p, 'must be an absolute path');
    else if (p.split('/').includes('..')) invalid(causes, `${field}.hostPath.path`, p, "must not contain '..'");
  }
  if (v.configMap) {
    if (!v.configMap.name) required(causes, `${field}.configMap.name`);
    checkMode(causes, `${field}.configMap.defaultMode`, v.configMap.defaultMode);
    checkPaths(causes, `${field}.configMap.items`, v.configMap.items, new Set());
  }
  if (v.secret) {
    if (!v.secret.secretName) required(causes, `${field}.secret.secretName`);
    checkMode(causes, `${field}.secret.defaultMode`, v.secret.defaultMode);
    checkPaths(causes, `${field}.secret.items`, v.secret.items, new Set());
  }
  if (v.downwardAPI) {
    checkMode(causes, `${field}.downwardAPI.defaultMode`, v.downwardAPI.defaultMode);
    checkDownwardItems(causes, `${field}.downwardAPI.items`, v.downwardAPI.items, new Set());
  }
  if (v.projected) {
    checkMode(causes, `${field}.projected.defaultMode`, v.projected.defaultMode);
    const seen = new Set<string>();
    ((v.projected.sources as Obj[] | undefined) ?? []).forEach((src, j) => {
      const f = `${field}.projected.sources[${j}]`;
      const kinds = ['configMap', 'secret', 'downwardAPI', 'serviceAccountToken'].filter((k) => src[k] !== undefined);
      if (kinds.length !== 1) {
        causes.push({ reason: 'FieldValueForbidden', field: f, message: `${f}: Forbidden: must specify exactly one of configMap, secret, downwardAPI and serviceAccountToken` });
      }
      if (src.serviceAccountToken) {
        unsupported(causes, `${f}.serviceAccountToken`, 'Wharf does not issue service account tokens yet (projected serviceAccountToken is not supported)');
      }
      if (src.configMap) {
        if (!src.configMap.name) required(causes, `${f}.configMap.name`);
        checkPaths(causes, `${f}.configMap.items`, src.configMap.items, seen);
      }
      if (src.secret) {
        if (!src.secret.name) required(causes, `${f}.secret.name`);
        checkPaths(causes, `${f}.secret.items`, src.secret.items, seen);
      }
      if (src.downwardAPI) checkDownwardItems(causes, `${f}.downwardAPI.items`, src.downwardAPI.items, seen);
    });
  }
  if (v.persistentVolumeClaim && !v.persistentVolumeClaim.claimName) required(causes, `${field}.persistentVolumeClaim.claimName`);
}

/** containers[i].volumeMounts[j]: mountPath absolute, subPath relative; one mount per path. */
export function checkVolumeMounts(causes: StatusCause[], field: string, mounts: Obj[] | undefined): void {
  const paths = new Set<string>();
  (mounts ?? []).forEach((m, j) => {
    const f = `${field}[${j}]`;
    if (!String(m.mountPath).startsWith('/')) invalid(causes, `${f}.mountPath`, m.mountPath, 'must be an absolute path');
    if (paths.has(m.mountPath)) causes.push({ reason: 'FieldValueInvalid', field: `${f}.mountPath`, message: `${f}.mountPath: Invalid value: ${JSON.stringify(m.mountPath)}: must be unique` });
    paths.add(m.mountPath);
    if (m.subPath !== undefined && m.subPath !== '') {
      const e = relativePathError(String(m.subPath));
      if (e) invalid(causes, `${f}.subPath`, m.subPath, e);
    }
    if (m.mountPropagation !== undefined && m.mountPropagation !== 'None') {
      unsupported(causes, `${f}.mountPropagation`, `${JSON.stringify(m.mountPropagation)}: Wharf supports only "None"`);
    }
  });
}

function checkClaimSpec(causes: StatusCause[], field: string, spec: Obj | undefined): void {
  if (!spec) {
    required(causes, field);
    return;
  }
  if (!Array.isArray(spec.accessModes) || spec.accessModes.length === 0) required(causes, `${field}.accessModes`, 'at least 1 access mode is required');
  if (spec.resources?.requests?.storage === undefined) required(causes, `${field}.resources.requests[storage]`);
  if (spec.volumeMode === 'Block') unsupported(causes, `${field}.volumeMode`, '"Block": Wharf supports only "Filesystem" volumes');
  if (spec.selector !== undefined) unsupported(causes, `${field}.selector`, 'Wharf does not select PersistentVolumes by label yet (name one with spec.volumeName)');
}

/** PersistentVolume, PersistentVolumeClaim, StorageClass and StatefulSet rules. */
export function checkStorageObject(causes: StatusCause[], kind: string, o: Obj): void {
  switch (kind) {
    case 'PersistentVolume': {
      const s = (o.spec ?? {}) as Obj;
      if (s.capacity?.storage === undefined) required(causes, 'spec.capacity[storage]');
      if (!Array.isArray(s.accessModes) || s.accessModes.length === 0) required(causes, 'spec.accessModes', 'at least 1 access mode is required');
      const srcs = ['hostPath', 'local'].filter((k) => s[k] !== undefined);
      if (srcs.length === 0) required(causes, 'spec', 'must specify a volume type (hostPath or local)');
      if (srcs.length > 1) causes.push({ reason: 'FieldValueForbidden', field: 'spec', message: 'spec: Forbidden: may not specify more than 1 volume type' });
      for (const k of srcs) {
        const p = String(s[k].path);
        if (!p.startsWith('/') || p.split('/').includes('..')) invalid(causes, `spec.${k}.path`, p, "must be an absolute path without '..'");
      }
      if (s.local && !s.nodeAffinity?.required) required(causes, 'spec.nodeAffinity', 'Local volume requires node affinity');
      if (s.volumeMode === 'Block') unsupported(causes, 'spec.volumeMode', '"Block": Wharf supports only "Filesystem" volumes');
      if (s.persistentVolumeReclaimPolicy === 'Recycle') unsupported(causes, 'spec.persistentVolumeReclaimPolicy', '"Recycle" is deprecated; use "Delete" or "Retain"');
      break;
    }
    case 'PersistentVolumeClaim':
      checkClaimSpec(causes, 'spec', o.spec);
      break;
    case 'StorageClass':
      if (o.provisioner === '') required(causes, 'provisioner');
      else if (dnsSubdomainError(String(o.provisioner).replace(/\//g, '.').toLowerCase())) invalid(causes, 'provisioner', o.provisioner, 'must be a domain-prefixed path such as "example.com/my-provisioner"');
      break;
    case 'StatefulSet': {
      const s = o.spec as Obj;
      const names = new Set<string>();
      ((s.volumeClaimTemplates as Obj[] | undefined) ?? []).forEach((t, i) => {
        const f = `spec.volumeClaimTemplates[${i}]`;
        if (!t.metadata?.name) required(causes, `${f}.metadata.name`);
        names.add(t.metadata?.name);
        checkClaimSpec(causes, `${f}.spec`, t.spec);
      });
      // A claim template is mounted by name, like a volume (Kubernetes allows either, not both).
      ((s.template?.spec?.volumes as Obj[] | undefined) ?? []).forEach((v, i) => {
        if (names.has(v.name)) {
          invalid(causes, `spec.template.spec.volumes[${i}].name`, v.name, 'a volume and a volumeClaimTemplate have the same name');
        }
      });
      if ((o.metadata?.name ?? '').length > 52) invalid(causes, 'metadata.name', o.metadata.name, "must be no more than 52 characters (its pods' names add an ordinal and a revision label)");
      break;
    }
  }
}

/** What an update of these kinds may not change (Kubernetes' immutable fields). */
export function checkStorageUpdate(causes: StatusCause[], kind: string, n: Obj, p: Obj, stable: (v: unknown) => string): void {
  const forbid = (field: string, msg: string) => causes.push({ reason: 'FieldValueForbidden', field, message: `${field}: Forbidden: ${msg}` });
  switch (kind) {
    case 'PersistentVolumeClaim': {
      const strip = (s: Obj | undefined) => {
        const c = structuredClone(s ?? {});
        delete c.resources;
        if (!p.spec?.volumeName) delete c.volumeName; // binding sets it once
        if (!p.spec?.storageClassName) delete c.storageClassName; // the default class is assigned once
        return c;
      };
      if (stable(strip(n.spec)) !== stable(strip(p.spec))) forbid('spec', 'spec is immutable after creation except resources.requests for bound claims');
      break;
    }
    case 'PersistentVolume':
      for (const k of ['hostPath', 'local']) if (stable(n.spec?.[k]) !== stable(p.spec?.[k])) forbid(`spec.${k}`, 'the volume source is immutable');
      break;
    case 'StorageClass':
      for (const k of ['provisioner', 'parameters', 'reclaimPolicy', 'volumeBindingMode']) {
        if (stable(n[k]) !== stable(p[k])) forbid(k, 'updates to ' + k + ' are forbidden.');
      }
      break;
    case 'StatefulSet':
      for (const k of ['selector', 'volumeClaimTemplates', 'podManagementPolicy', 'serviceName']) {
        if (stable(n.spec?.[k]) !== stable(p.spec?.[k])) {
          forbid('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
          break;
        }
      }
      break;
  }
}
