import type { z } from 'zod';
import { WharfError } from '../../core/errors.js';
import { applyDefaults } from './defaults.js';
import type { KubeObject, StatusCause, LabelSelector } from './meta.js';
import { apiVersionOf, type ResourceInfo } from './registry.js';
import { dnsLabelError, dnsSubdomainError, labelValueError, qualifiedNameError } from './schema.js';
import { matchesSelector } from './selectors.js';
import { CronSchedule } from './cron.js';
import { checkStorageObject, checkStorageUpdate, checkVolume, checkVolumeMounts } from './validate-storage.js';

// Strict decoding (schema), defaulting and semantic validation of objects sent to the API server.
// Errors are WharfError InvalidArgument with details { reason: 'Invalid', causes } (HTTP 422) or
// plain InvalidArgument (HTTP 400) for requests that are not even an object of the right kind.

type Obj = Record<string, any>;

/** Removes null values (Kubernetes treats `field: null` as unset, e.g. `creationTimestamp: null`). */
export function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null).map(stripNulls);
  if (v !== null && typeof v === 'object') {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

export function fieldPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${String(p)}` : String(p);
  }
  return s;
}

function zodCauses(err: z.ZodError): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const is of err.issues) {
    const base = fieldPath(is.path);
    if (is.code === 'unrecognized_keys') {
      for (const k of is.keys) {
        const f = base ? `${base}.${k}` : k;
        causes.push({ reason: 'FieldValueInvalid', field: f, message: `${f}: unknown field` });
      }
    } else if (is.code === 'invalid_type' && /received undefined/.test(is.message)) {
      causes.push({ reason: 'FieldValueRequired', field: base, message: `${base}: Required value` });
    } else if (is.code === 'invalid_value') {
      const vals = is.values.map((v) => JSON.stringify(v)).join(', ');
      causes.push({ reason: 'FieldValueNotSupported', field: base, message: `${base}: Unsupported value: supported values: ${vals}` });
    } else {
      causes.push({ reason: 'FieldValueInvalid', field: base, message: `${base}: Invalid value: ${is.message}` });
    }
  }
  return causes;
}

export function invalidObject(kind: string, name: string | undefined, causes: StatusCause[], group = ''): WharfError {
  const list = causes.map((c) => c.message).join(', ');
  return new WharfError('InvalidArgument', `${kind} "${name ?? ''}" is invalid: ${causes.length > 1 ? `[${list}]` : list}`, {
    details: { reason: 'Invalid', kind, name, group, causes },
  });
}

/**
 * Decodes a request body into an object of `info`'s kind: fills a missing apiVersion/kind, rejects a wrong
 * one (400), validates strictly (422), applies defaults. Does not check names (see validateObject).
 */
export function decodeObject(info: ResourceInfo, raw: unknown): KubeObject {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WharfError('InvalidArgument', `the body of the request must be a ${info.kind} object`);
  }
  const o = stripNulls(raw) as Obj;
  const av = apiVersionOf(info);
  if (o.apiVersion === undefined) o.apiVersion = av;
  if (o.kind === undefined) o.kind = info.kind;
  if (o.apiVersion !== av || o.kind !== info.kind) {
    throw new WharfError(
      'InvalidArgument',
      `the API version in the data (${String(o.apiVersion)}) and kind (${String(o.kind)}) do not match the expected ${av} ${info.kind}`,
    );
  }
  o.metadata ??= {};
  const parsed = info.schema.safeParse(o);
  const name = typeof o.metadata?.name === 'string' ? (o.metadata.name as string) : undefined;
  if (!parsed.success) throw invalidObject(info.kind, name, zodCauses(parsed.error), info.group);
  const obj = parsed.data as KubeObject;
  applyDefaults(obj);
  return obj;
}

// ---- semantic checks

function checkMetaMap(causes: StatusCause[], field: string, m: Record<string, string> | undefined, values: boolean): void {
  for (const [k, v] of Object.entries(m ?? {})) {
    const ek = qualifiedNameError(k);
    if (ek) causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: "${k}": ${ek}` });
    if (values) {
      const ev = labelValueError(v);
      if (ev) causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: "${v}": ${ev}` });
    }
  }
}

function checkName(causes: StatusCause[], field: string, v: string | undefined, rule: 'label' | 'subdomain'): void {
  if (v === undefined || v === '') {
    causes.push({ reason: 'FieldValueRequired', field, message: `${field}: Required value: name or generateName is required` });
    return;
  }
  const e = rule === 'label' ? dnsLabelError(v) : dnsSubdomainError(v);
  if (e) causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: "${v}": ${e}` });
}

