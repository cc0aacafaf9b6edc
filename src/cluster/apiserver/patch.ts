import { WharfError, invalid } from '../../core/errors.js';

// Patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902). Strategic merge patch is
// treated as a merge patch (lists are replaced as a whole; `$patch` directives are refused).

type Json = unknown;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function checkNoDirectives(patch: Json, path = ''): void {
  if (Array.isArray(patch)) patch.forEach((x, i) => checkNoDirectives(x, `${path}[${i}]`));
  else if (isObj(patch)) {
    for (const [k, v] of Object.entries(patch)) {
      if (k.startsWith('$')) {
        throw new WharfError('InvalidArgument', `strategic merge patch directive ${path ? `${path}.` : ''}${k} is not supported by Wharf (lists are replaced as a whole)`);
      }
      checkNoDirectives(v, path ? `${path}.${k}` : k);
    }
  }
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  checkNoDirectives(patch);
  return mergePatch(target, patch);
}

function unescape(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(p: unknown): string[] {
  if (typeof p !== 'string') throw invalid('json patch: "path" must be a string');
  if (p === '') return [];
  if (!p.startsWith('/')) throw invalid(`json patch: path "${p}" must start with "/"`);
  return p.slice(1).split('/').map(unescape);
}

function getAt(doc: Json, path: string[]): Json {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) {
      const i = Number(seg);
      if (!/^\d+$/.test(seg) || i >= cur.length) throw invalid(`json patch: path /${path.join('/')} does not exist`);
      cur = cur[i];
    } else if (isObj(cur)) {
      if (!(seg in cur)) throw invalid(`json patch: path /${path.join('/')} does not exist`);
      cur = cur[seg];
    } else throw invalid(`json patch: path /${path.join('/')} does not exist`);
  }
  return cur;
}

function parentOf(doc: Json, path: string[]): { parent: Record<string, unknown> | unknown[]; key: string } {
  if (path.length === 0) throw invalid('json patch: cannot operate on the whole document');
  const parent = getAt(doc, path.slice(0, -1));
  if (!Array.isArray(parent) && !isObj(parent)) throw invalid(`json patch: parent of /${path.join('/')} is not a container`);
  return { parent, key: path[path.length - 1]! };
}

function add(doc: Json, path: string[], value: Json): void {
  const { parent, key } = parentOf(doc, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!/^(\d+|-)$/.test(key) || i > parent.length) throw invalid(`json patch: index ${key} out of range at /${path.join('/')}`);
    parent.splice(i, 0, value);
  } else parent[key] = value;
}

function remove(doc: Json, path: string[]): Json {
  const { parent, key } = parentOf(doc, path);
  const old = getAt(doc, path);
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return old;
}

const deepEqual = (a: Json, b: Json) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** A copy with object keys sorted (for comparisons). */
export function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw invalid('json patch: the body must be an array of operations');
  const doc = structuredClone(target);
  for (const [n, raw] of ops.entries()) {
    if (!isObj(raw)) throw invalid(`json patch: operation ${n} is not an object`);
    const path = parsePointer(raw.path);
    switch (raw.op) {
      case 'add':
        if (!('value' in raw)) throw invalid(`json patch: operation ${n} (add) needs a value`);
        add(doc, path, structuredClone(raw.value));
        break;
      case 'remove':
        remove(doc, path);
        break;
      case 'replace':
        if (!('value' in raw)) throw invalid(`json patch: operation ${n} (replace) needs a value`);
        getAt(doc, path);
        remove(doc, path);
        add(doc, path, structuredClone(raw.value));
        break;
      case 'move': {
        const v = remove(doc, parsePointer(raw.from));
        add(doc, path, v);
        break;
      }
      case 'copy':
        add(doc, path, structuredClone(getAt(doc, parsePointer(raw.from))));
        break;
      case 'test':
        if (!deepEqual(getAt(doc, path), raw.value)) throw new WharfError('InvalidArgument', `json patch: test operation ${n} failed at ${String(raw.path)}`);
        break;
      default:
        throw invalid(`json patch: operation ${n}: unknown op ${JSON.stringify(raw.op)}`);
    }
  }
  return doc;
}

export type PatchType = 'merge' | 'json' | 'strategic';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  if (ct === 'application/apply-patch+yaml') {
    throw new WharfError('Unsupported', 'server-side apply (application/apply-patch+yaml) is not implemented yet; use `wharf apply` or a merge patch');
  }
  throw new WharfError('Unsupported', `the patch content type ${JSON.stringify(contentType ?? '')} is not supported; use application/merge-patch+json, application/json-patch+json or application/strategic-merge-patch+json`);
}

export function applyPatch(type: PatchType, target: Json, patch: Json): Json {
  switch (type) {
    case 'merge':
      return mergePatch(target, patch);
    case 'strategic':
      return strategicMergePatch(target, patch);
    case 'json':
      return jsonPatch(target, patch);
  }
}
