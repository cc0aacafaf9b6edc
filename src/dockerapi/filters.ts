import { WharfError } from '../core/errors.js';

/**
 * Docker's `filters` query parameter: JSON `{"key": {"value": true}}` (current) or
 * `{"key": ["value"]}` (old clients). Returns key → values; unknown keys are refused with
 * Docker's message so typos do not silently match everything.
 */
export function parseFilters(raw: string | null, allowed: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (raw === null || raw.trim() === '') return out;
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (e) {
    throw new WharfError('InvalidArgument', `invalid filter: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new WharfError('InvalidArgument', 'invalid filter: expected a JSON object');
  }
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw new WharfError('InvalidArgument', `invalid filter '${key}'`);
    let values: string[];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) values = v as string[];
    else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      values = Object.entries(v as Record<string, unknown>)
        .filter(([, b]) => b === true)
        .map(([k]) => k);
    } else throw new WharfError('InvalidArgument', `invalid filter '${key}': expected a map of values`);
    out.set(key, [...(out.get(key) ?? []), ...values]);
  }
  return out;
}

/** A filter that takes a boolean (`dangling=true`). */
export function boolFilter(filters: Map<string, string[]>, key: string): boolean | undefined {
  const v = filters.get(key);
  if (!v || v.length === 0) return undefined;
  const set = new Set(v.map((s) => s.toLowerCase()));
  if (set.size > 1) throw new WharfError('InvalidArgument', `invalid filter '${key}': conflicting values`);
  const [only] = [...set];
  if (only === 'true' || only === '1') return true;
  if (only === 'false' || only === '0') return false;
  throw new WharfError('InvalidArgument', `invalid filter '${key}=${v[0]}'`);
}

/** Docker's `until`/`since` timestamps: unix seconds (fractions allowed), RFC 3339, or a Go duration ago. */
export function parseTimestamp(value: string, nowMs: number): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const dur = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(value);
  if (dur) {
    const mult: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    return nowMs / 1000 - Number(dur[1]) * mult[dur[2]!]!;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new WharfError('InvalidArgument', `invalid timestamp '${value}'`);
  return t / 1000;
}
