import type { Duplex } from 'node:stream';
import { WharfError } from '../core/errors.js';
import { forEachLine, type ClientFlags } from './client.js';
import { dial, pumpOutput } from './container-io.js';
import { formatRows } from './go-template.js';
import { type Obj, act, filtersFromFlags, inspectContainer } from './container-action.js';

// `wharf logs` and `wharf events`.

/** Docker's GetTimestamp: RFC 3339 / date, unix seconds, or a duration ago ("10m", "1h30m"). */
export function apiTimestamp(v: string, nowMs = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  const d = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(v) ? v : undefined;
  if (d) {
    let total = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2]!]!;
    return ((nowMs - total) / 1000).toFixed(9).replace(/\.?0+$/, '');
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new WharfError('InvalidArgument', `invalid value for "since"/"until": "${v}" (use RFC 3339, unix seconds, or a duration such as 10m)`);
  return String(t / 1000);
}

export async function logsCmd(name: string, f: ClientFlags & { follow?: boolean; tail?: string; since?: string; until?: string; timestamps?: boolean; details?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    const c = await inspectContainer(docker, name);
    const query: Record<string, unknown> = { stdout: 1, stderr: 1, tail: f.tail ?? 'all' };
    if (f.follow) query.follow = 1;
    if (f.timestamps) query.timestamps = 1;
    if (f.details) query.details = 1;
    if (f.since) query.since = apiTimestamp(f.since);
    if (f.until) query.until = apiTimestamp(f.until);
    const res = await dial<NodeJS.ReadableStream>(docker, { path: `/containers/${c.Id}/logs?`, method: 'GET', query, isStream: true });
    await pumpOutput(res as unknown as Duplex, c.Config?.Tty === true, process.stdout, process.stderr);
  });
}

// ---- events

export function eventLine(e: Obj): string {
  const nano = BigInt(e.timeNano ?? Math.round((e.time ?? 0) * 1e9));
  const secs = Number(nano / 1_000_000_000n);
  const frac = String(nano % 1_000_000_000n).padStart(9, '0');
  const iso = new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
  const attrs = (e.Actor?.Attributes ?? {}) as Record<string, string>;
  const a = Object.keys(attrs).sort().map((k) => `${k}=${attrs[k]}`).join(', ');
  return `${iso} ${e.Type ?? e.type ?? ''} ${e.Action ?? e.status ?? ''} ${e.Actor?.ID ?? e.id ?? ''}${a ? ` (${a})` : ''}\n`;
}

export async function eventsCmd(f: ClientFlags & { since?: string; until?: string; filter: string[]; format?: string }): Promise<void> {
  await act(f, async (docker) => {
    const query: Obj = {};
    if (f.since) query.since = apiTimestamp(f.since);
    if (f.until) query.until = apiTimestamp(f.until);
    const filters = filtersFromFlags(f.filter);
    if (Object.keys(filters).length) query.filters = JSON.stringify(filters);
    const res = await dial<NodeJS.ReadableStream>(docker, { path: '/events?', method: 'GET', query, isStream: true });
    const emit = (line: string) => {
      if (!line.trim()) return;
      const e = JSON.parse(line) as Obj;
      if (f.format === 'json') process.stdout.write(`${JSON.stringify(e)}\n`);
      else if (f.format) process.stdout.write(formatRows(f.format, [e], {}));
      else process.stdout.write(eventLine(e));
    };
    await forEachLine(res, emit);
  });
}
