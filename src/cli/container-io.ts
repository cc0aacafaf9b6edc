import { request } from 'node:http';
import type { Duplex,Readable,Writable } from 'node:stream';
import type Docker from 'dockerode';
import { WharfError } from '../core/errors.js';

// Streams of the container commands: raw API calls through dockerode's modem (the same
// client as every other `wharf` command), the hijacked attach/exec connection, Docker's
// 8-byte multiplexed frames, the terminal (raw mode, resize), and the detach keys.

export interface DialOptions {
  path: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  /** Query parameters (the path must end with `?`). */
  query?: Record<string, unknown>;
  body?: unknown;
  isStream?: boolean;
  hijack?: boolean;
  openStdin?: boolean;
  file?: NodeJS.ReadableStream;
  headers?: Record<string, string>;
  statusCodes?: Record<number, boolean | string>;
  abortSignal?: AbortSignal;
}

const DEFAULT_CODES: Record<number, boolean | string> = {
  200: true,
  201: true,
  204: true,
  304: 'not modified',
  400: 'bad parameter',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  500: 'server error',
  501: 'not implemented',
  503: 'unavailable',
};

/** One Docker API call through dockerode's modem (paths unversioned, as dockerode sends them). */
export function dial<T = unknown>(docker: Docker, o: DialOptions): Promise<T> {
  const opts: Record<string, unknown> = {
    path: o.path,
    method: o.method,
    statusCodes: o.statusCodes ?? DEFAULT_CODES,
  };
  // The modem sends `_body` (or else the whole options object) as a POST body; an empty
  // `_body: {}` sends none — a hijacked attach must not carry stray bytes into stdin.
  if (o.method === 'POST' || o.body !== undefined) opts.options = { _query: o.query ?? {}, _body: o.body ?? {} };
  else if (o.query) opts.options = o.query;
  if (o.isStream) opts.isStream = true;
  if (o.hijack) opts.hijack = true;
  if (o.openStdin) opts.openStdin = true;
  if (o.file) opts.file = o.file;
  if (o.headers) opts.headers = o.headers;
  if (o.abortSignal) opts.abortSignal = o.abortSignal;
  const modem = docker.modem as { dial(o: unknown, cb: (err: unknown, data: T) => void): void };
  return new Promise<T>((resolve, reject) => modem.dial(opts, (err, data) => (err ? reject(err as Error) : resolve(data))));
}

/**
 * POST with `Upgrade: tcp` → the raw connection (attach, exec start). Written on node:http with
 * the modem's address because the modem cannot open a hijacked stream with stdin without
 * sending a chunked body: the request here carries exactly `body` (or nothing) and the
 * socket is handed over at 101. Errors have the modem's shape (statusCode, json).
 */
export function hijackRaw(docker: Docker, path: string, query: Record<string, string | number>, body: unknown): Promise<Duplex> {
  const m = docker.modem as { socketPath?: string; host?: string; port?: number | string };
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const payload = body === undefined ? '' : JSON.stringify(body);
  const req = request({
    ...(m.socketPath ? { socketPath: m.socketPath } : { host: m.host, port: Number(m.port) }),
    method: 'POST',
    path: `${path}${qs ? `?${qs}` : ''}`,
    headers: { Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Length': Buffer.byteLength(payload), ...(payload ? { 'Content-Type': 'application/json' } : {}) },
  });
  return new Promise<Duplex>((resolve, reject) => {
    req.once('upgrade', (_res, sock, head) => {
      if (head.length) sock.unshift(head);
      resolve(sock);
    });
    req.once('response', (res) => {
      void readAll(res).then((b) => {
        const text = b.toString();
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          /* plain text */
        }
        const msg = (json as { message?: string })?.message ?? text;
        reject(Object.assign(new Error(`(HTTP code ${res.statusCode}) ${msg}`), { statusCode: res.statusCode ?? 500, json }));
      }, reject);
    });
    req.once('error', reject);
    req.end(payload);
  });
}

/** Reads a whole response stream. */
export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

/**
 * Splits Docker's multiplexed stream (header: stream byte, 3 zero bytes, uint32 BE length)
 * into stdout and stderr. Frames may span chunks.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(
    private readonly out: (b: Buffer) => void,
    private readonly err: (b: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      const kind = this.buf[0];
      const payload = this.buf.subarray(8, 8 + len);
      if (kind === 2) this.err(payload);
      else this.out(payload);
      this.buf = this.buf.subarray(8 + len);
    }
  }
}

/** Pipes a container's output stream to our stdout/stderr; resolves when it ends. */
export function pumpOutput(src: Readable | Duplex, tty: boolean, stdout: Writable, stderr: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const demux = tty ? undefined : new Demuxer((b) => stdout.write(b), (b) => stderr.write(b));
    src.on('data', (b: Buffer) => (demux ? demux.push(b) : stdout.write(b)));
    src.once('end', () => resolve());
    src.once('close', () => resolve());
    src.once('error', () => resolve());
  });
}

/** Docker's --detach-keys: `ctrl-p,ctrl-q` (default), `ctrl-<a-z@[\\]^_>` or single characters. */
export function parseDetachKeys(spec: string | undefined): Buffer {
  const keys = (spec ?? 'ctrl-p,ctrl-q').split(',');
  const out: number[] = [];
  for (const k of keys) {
    const m = /^ctrl-([a-z@[\\\]^_])$/i.exec(k);
    if (m) {
      const c = m[1]!.toLowerCase();
      out.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 }[c]!);
    } else if (k.length === 1) out.push(k.charCodeAt(0));
    else throw new WharfError('InvalidArgument', `invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(out);
}

/**
 * Watches stdin bytes for the detach sequence. Returns the bytes to forward (held back
 * while a prefix of the sequence is pending) and whether the sequence completed.
 */
export class DetachWatcher {
  private held: number[] = [];
  constructor(private readonly seq: Buffer) {}
  feed(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const fwd: number[] = [];
    for (const b of chunk) {
      if (b === this.seq[this.held.length]) {
        this.held.push(b);
        if (this.held.length === this.seq.length) return { forward: Buffer.from(fwd), detach: true };
        continue;
      }
      fwd.push(...this.held);
      this.held = [];
      if (b === this.seq[0]) this.held.push(b);
      else fwd.push(b);
    }
    return { forward: Buffer.from(fwd), detach: false };
  }
}