function checkUnique(causes: StatusCause[], field: string, names: (string | undefined)[]): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (n === undefined) return;
    if (seen.has(n)) causes.push({ reason: 'FieldValueDuplicate', field: `${field}[${i}]`, message: `${field}[${i}].name: Duplicate value: "${n}"` });
    seen.add(n);
  });
}

function checkPodSpec(causes: StatusCause[], field: string, spec: Obj | undefined, claimTemplates: ReadonlySet<string> = new Set()): void {
  if (!spec) return;
  checkAffinity(causes, field, spec);
  const volumes = new Set<string>();
  ((spec.volumes as Obj[] | undefined) ?? []).forEach((v, i) => {
    checkName(causes, `${field}.volumes[${i}].name`, v.name, 'label');
    volumes.add(v.name);
    checkVolume(causes, `${field}.volumes[${i}]`, v);
  });
  checkUnique(causes, `${field}.volumes`, ((spec.volumes as Obj[] | undefined) ?? []).map((v) => v.name));
  const all: Obj[] = [...((spec.initContainers as Obj[] | undefined) ?? []), ...((spec.containers as Obj[] | undefined) ?? [])];
  checkUnique(causes, `${field}.containers`, all.map((c) => c.name));
  for (const list of ['initContainers', 'containers']) {
    ((spec[list] as Obj[] | undefined) ?? []).forEach((c, i) => {
      const cf = `${field}.${list}[${i}]`;
      checkName(causes, `${cf}.name`, c.name, 'label');
      if (c.image === '') causes.push({ reason: 'FieldValueRequired', field: `${cf}.image`, message: `${cf}.image: Required value` });
      checkVolumeMounts(causes, `${cf}.volumeMounts`, c.volumeMounts as Obj[] | undefined);
      ((c.volumeMounts as Obj[] | undefined) ?? []).forEach((m, j) => {
        if (!volumes.has(m.name) && !claimTemplates.has(m.name)) {
          causes.push({ reason: 'FieldValueNotFound', field: `${cf}.volumeMounts[${j}].name`, message: `${cf}.volumeMounts[${j}].name: Not found: "${m.name}"` });
        }
      });
      ((c.ports as Obj[] | undefined) ?? []).forEach((p, j) => {
        if (p.name !== undefined && (p.name.length > 15 || dnsLabelError(p.name))) {
          causes.push({ reason: 'FieldValueInvalid', field: `${cf}.ports[${j}].name`, message: `${cf}.ports[${j}].name: Invalid value: "${p.name}": must be a DNS label of at most 15 characters` });
        }
      });
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        if (e.value !== undefined && e.valueFrom !== undefined) {
          causes.push({ reason: 'FieldValueInvalid', field: `${cf}.env`, message: `${cf}.env[${e.name}]: Invalid value: may not have both value and valueFrom` });
        }
      }
    });
  }
}

interface KeyRule {
  inSet?: Set<string>;
  notIn: Set<string>;
  exists: boolean;
  absent: boolean;
  gt?: number;
  lt?: number;
}

