import { WharfError } from '../../../core/errors.js';
import type { LogLine } from './container-streams.js';

// `kubectl logs` over the engine's log entries: the PodLogOptions query (tailLines,
// sinceSeconds/sinceTime, timestamps, limitBytes, follow) checked as the API does, and the
// output formatted as the kubelet writes it.

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  /** Only entries at or after this time (ms since the epoch). */
  sinceMs?: number;
  timestamps?: boolean;
  limitBytes?: number;
}

/** `2026-11-26T07:16:05.556724881+00:00` → `2026-11-26T07:16:05.556724881Z` (UTC, 9 digits). */
export function kubeletTime(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  if (m[3] === 'Z' || m[3] === '+00:00' || m[3] === '-00:00') return `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
  const d = new Date(Date.parse(t));
  return `${d.toISOString().slice(0, 19)}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
}

export function checkLogOptions(q: URLSearchParams, now: number): LogOptions {
  const bool = (k: string) => {
    const v = q.get(k);
    if (v === null || v === '' || v === 'false' || v === '0') return false;
    if (v === 'true' || v === '1') return true;
    throw new WharfError('InvalidArgument', `${k}: Invalid value: ${JSON.stringify(v)}: must be true or false`);
  };
  const int = (k: string, min: number) => {
    const v = q.get(k);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new WharfError('InvalidArgument', `${k}: Invalid value: ${v}: must be ${min === 0 ? 'greater than or equal to 0' : 'greater than 0'}`);
    return n;
  };
  const out: LogOptions = { follow: bool('follow'), timestamps: bool('timestamps') };
  const tail = int('tailLines', 0);
  if (tail !== undefined) out.tailLines = tail;
  const limit = int('limitBytes', 1);
  if (limit !== undefined) out.limitBytes = limit;
  const since = int('sinceSeconds', 1);
  const sinceTime = q.get('sinceTime');
  if (since !== undefined && sinceTime) throw new WharfError('InvalidArgument', 'at most one of sinceTime or sinceSeconds may be specified');
  if (since !== undefined) out.sinceMs = now - since * 1000;
  if (sinceTime) {
    const t = Date.parse(sinceTime);
    if (Number.isNaN(t)) throw new WharfError('InvalidArgument', `sinceTime: Invalid value: ${JSON.stringify(sinceTime)}: must be RFC3339`);
    out.sinceMs = t;
  }
  return out;
}

/**
 * The bytes `kubectl logs` prints for the engine's log entries (one chunk per entry): timestamps
 * as the kubelet prints them, cut at limitBytes.
 */
export async function* formatLogs(entries: AsyncIterable<LogLine>, opts: Pick<LogOptions, 'timestamps' | 'limitBytes'>): AsyncGenerator<Buffer> {
  let budget = opts.limitBytes ?? Infinity;
  if (budget <= 0) return;
  for await (const e of entries) {
    let b = Buffer.from(opts.timestamps ? `${kubeletTime(e.time)} ${e.text}` : e.text);
    if (b.length > budget) b = b.subarray(0, budget);
    budget -= b.length;
    yield b;
    if (budget <= 0) return;
  }
}
