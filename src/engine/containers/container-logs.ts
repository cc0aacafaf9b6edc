import { open, stat } from 'node:fs/promises';
import { systemClock, type Clock } from '../../core/clock.js';
import { invalid } from '../../core/errors.js';
import { parseK8sLogLine } from '../runtime/conmon.js';
import type { ContainerStatus } from './types.js';

// A container's log as a stream of entries, read from conmon's k8s-file log and its rotated
// files (oldest first): tail, since/until, and follow (the live file is polled; a rotation is
// noticed by its inode, so the rest of the old file is read before the new one). The only
// reader of the log file format; the Docker API frames these entries, the node agent ships them.

export interface LogEntry {
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The text; ends with '\n' for a complete line, not for a partial chunk of a long one. */
  text: string;
}

export interface LogReadOptions {
  /** Keep reading while the container runs (ends when it stops or `signal` aborts). */
  follow?: boolean;
  /** Only the last N lines already written (default: all). */
  tail?: number;
  /** Unix seconds (fractions allowed): entries at or after. */
  since?: number;
  /** Unix seconds: entries at or before (following stops at the first later entry). */
  until?: number;
  /** Which streams (default both). */
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

/** What the reader needs of the containers (ContainerService satisfies it). */
export interface LogHost {
  inspect(ref: string): { id: string; logPath: string; state: { status: ContainerStatus } };
  /** The log files oldest first, the live one last. */
  logFiles(ref: string): Promise<string[]>;
}

const RUNNING = new Set<ContainerStatus>(['running', 'paused', 'restarting']);

/** Unix seconds of a log line's timestamp (nanosecond fraction kept as far as a double can). */
export function logTimeSeconds(time: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)$/.exec(time);
  if (!m) return Date.parse(time) / 1000;
  return Date.parse(`${m[1]!}${m[3]!}`) / 1000 + (m[2] ? Number(`0${m[2]}`) : 0);
}

export class ContainerLogReader {
  private readonly pollMs: number;
  private readonly clock: Clock;

  constructor(private readonly o: { host: LogHost; clock?: Clock; pollMs?: number }) {
    this.pollMs = o.pollMs ?? 200;
    this.clock = o.clock ?? systemClock;
  }

  /** The container's log entries; an unknown container or bad options throw at once (before the first entry). */
  read(ref: string, opts: LogReadOptions = {}): AsyncIterable<LogEntry> {
    const rec = this.o.host.inspect(ref);
    if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < 0)) throw invalid(`invalid tail: ${opts.tail}`);
    if (opts.since !== undefined && !Number.isFinite(opts.since)) throw invalid(`invalid since: ${opts.since}`);
    if (opts.until !== undefined && !Number.isFinite(opts.until)) throw invalid(`invalid until: ${opts.until}`);
    return this.entries(rec.id, rec.logPath, opts);
  }

  private async *entries(id: string, logPath: string, opts: LogReadOptions): AsyncGenerator<LogEntry> {
    const wantOut = opts.stdout !== false;
    const wantErr = opts.stderr !== false;
    let pastUntil = false;
    const pick = (line: string): LogEntry | undefined => {
      const p = parseK8sLogLine(line);
      if (!p || (p.stream === 'stdout' ? !wantOut : !wantErr)) return undefined;
      if (opts.since !== undefined || opts.until !== undefined) {
        const t = logTimeSeconds(p.time);
        if (opts.since !== undefined && t < opts.since) return undefined;
        if (opts.until !== undefined && t > opts.until) {
          pastUntil = true;
          return undefined;
        }
      }
      return { time: p.time, stream: p.stream, text: p.full ? `${p.text}\n` : p.text };
    };
    const lines: string[] = [];
    let livePos = 0;
    for (const f of await this.o.host.logFiles(id)) {
      const text = (await readAll(f)).toString('utf8');
      const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
      if (f === logPath) livePos = Buffer.byteLength(complete);
      lines.push(...complete.split('\n').filter(Boolean));
    }
    const tail = opts.tail ?? Infinity;
    for (const l of tail === Infinity ? lines : lines.slice(Math.max(0, lines.length - tail))) {
      const e = pick(l);
      if (e) yield e;
    }
    if (!opts.follow || pastUntil) return;
    let pending = '';
    let liveIno = await stat(logPath).then((s) => s.ino, () => 0);
    const readFrom = async (path: string, from: number, to: number): Promise<LogEntry[]> => {
      if (to <= from) return [];
      const out: LogEntry[] = [];
      const fh = await open(path, 'r');
      try {
        const b = Buffer.alloc(to - from);
        const { bytesRead } = await fh.read(b, 0, b.length, from);
        pending += b.subarray(0, bytesRead).toString('utf8');
        const cut = pending.lastIndexOf('\n');
        if (cut >= 0) {
          for (const l of pending.slice(0, cut).split('\n').filter(Boolean)) {
            const e = pick(l);
            if (e) out.push(e);
          }
          pending = pending.slice(cut + 1);
        }
      } finally {
        await fh.close();
      }
      return out;
    };
    while (!opts.signal?.aborted && !pastUntil) {
      let running: boolean;
      try {
        running = RUNNING.has(this.o.host.inspect(id).state.status);
      } catch {
        running = false; // removed meanwhile
      }
      const st = await stat(logPath).catch(() => undefined);
      if (st && st.ino !== liveIno) {
        // Rotated: finish the file we were reading (now `.1`, if it is that one), then start the new one.
        const old = await stat(`${logPath}.1`).catch(() => undefined);
        if (old && old.ino === liveIno) yield* await readFrom(`${logPath}.1`, livePos, old.size);
        liveIno = st.ino;
        livePos = 0;
        pending = '';
      } else if (st && st.size < livePos) livePos = 0; // truncated in place
      if (st && st.size > livePos) {
        yield* await readFrom(logPath, livePos, st.size);
        livePos = st.size;
      }
      if (!running) break;
      await this.clock.sleep(this.pollMs, opts.signal).catch(() => undefined);
    }
  }
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