/** Why one node selector term (with the pod's nodeSelector) can match no node, or undefined. */
function termContradiction(nodeSelector: Record<string, string>, term: Obj): string | undefined {
  const rules = new Map<string, KeyRule>();
  const rule = (k: string) => {
    let r = rules.get(k);
    if (!r) rules.set(k, (r = { notIn: new Set(), exists: false, absent: false }));
    return r;
  };
  const narrow = (r: KeyRule, vals: string[]) => {
    r.inSet = r.inSet ? new Set([...r.inSet].filter((v) => vals.includes(v))) : new Set(vals);
  };
  for (const [k, v] of Object.entries(nodeSelector)) narrow(rule(k), [v]);
  for (const e of (term.matchExpressions as Obj[] | undefined) ?? []) {
    const r = rule(e.key);
    const vals = (e.values as string[] | undefined) ?? [];
    if (e.operator === 'In') narrow(r, vals);
    else if (e.operator === 'NotIn') for (const v of vals) r.notIn.add(v);
    else if (e.operator === 'Exists') r.exists = true;
    else if (e.operator === 'DoesNotExist') r.absent = true;
    else if ((e.operator === 'Gt' || e.operator === 'Lt') && vals.length === 1 && /^-?\d+$/.test(vals[0]!)) {
      const n = Number(vals[0]);
      if (e.operator === 'Gt') r.gt = Math.max(r.gt ?? -Infinity, n);
      else r.lt = Math.min(r.lt ?? Infinity, n);
    }
  }
  for (const [k, r] of rules) {
    if (r.absent && (r.exists || r.inSet || r.gt !== undefined || r.lt !== undefined)) return `label "${k}" must both exist and not exist`;
    if (r.inSet && [...r.inSet].every((v) => r.notIn.has(v))) return `no value of label "${k}" satisfies every requirement`;
    if (r.gt !== undefined && r.lt !== undefined && r.lt - r.gt <= 1) return `label "${k}" must be greater than ${r.gt} and less than ${r.lt}`;
    if (r.inSet && (r.gt !== undefined || r.lt !== undefined)) {
      const ok = [...r.inSet].some((v) => /^-?\d+$/.test(v) && Number(v) > (r.gt ?? -Infinity) && Number(v) < (r.lt ?? Infinity) && !r.notIn.has(v));
      if (!ok) return `no value of label "${k}" satisfies every requirement`;
    }
  }
  return undefined;
}

/** Affinity that no node or no placement can ever satisfy. */
function checkAffinity(causes: StatusCause[], field: string, spec: Obj): void {
  const nodeSelector = (spec.nodeSelector as Record<string, string> | undefined) ?? {};
  const terms = (spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as Obj[] | undefined) ?? [];
  const f = `${field}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`;
  if (terms.length > 0) {
    const why = terms.map((t) => termContradiction(nodeSelector, t));
    if (why.every((w) => w !== undefined)) {
      causes.push({ reason: 'FieldValueInvalid', field: f, message: `${f}: Invalid value: contradictory node affinity (with spec.nodeSelector), no node can match: ${why.join('; ')}` });
    }
  } else {
    const w = termContradiction(nodeSelector, {});
    if (w) causes.push({ reason: 'FieldValueInvalid', field: `${field}.nodeSelector`, message: `${field}.nodeSelector: Invalid value: ${w}` });
  }
  const aff = (spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution as Obj[] | undefined) ?? [];
  const anti = (spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution as Obj[] | undefined) ?? [];
  const keyOf = (t: Obj) => stable([t.labelSelector ?? null, t.topologyKey, [...((t.namespaces as string[] | undefined) ?? [])].sort()]);
  const antiKeys = new Set(anti.map(keyOf));
  aff.forEach((t, i) => {
    if (antiKeys.has(keyOf(t))) {
      const af = `${field}.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[${i}]`;
      causes.push({ reason: 'FieldValueInvalid', field: af, message: `${af}: Invalid value: contradictory: the same term (selector and topologyKey "${String(t.topologyKey)}") is required by podAffinity and podAntiAffinity` });
    }
  });
}

