import { readFile, stat, open } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import type { Readable } from 'node:stream';
import { WharfError, notFound, conflict, internal } from '../../core/errors.js';
import { processAlive, type RunResult } from '../../core/exec/run.js';

// Small I/O helpers of the conmon driver: its sync-pipe protocol (one JSON line per event),
// runc's error messages, the ctl FIFO, PID files and the liveness check that guards against
// PID reuse.

/**
 * conmon's own cap on the live log file (it starts an empty file beyond it): a safety net for
 * when the daemon is away. The daemon rotates at 1× long before; the margin (2×, at least
 * 4 MiB more) leaves room for a fast writer between two rotation ticks.
 */
export function conmonLogSizeMax(maxSize: number): number {
  return Math.max(2 * maxSize, maxSize + 4 * 1024 * 1024);
}

export function runcError(op: string, r: RunResult): WharfError {
  const text = (r.stderr || r.stdout).trim();
  let msg = text;
  // runc --log-format=json is not used for direct calls; plain "time=… level=error msg=…" or a bare message.
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  if (m) msg = m[1]!.replace(/\\"/g, '"');
  if (/does not exist|not found/i.test(msg) && /container/i.test(msg)) return notFound(`runc ${op}: ${msg}`);
  if (/not running|is paused|is not paused|cannot (start|delete)|already/i.test(msg)) return conflict(`runc ${op}: ${msg}`);
  return new WharfError('Internal', `runc ${op}: ${msg || `exit ${r.code}`}`);
}

/** The last error message in runc's JSON log (`{"level":"error","msg":"…"}`). */
export async function readOciLogError(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string };
      if (j.level === 'error' && j.msg) msg = j.msg;
    } catch {
      /* not JSON */
    }
  }
  return msg;
}

export function parseSyncData(line: string | undefined): { data: number; message?: string } {
  if (line === undefined) throw new WharfError('Internal', 'conmon closed the sync pipe without a reply');
  try {
    const j = JSON.parse(line) as { data?: number; message?: string };
    if (typeof j.data !== 'number') throw new Error('no data');
    return { data: j.data, ...(j.message !== undefined ? { message: j.message } : {}) };
  } catch {
    throw new WharfError('Internal', `conmon: unexpected sync line ${JSON.stringify(line.slice(0, 200))}`);
  }
}

/** Reads newline-terminated lines from a stream; `next()` resolves undefined at EOF. */
export function lineReader(stream: Readable): { next(): Promise<string | undefined> } {
  let buf = '';
  const lines: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  });
  const end = () => {
    if (buf.trim()) lines.push(buf);
    buf = '';
    ended = true;
    wake?.();
  };
  stream.on('end', end);
  stream.on('close', end);
  stream.on('error', end);
  return {
    async next() {
      while (lines.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      return lines.shift();
    },
  };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new WharfError('Timeout', `${what} after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function unrefStream(s: Readable): void {
  (s as unknown as { unref?: () => void }).unref?.();
}

export async function writeCtl(path: string, line: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENXIO' || code === 'ENOENT') throw conflict('the container is not running (no conmon on its control pipe)');
    throw internal(`open ${path}`, e);
  }
  try {
    await fh.write(line);
  } finally {
    await fh.close();
  }
}

export async function readPid(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True if PID is a live (not zombie) conmon: guards against PID reuse. */
export async function isConmon(pid: number): Promise<boolean> {
  if (!(await processAlive(pid))) return false;
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === 'conmon';
  } catch {
    return false;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

