import { open, stat } from 'node:fs/promises';
import { WharfError } from '../../../core/errors.js';

// `kubectl logs` from the container's k8s-file log (what the kubelet reads from CRI log files):
// `<RFC3339Nano> <stdout|stderr> <F|P> <text>` per entry, P = part of a longer line. Options as
// in PodLogOptions: tailLines, sinceSeconds/sinceTime, timestamps, limitBytes, follow.

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  /** Only entries at or after this time (ms since the epoch). */
  sinceMs?: number;
  timestamps?: boolean;
  limitBytes?: number;
}

export interface LogEntry {
  /** RFC3339Nano with nine digits and Z, as the kubelet prints it. */
  time: string;
  ms: number;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  text: string;
}

export function parseEntry(line: string): LogEntry | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line) ?? /^(\S+) (stdout|stderr) ([FP])$/.exec(line);
  if (!m) return undefined;
  const ms = Date.parse(m[1]!);
  if (Number.isNaN(ms)) return undefined;
  return { time: kubeletTime(m[1]!), ms, stream: m[2] as 'stdout' | 'stderr', partial: m[3] === 'P', text: m[4] ?? '' };
}

/** `2026-11-26T07:16:05.556724881+00:00` → `2026-11-26T07:16:05.556724881Z` (UTC, 9 digits). */
export function kubeletTime(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  if (m[3] === 'Z' || m[3] === '+00:00' || m[3] === '-00:00') return `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
  const d = new Date(Date.parse(t));
  return `${d.toISOString().slice(0, 19)}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}Z`;
}

/** The bytes `kubectl logs` prints for one entry. */
export function formatEntry(e: LogEntry, timestamps: boolean): string {
  return `${timestamps ? `${e.time} ` : ''}${e.text}${e.partial ? '' : '\n'}`;
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

export interface LogSource {
  files(): Promise<string[]>;
  running(): Promise<boolean>;
}

/**
 * The container's log as `kubectl logs` prints it. Follows the live (last) file while the
 * container runs (through one rotation: the file it was reading becomes `<live>.1`).
 */
export async function* readLogs(src: LogSource, opts: LogOptions, signal: AbortSignal, pollMs = 200): AsyncGenerator<Buffer> {
  let budget = opts.limitBytes ?? Infinity;
  const keep = (e: LogEntry) => opts.sinceMs === undefined || e.ms >= opts.sinceMs;
  const out = (e: LogEntry): Buffer | undefined => {
    if (budget <= 0) return undefined;
    let b = Buffer.from(formatEntry(e, opts.timestamps === true));
    if (b.length > budget) b = b.subarray(0, budget);
    budget -= b.length;
    return b;
  };
  const files = await src.files();
  const live = files.at(-1);
  let entries: LogEntry[] = [];
  let livePos = 0;
  for (const f of files) {
    const buf = await readAll(f);
    const text = buf.toString('utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    if (f === live) livePos = Buffer.byteLength(complete);
    for (const line of complete.split('\n')) {
      const e = line ? parseEntry(line) : undefined;
      if (e && keep(e)) entries.push(e);
    }
  }
  if (opts.tailLines !== undefined) entries = opts.tailLines === 0 ? [] : lastLines(entries, opts.tailLines);
  const first: Buffer[] = [];
  for (const e of entries) {
    const b = out(e);
    if (!b) break;
    first.push(b);
  }
  if (first.length) yield Buffer.concat(first);
  if (!opts.follow || !live || budget <= 0) return;
  let liveIno = await stat(live).then((s) => s.ino, () => 0);
  let pending = '';
  const readFrom = async function* (path: string, from: number, to: number): AsyncGenerator<Buffer> {
    if (to <= from) return;
    const fh = await open(path, 'r');
    try {
      const b = Buffer.alloc(to - from);
      const { bytesRead } = await fh.read(b, 0, b.length, from);
      pending += b.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
    const cut = pending.lastIndexOf('\n');
    if (cut < 0) return;
    const chunk: Buffer[] = [];
    for (const line of pending.slice(0, cut).split('\n')) {
      const e = line ? parseEntry(line) : undefined;
      if (!e || !keep(e)) continue;
      const ob = out(e);
      if (ob) chunk.push(ob);
    }
    pending = pending.slice(cut + 1);
    if (chunk.length) yield Buffer.concat(chunk);
  };
  while (!signal.aborted && budget > 0) {
    const running = await src.running();
    const st = await stat(live).catch(() => undefined);
    if (st && st.ino !== liveIno) {
      const old = await stat(`${live}.1`).catch(() => undefined);
      if (old && old.ino === liveIno) yield* readFrom(`${live}.1`, livePos, old.size);
      liveIno = st.ino;
      livePos = 0;
      pending = '';
    } else if (st && st.size < livePos) livePos = 0;
    if (st && st.size > livePos) {
      yield* readFrom(live, livePos, st.size);
      livePos = st.size;
    }
    if (!running) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pollMs);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
}

/** The last n lines: an entry ends a line unless it is a partial one. */
function lastLines(entries: LogEntry[], n: number): LogEntry[] {
  let lines = 0;
  let i = entries.length;
  while (i > 0) {
    const e = entries[i - 1]!;
    if (!e.partial) {
      if (lines === n) break;
      lines++;
    }
    i--;
  }
  return entries.slice(i);
}

async function readAll(path: string): Promise<Buffer> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return Buffer.alloc(0);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