function checkTemplate(causes: StatusCause[], field: string, selector: LabelSelector | undefined, tpl: Obj | undefined, restart: string[], claimTemplates?: ReadonlySet<string>): void {
  if (!tpl) return;
  checkMetaMap(causes, `${field}.metadata.labels`, tpl.metadata?.labels, true);
  if (!tpl.spec) {
    causes.push({ reason: 'FieldValueRequired', field: `${field}.spec`, message: `${field}.spec: Required value` });
    return;
  }
  checkPodSpec(causes, `${field}.spec`, tpl.spec, claimTemplates);
  if (!restart.includes(tpl.spec.restartPolicy)) {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: `${field}.spec.restartPolicy`,
      message: `${field}.spec.restartPolicy: Unsupported value: "${tpl.spec.restartPolicy}": supported values: ${restart.map((x) => `"${x}"`).join(', ')}`,
    });
  }
  if (selector && !matchesSelector(selector, tpl.metadata?.labels)) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${field}.metadata.labels`,
      message: `${field}.metadata.labels: Invalid value: ${JSON.stringify(tpl.metadata?.labels ?? {})}: \`selector\` does not match template \`labels\``,
    });
  }
}

function checkSelector(causes: StatusCause[], field: string, sel: LabelSelector | undefined): void {
  if (!sel) return;
  if (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
    causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: empty selector is invalid for deployment` });
  }
  checkMetaMap(causes, `${field}.matchLabels`, sel.matchLabels, true);
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) {
      causes.push({ reason: 'FieldValueRequired', field: `${field}.matchExpressions[${i}].values`, message: `${field}.matchExpressions[${i}].values: Required value: must be specified when operator is In or NotIn` });
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) {
      causes.push({ reason: 'FieldValueForbidden', field: `${field}.matchExpressions[${i}].values`, message: `${field}.matchExpressions[${i}].values: Forbidden: may not be specified when operator is Exists or DoesNotExist` });
    }
  });
}

/** Finds a dependency cycle among tasks; returns the cycle's task names (first repeated at the end) or undefined. */
export function findCycle(tasks: readonly { name: string; dependencies?: string[] }[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.name, t.dependencies ?? []]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    const s = state.get(n);
    if (s === 2) return undefined;
    if (s === 1) return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 1);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (!deps.has(d)) continue;
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const t of tasks) {
    const c = visit(t.name);
    if (c) return c;
  }
  return undefined;
}

function checkWorkflow(causes: StatusCause[], spec: Obj): void {
  const tasks = (spec.tasks as Obj[]) ?? [];
  const names = new Set(tasks.map((t) => t.name as string));
  checkUnique(causes, 'spec.tasks', tasks.map((t) => t.name));
  tasks.forEach((t, i) => {
    checkName(causes, `spec.tasks[${i}].name`, t.name, 'label');
    ((t.dependencies as string[]) ?? []).forEach((d, j) => {
      if (!names.has(d)) {
        causes.push({ reason: 'FieldValueNotFound', field: `spec.tasks[${i}].dependencies[${j}]`, message: `spec.tasks[${i}].dependencies[${j}]: Not found: "${d}": no task with that name` });
      } else if (d === t.name) {
        causes.push({ reason: 'FieldValueInvalid', field: `spec.tasks[${i}].dependencies[${j}]`, message: `spec.tasks[${i}].dependencies[${j}]: Invalid value: "${d}": a task cannot depend on itself` });
      }
    });
    checkTemplate(causes, `spec.tasks[${i}].template`, undefined, t.template, ['Never', 'OnFailure']);
  });
  const cycle = findCycle(tasks as { name: string; dependencies?: string[] }[]);
  if (cycle && cycle.length > 2) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.tasks', message: `spec.tasks: Invalid value: dependency cycle: ${cycle.join(' -> ')}` });
  }
  checkUnique(causes, 'spec.parameters', ((spec.parameters as Obj[] | undefined) ?? []).map((p) => p.name));
}

/** Semantic validation of a decoded, defaulted object (names, cross-field rules). */
export function validateObject(info: ResourceInfo, obj: KubeObject): void {
  const causes: StatusCause[] = [];
  const o = obj as Obj;
  const m = obj.metadata;
  checkName(causes, 'metadata.name', m.name, info.nameRule);
  checkMetaMap(causes, 'metadata.labels', m.labels, true);
  checkMetaMap(causes, 'metadata.annotations', m.annotations, false);
  const annSize = Object.entries(m.annotations ?? {}).reduce((n, [k, v]) => n + k.length + v.length, 0);
  if (annSize > 256 * 1024) causes.push({ reason: 'FieldValueTooLong', field: 'metadata.annotations', message: 'metadata.annotations: Too long: must have at most 262144 bytes' });
  switch (info.kind) {
    case 'Pod':
      checkPodSpec(causes, 'spec', o.spec);
      break;
    case 'Deployment':
      checkSelector(causes, 'spec.selector', o.spec.selector);
      checkTemplate(causes, 'spec.template', o.spec.selector, o.spec.template, ['Always']);
      break;
    case 'DaemonSet': {
      checkSelector(causes, 'spec.selector', o.spec.selector);
      checkTemplate(causes, 'spec.template', o.spec.selector, o.spec.template, ['Always']);
      const ru = o.spec.updateStrategy?.rollingUpdate as Obj | undefined;
      if (ru && ru.maxSurge !== undefined && ru.maxSurge !== 0 && ru.maxSurge !== '0' && ru.maxSurge !== '0%') {
        causes.push({ reason: 'FieldValueNotSupported', field: 'spec.updateStrategy.rollingUpdate.maxSurge', message: 'spec.updateStrategy.rollingUpdate.maxSurge: Unsupported value: Wharf does not support surge for DaemonSets yet (use 0 and maxUnavailable)' });
      }
      if (ru && (ru.maxUnavailable === 0 || ru.maxUnavailable === '0' || ru.maxUnavailable === '0%')) {
        causes.push({ reason: 'FieldValueInvalid', field: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: 'spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: may not be 0 when maxSurge is 0' });
      }
      if (ru && typeof ru.maxUnavailable === 'string' && !/^\d+%$/.test(ru.maxUnavailable)) {
        causes.push({ reason: 'FieldValueInvalid', field: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: `spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "${ru.maxUnavailable}": a number or a percentage such as "20%"` });
      }
      break;
    }
    case 'ReplicaSet':
      checkSelector(causes, 'spec.selector', o.spec.selector);
      checkTemplate(causes, 'spec.template', o.spec.selector, o.spec.template, ['Always']);
      break;
    case 'Job':
      if (o.spec.selector) checkSelector(causes, 'spec.selector', o.spec.selector);
      checkTemplate(causes, 'spec.template', o.spec.selector, o.spec.template, ['Never', 'OnFailure']);
      if (o.spec.completionMode === 'Indexed' && o.spec.completions === undefined) {
        causes.push({ reason: 'FieldValueRequired', field: 'spec.completions', message: 'spec.completions: Required value: when completion mode is Indexed' });
      }
      break;
    case 'CronJob': {
      if ((m.name ?? '').length > 52) {
        causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `metadata.name: Invalid value: "${m.name}": must be no more than 52 characters (its Jobs' names add 11)` });
      }
      try {
        CronSchedule.parse(o.spec.schedule, o.spec.timeZone);
      } catch (err) {
        const field = /time zone/.test((err as Error).message) ? 'spec.timeZone' : 'spec.schedule';
        const v = field === 'spec.timeZone' ? o.spec.timeZone : o.spec.schedule;
        causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${JSON.stringify(v)}: ${(err as Error).message}` });
      }
      const js = o.spec.jobTemplate.spec;
      if (js.selector) checkSelector(causes, 'spec.jobTemplate.spec.selector', js.selector);
      checkTemplate(causes, 'spec.jobTemplate.spec.template', js.selector, js.template, ['Never', 'OnFailure']);
      break;
    }
    case 'ConfigMap':
    case 'Secret':
      for (const k of [...Object.keys(o.data ?? {}), ...Object.keys(o.binaryData ?? {})]) {
        if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.length > 253) {
          causes.push({ reason: 'FieldValueInvalid', field: 'data', message: `data[${k}]: Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'` });
        }
      }
      if (info.kind === 'Secret') {
        for (const [k, v] of Object.entries((o.data ?? {}) as Record<string, string>)) {
          if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
            causes.push({ reason: 'FieldValueInvalid', field: `data[${k}]`, message: `data[${k}]: Invalid value: must be base64 encoded` });
          }
        }
      }
      break;
    case 'Service':
      ((o.spec?.ports as Obj[] | undefined) ?? []).forEach((p, i) => {
        if ((o.spec.ports as Obj[]).length > 1 && !p.name) {
          causes.push({ reason: 'FieldValueRequired', field: `spec.ports[${i}].name`, message: `spec.ports[${i}].name: Required value: when more than one port is given` });
        }
      });
      checkUnique(causes, 'spec.ports', ((o.spec?.ports as Obj[] | undefined) ?? []).map((p) => p.name));
      checkMetaMap(causes, 'spec.selector', o.spec?.selector, true);
      break;
    case 'Workflow':
      checkWorkflow(causes, o.spec);
      break;
    case 'StatefulSet': {
      checkSelector(causes, 'spec.selector', o.spec.selector);
      const claims = new Set(((o.spec.volumeClaimTemplates as Obj[] | undefined) ?? []).map((t) => t.metadata?.name as string));
      checkTemplate(causes, 'spec.template', o.spec.selector, o.spec.template, ['Always'], claims);
      checkStorageObject(causes, info.kind, o);
      break;
    }
    case 'PersistentVolume':
    case 'PersistentVolumeClaim':
    case 'StorageClass':
      checkStorageObject(causes, info.kind, o);
      break;
  }
  if (causes.length) throw invalidObject(info.kind, m.name, causes, info.group);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Obj)[k])]));
  return v;
}
const stable = (v: unknown) => JSON.stringify(sortKeys(v ?? null));

