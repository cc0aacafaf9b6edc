import { invalid } from '../../core/errors.js';
import type { LabelSelector } from './meta.js';
import { labelValueError, qualifiedNameError } from './schema.js';

// Label selectors (string syntax of `?labelSelector=` and LabelSelector objects) and field selectors.

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface Requirement {
  key: string;
  operator: Operator;
  values: string[];
}

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h`. Throws InvalidArgument on a syntax error. */
export function parseLabelSelector(input: string): Requirement[] {
  const s = input.trim();
  if (s === '') return [];
  const reqs: Requirement[] = [];
  let i = 0;
  const fail = (msg: string): never => {
    throw invalid(`unable to parse requirement: ${msg} in label selector "${input}"`);
  };
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  const readWord = (): string => {
    skipWs();
    const start = i;
    while (i < s.length && !/[\s,=!()]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const checkKey = (k: string) => {
    if (!k) fail('missing key');
    const e = qualifiedNameError(k);
    if (e) fail(`invalid label key "${k}": ${e}`);
  };
  const checkValue = (v: string) => {
    const e = labelValueError(v);
    if (e) fail(`invalid label value "${v}": ${e}`);
  };
  while (i < s.length) {
    skipWs();
    if (s[i] === '!') {
      i++;
      const key = readWord();
      checkKey(key);
      reqs.push({ key, operator: 'DoesNotExist', values: [] });
    } else {
      const key = readWord();
      checkKey(key);
      skipWs();
      if (i >= s.length || s[i] === ',') {
        reqs.push({ key, operator: 'Exists', values: [] });
      } else if (s.startsWith('==', i) || s[i] === '=') {
        i += s.startsWith('==', i) ? 2 : 1;
        const v = readWord();
        checkValue(v);
        reqs.push({ key, operator: 'In', values: [v] });
      } else if (s.startsWith('!=', i)) {
        i += 2;
        const v = readWord();
        checkValue(v);
        reqs.push({ key, operator: 'NotIn', values: [v] });
      } else {
        const op = readWord();
        if (op !== 'in' && op !== 'notin') fail(`unknown operator "${op || s[i]}"`);
        skipWs();
        if (s[i] !== '(') fail(`expected "(" after ${op}`);
        i++;
        const values: string[] = [];
        for (;;) {
          const v = readWord();
          skipWs();
          if (v) {
            checkValue(v);
            values.push(v);
          }
          if (s[i] === ',') {
            i++;
            continue;
          }
          if (s[i] === ')') {
            i++;
            break;
          }
          fail(`expected "," or ")" in value list`);
        }
        if (values.length === 0) fail(`${op} needs at least one value`);
        reqs.push({ key, operator: op === 'in' ? 'In' : 'NotIn', values });
      }
    }
    skipWs();
    if (i < s.length) {
      if (s[i] !== ',') fail(`unexpected "${s[i]}"`);
      i++;
      skipWs();
      if (i >= s.length) fail('trailing ","');
    }
  }
  return reqs;
}

export function matchesRequirements(reqs: readonly Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(l[r.key]!)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(l[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Requirements of a LabelSelector object. An empty selector matches everything. */
export function selectorRequirements(sel: LabelSelector | undefined): Requirement[] {
  if (!sel) return [];
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({ key, operator: 'In', values: [v] }));
  for (const e of sel.matchExpressions ?? []) reqs.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  return reqs;
}

export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  return matchesRequirements(selectorRequirements(sel), labels);
}

/** The string form of a LabelSelector (as in Scale.status.selector). */
export function selectorToString(sel: LabelSelector | undefined): string {
  return selectorRequirements(sel)
    .map((r) => {
      switch (r.operator) {
        case 'In':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'NotIn':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'Exists':
          return r.key;
        case 'DoesNotExist':
          return `!${r.key}`;
      }
      return '';
    })
    .join(',');
}

// ---- field selectors

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Parses `metadata.name=x,spec.nodeName!=y` (also `==`). Only the fields in `supported` are allowed. */
export function parseFieldSelector(input: string, supported: readonly string[]): FieldRequirement[] {
  const s = input.trim();
  if (s === '') return [];
  return s.split(',').map((part) => {
    const m = /^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*([^,=!]*?)\s*$/.exec(part);
    if (!m) throw invalid(`invalid field selector: "${part}": expected FIELD=VALUE, FIELD==VALUE or FIELD!=VALUE`);
    const field = m[1]!;
    if (!supported.includes(field)) {
      throw invalid(`field label not supported: ${field} (supported: ${supported.join(', ')})`);
    }
    return { field, op: m[2] === '!=' ? '!=' : '=', value: m[3]! };
  });
}

export function getFieldPath(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: unknown): boolean {
  for (const r of reqs) {
    const v = getFieldPath(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
