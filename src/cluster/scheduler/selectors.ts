// Compiled label selectors and node selector terms: matching is the hot path, so
// selectors are compiled once per pod into closures over plain arrays.
import { invalid } from '../../core/errors.js';
import type { LabelSelector, NodeSelectorRequirement, NodeSelectorTerm } from './k8s-types.js';

export type Labels = ReadonlyMap<string, string>;

export interface Selector {
  /** True when the selector matches these labels. */
  matches(labels: Labels): boolean;
  /** "key=value" pairs every matching object must carry: used to look candidates up in a label index. */
  readonly requiredPairs: readonly string[];
  readonly matchesNothing: boolean;
  /** Canonical text, for equivalence-class keys. */
  readonly canonical: string;
}

export const NOTHING: Selector = { matches: () => false, requiredPairs: [], matchesNothing: true, canonical: '<nil>' };

type Check = (labels: Labels) => boolean;

function requireValues(op: string, values: string[] | undefined, field: string): string[] {
  if (!values || values.length === 0) throw invalid(`${field}: operator ${op} needs at least one value`, { field });
  return values;
}

/** Kubernetes LabelSelector semantics: undefined matches nothing, {} matches everything. */
export function compileLabelSelector(sel: LabelSelector | undefined | null, field: string): Selector {
  if (sel === undefined || sel === null) return NOTHING;
  const checks: Check[] = [];
  const pairs: string[] = [];
  const canon: string[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    checks.push((l) => l.get(k) === v);
    pairs.push(`${k}=${v}`);
    canon.push(`${k}=${v}`);
  }
  for (const [i, e] of (sel.matchExpressions ?? []).entries()) {
    const f = `${field}.matchExpressions[${i}]`;
    const { key } = e;
    if (typeof key !== 'string' || key === '') throw invalid(`${f}.key: must be a non-empty string`, { field: f });
    switch (e.operator) {
      case 'In': {
        const vals = new Set(requireValues('In', e.values, f));
        checks.push((l) => {
          const v = l.get(key);
          return v !== undefined && vals.has(v);
        });
        if (vals.size === 1) pairs.push(`${key}=${[...vals][0]}`);
        break;
      }
      case 'NotIn': {
        const vals = new Set(requireValues('NotIn', e.values, f));
        checks.push((l) => {
          const v = l.get(key);
          return v === undefined || !vals.has(v);
        });
        break;
      }
      case 'Exists':
        checks.push((l) => l.has(key));
        break;
      case 'DoesNotExist':
        checks.push((l) => !l.has(key));
        break;
      default:
        throw invalid(`${f}.operator: unknown operator ${JSON.stringify(e.operator)} (In, NotIn, Exists, DoesNotExist)`, { field: f });
    }
    canon.push(`${key} ${e.operator} ${[...(e.values ?? [])].sort().join(',')}`);
  }
  canon.sort();
  const matches: (l: Labels) => boolean =
    checks.length === 0
      ? () => true
      : checks.length === 1
        ? checks[0]!
        : (l) => {
            for (const c of checks) if (!c(l)) return false;
            return true;
          };
  return { matches, requiredPairs: pairs, matchesNothing: false, canonical: `{${canon.join(';')}}` };
}

/** Node-side fields matchFields may use. */
export interface NodeFields {
  name: string;
  labels: Labels;
}

function compileRequirement(r: NodeSelectorRequirement, field: string, fields: boolean): (n: NodeFields) => boolean {
  const { key } = r;
  if (typeof key !== 'string' || key === '') throw invalid(`${field}.key: must be a non-empty string`, { field });
  if (fields && key !== 'metadata.name') throw invalid(`${field}.key: matchFields supports only metadata.name`, { field });
  const get = fields ? (n: NodeFields) => n.name : (n: NodeFields) => n.labels.get(key);
  switch (r.operator) {
    case 'In': {
      const vals = new Set(requireValues('In', r.values, field));
      return (n) => {
        const v = get(n);
        return v !== undefined && vals.has(v);
      };
    }
    case 'NotIn': {
      const vals = new Set(requireValues('NotIn', r.values, field));
      return (n) => {
        const v = get(n);
        return v === undefined || !vals.has(v);
      };
    }
    case 'Exists':
      return (n) => get(n) !== undefined;
    case 'DoesNotExist':
      return (n) => get(n) === undefined;
    case 'Gt':
    case 'Lt': {
      const vals = r.values ?? [];
      if (vals.length !== 1 || !/^-?\d+$/.test(vals[0]!)) {
        throw invalid(`${field}.values: operator ${r.operator} needs exactly one integer value`, { field });
      }
      const bound = Number(vals[0]);
      const gt = r.operator === 'Gt';
      return (n) => {
        const v = get(n);
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        const x = Number(v);
        return gt ? x > bound : x < bound;
      };
    }
    default:
      throw invalid(`${field}.operator: unknown operator ${JSON.stringify(r.operator)} (In, NotIn, Exists, DoesNotExist, Gt, Lt)`, { field });
  }
}

/** One term: its requirements ANDed. A term with no requirements matches no node (Kubernetes). */
export function compileNodeSelectorTerm(t: NodeSelectorTerm, field: string): (n: NodeFields) => boolean {
  const reqs = [
    ...(t.matchExpressions ?? []).map((r, i) => compileRequirement(r, `${field}.matchExpressions[${i}]`, false)),
    ...(t.matchFields ?? []).map((r, i) => compileRequirement(r, `${field}.matchFields[${i}]`, true)),
  ];
  if (reqs.length === 0) return () => false;
  return (n) => {
    for (const r of reqs) if (!r(n)) return false;
    return true;
  };
}

/** Terms ORed. An empty list matches no node. */
export function compileNodeSelectorTerms(terms: NodeSelectorTerm[], field: string): (n: NodeFields) => boolean {
  if (!Array.isArray(terms)) throw invalid(`${field}: must be a list`, { field });
  const compiled = terms.map((t, i) => compileNodeSelectorTerm(t, `${field}[${i}]`));
  return (n) => {
    for (const t of compiled) if (t(n)) return true;
    return false;
  };
}