/** Rules on what an update may change (immutable fields). */
export function validateUpdate(info: ResourceInfo, next: KubeObject, prev: KubeObject): void {
  const causes: StatusCause[] = [];
  const n = next as Obj;
  const p = prev as Obj;
  const forbid = (field: string, msg: string) => causes.push({ reason: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${msg}: field is immutable` });
  if (['Deployment', 'ReplicaSet', 'DaemonSet', 'Job'].includes(info.kind) && stable(n.spec?.selector) !== stable(p.spec?.selector)) {
    forbid('spec.selector', stable(n.spec?.selector));
  }
  if (info.kind === 'Job' && stable(n.spec?.template) !== stable(p.spec?.template)) forbid('spec.template', 'pod template');
  if (info.kind === 'Pod') {
    // Like Kubernetes: only images, activeDeadlineSeconds and added tolerations may change.
    const strip = (s: Obj) => {
      const c = structuredClone(s);
      for (const l of ['containers', 'initContainers']) for (const x of (c[l] as Obj[] | undefined) ?? []) delete x.image;
      delete c.activeDeadlineSeconds;
      delete c.tolerations;
      return c;
    };
    if (stable(strip(n.spec)) !== stable(strip(p.spec))) {
      causes.push({ reason: 'FieldValueForbidden', field: 'spec', message: 'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)' });
    }
  }
  checkStorageUpdate(causes, info.kind, n, p, stable);
  if ((info.kind === 'ConfigMap' || info.kind === 'Secret') && p.immutable === true) {
    if (stable(n.data) !== stable(p.data) || stable(n.binaryData) !== stable(p.binaryData)) {
      causes.push({ reason: 'FieldValueForbidden', field: 'data', message: 'data: Forbidden: field is immutable when `immutable` is set' });
    }
  }
  if (causes.length) throw invalidObject(info.kind, next.metadata.name, causes, info.group);
}
