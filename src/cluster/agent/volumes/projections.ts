import { WharfError } from '../../../core/errors.js';
import { milliValue, value } from '../../scheduler/quantity.js';
import type { FileSpec } from './atomic-writer.js';

// Pure: the files of configMap, secret, downwardAPI and projected volumes from the objects they
// name (Kubernetes' rules for items, modes and optional sources, and the downward API's formats).

type Obj = Record<string, any>;

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

/** A ConfigMap's or Secret's data as bytes (Secret data is base64; ConfigMap binaryData too). */
export function dataOf(kind: 'ConfigMap' | 'Secret', obj: Obj): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  if (kind === 'Secret') {
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) m.set(k, Buffer.from(v, 'base64'));
  } else {
    for (const [k, v] of Object.entries((obj.data ?? {}) as Record<string, string>)) m.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries((obj.binaryData ?? {}) as Record<string, string>)) m.set(k, Buffer.from(v, 'base64'));
  }
  return m;
}

/**
 * Files for one ConfigMap/Secret source. `obj` undefined means it does not exist: no files when
 * optional, else a NotFound naming it. An item naming a missing key is an error unless optional.
 */
export function keyFiles(kind: 'ConfigMap' | 'Secret', name: string, obj: Obj | undefined, items: readonly KeyToPath[] | undefined, mode: number, optional: boolean): FileSpec[] {
  const what = kind === 'Secret' ? 'secret' : 'configmap';
  if (!obj) {
    if (optional) return [];
    throw new WharfError('NotFound', `${what} "${name}" not found`);
  }
  const data = dataOf(kind, obj);
  if (!items || items.length === 0) return [...data].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => ({ path: k, content: v, mode }));
  const out: FileSpec[] = [];
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new WharfError('NotFound', `${what} "${name}": configured to use key "${it.key}", which is not in it`);
    }
    out.push({ path: it.path, content: v, mode: it.mode ?? mode });
  }
  return out;
}

/** `key="value"` lines, sorted by key, values quoted like Go's %q (the downward API's format). */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/** The value of a downward API fieldRef for a pod. */
export function fieldValue(pod: Obj, fieldPath: string): string {
  const md = (pod.metadata ?? {}) as Obj;
  const keyed = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (keyed) return String(((md[keyed[1]!] ?? {}) as Record<string, string>)[keyed[2]!] ?? '');
  switch (fieldPath) {
    case 'metadata.name':
      return String(md.name ?? '');
    case 'metadata.namespace':
      return String(md.namespace ?? 'default');
    case 'metadata.uid':
      return String(md.uid ?? '');
    case 'metadata.labels':
      return formatMap(md.labels);
    case 'metadata.annotations':
      return formatMap(md.annotations);
    default:
      throw new WharfError('Unsupported', `downward API field "${fieldPath}" is not supported in volumes`);
  }
}

/** Node allocatable amounts used when a container sets no limit (as the kubelet does). */
export interface NodeAllocatable {
  cpu: string | number;
  memory: string | number;
  'ephemeral-storage': string | number;
}

/** The value of a resourceFieldRef (limits.* falls back to the node's allocatable; requests.* to 0). */
export function resourceValue(pod: Obj, ref: { containerName?: string; resource: string; divisor?: string | number }, node: NodeAllocatable): string {
  const containers = [...((pod.spec?.containers as Obj[] | undefined) ?? []), ...((pod.spec?.initContainers as Obj[] | undefined) ?? [])];
  const c = containers.find((x) => x.name === ref.containerName);
  if (!c) throw new WharfError('InvalidArgument', `resourceFieldRef: no container "${String(ref.containerName)}" in the pod`);
  const [kind, res] = ref.resource.split('.') as ['limits' | 'requests', 'cpu' | 'memory' | 'ephemeral-storage'];
  let q: string | number | undefined = c.resources?.[kind]?.[res];
  if (q === undefined) q = kind === 'limits' ? node[res] : 0;
  if (res === 'cpu') {
    const div = milliValue(ref.divisor ?? 1);
    return String(Math.ceil(milliValue(q) / (div === 0 ? 1000 : div)));
  }
  const div = value(ref.divisor ?? 1);
  return String(Math.ceil(value(q) / (div === 0 ? 1 : div)));
}

export interface DownwardItem {
  path: string;
  mode?: number;
  fieldRef?: { fieldPath: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
}

export function downwardFiles(pod: Obj, items: readonly DownwardItem[] | undefined, mode: number, node: NodeAllocatable): FileSpec[] {
  return (items ?? []).map((it) => ({
    path: it.path,
    mode: it.mode ?? mode,
    content: Buffer.from(it.fieldRef ? fieldValue(pod, it.fieldRef.fieldPath) : resourceValue(pod, it.resourceFieldRef!, node), 'utf8'),
  }));
}
