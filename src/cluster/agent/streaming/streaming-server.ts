import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WharfError, errorMessage, isWharfError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import {
  CHANNEL,
  REMOTE_COMMAND_PROTOCOLS,
  decodeChannel,
  encodeChannel,
  errorStatus,
  exitStatus,
  headerList,
  parseResize,
  selectProtocol,
  splitJsonObjects,
  type ExecStatus,
} from './channel-protocol.js';
import type { ContainerStreams, ProcessStreams, ResolvedContainer } from './container-streams.js';
import { checkLogOptions, formatLogs } from './log-reader.js';
import { SpdySession, type SpdyStream } from './spdy-session.js';
import { KUBELET_CLIENT_CN } from '../../apis/streaming.js';

// The node's streaming endpoint (the kubelet's :10250 for logs, exec, attach, port-forward):
// HTTPS with a self-signed serving certificate the API server pins by fingerprint, and client
// certificates: only a certificate issued by the cluster CA to one of `allowedClients` (the API
// server's kubelet-client CN) gets in. Paths as the kubelet's:
//   GET /containerLogs/{ns}/{pod}/{container}?follow&tailLines&sinceSeconds&sinceTime&timestamps&previous&limitBytes
//   /exec/{ns}/{pod}/{container}?command=…&stdin&stdout&stderr&tty    (upgrade)
//   /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty            (upgrade)
//   /portForward/{ns}/{pod}                                           (upgrade)
// Upgrades: WebSocket `v5.channel.k8s.io`/`v4.channel.k8s.io` (exec, attach: kubectl ≥ 1.30),
// WebSocket `SPDY/3.1+portforward.k8s.io` (port-forward, kubectl ≥ 1.31: SPDY inside binary
// messages), and plain `SPDY/3.1` with X-Stream-Protocol-Version (what older kubectl send and
// newer ones fall back to).

const SPDY_REMOTE_COMMAND = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
const TUNNELED_PORT_FORWARD = 'SPDY/3.1+portforward.k8s.io';

export interface StreamingServerOptions {
  streams: ContainerStreams;
  logger: Logger;
  certPem: string;
  keyPem: string;
  /** PEM of the CA whose client certificates are accepted (the cluster CA). */
  clientCaPem: string;
  /** Accepted client certificate common names. Default [KUBELET_CLIENT_CN]. */
  allowedClients?: string[];
  /** How long a SPDY client has to open the streams it asked for. Default 30 s. */
  streamCreationTimeoutMs?: number;
}

interface CommandParams {
  kind: 'exec' | 'attach';
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** One side of a remote command's transport (WebSocket channels or SPDY streams). */
interface CommandIO {
  stdout(b: Buffer): void;
  stderr(b: Buffer): void;
  /** Writes the Status and ends the session. */
  finish(s: ExecStatus): void;
}

export class StreamingServer {
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (set) => selectProtocol(set, [...REMOTE_COMMAND_PROTOCOLS, TUNNELED_PORT_FORWARD]) ?? false });
  private readonly log: Logger;
  private readonly sockets = new Set<Duplex>();
  private readonly aborts = new Set<AbortController>();

  constructor(private readonly opts: StreamingServerOptions) {
    this.log = opts.logger.child({ component: 'streaming' });
  }

  /** Listens on HOST:PORT (0: a free port); returns the port. */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer(
      { cert: this.opts.certPem, key: this.opts.keyPem, ca: this.opts.clientCaPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => this.request(req, res),
    );
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('tlsClientError', () => undefined);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const a of this.aborts) a.abort();
    for (const c of this.wss.clients) c.terminate();
    for (const s of this.sockets) s.destroy();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** The client certificate's CN when it is one of the allowed callers. */
  private authorized(socket: Duplex): boolean {
    const tls = socket as TLSSocket;
    if (!tls.authorized) return false;
    const cn = tls.getPeerCertificate()?.subject?.CN;
    const allowed = this.opts.allowedClients ?? [KUBELET_CLIENT_CN];
    return typeof cn === 'string' && allowed.includes(cn);
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const fail = (err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendStatus(res, err);
    };
    if (!this.authorized(req.socket)) return fail(new WharfError('Forbidden', 'the streaming endpoint accepts only the API server'));
    const url = new URL(req.url ?? '/', 'https://x');
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (seg[0] === 'healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (seg[0] === 'containerLogs' && seg.length === 4 && req.method === 'GET') {
      this.logs(req, res, seg[1]!, seg[2]!, seg[3]!, url.searchParams).catch(fail);
      return;
    }
    if (['exec', 'attach', 'portForward'].includes(seg[0] ?? '')) return fail(new WharfError('InvalidArgument', 'Upgrade request required'));
    fail(new WharfError('NotFound', `no such streaming endpoint: ${url.pathname}`));
  }

  private async logs(req: IncomingMessage, res: ServerResponse, ns: string, pod: string, container: string, q: URLSearchParams): Promise<void> {
    const opts = checkLogOptions(q, Date.now());
    const previous = q.get('previous') === 'true' || q.get('previous') === '1';
    const c = await this.opts.streams.resolve({ namespace: ns, pod, container }, { previous });
    const ac = new AbortController();
    this.aborts.add(ac);
    const stop = () => ac.abort();
    res.on('close', stop);
    try {
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
      res.flushHeaders();
      const entries = this.opts.streams.logs(c.id, {
        follow: opts.follow === true && !previous,
        ...(opts.tailLines !== undefined ? { tail: opts.tailLines } : {}),
        ...(opts.sinceMs !== undefined ? { sinceMs: opts.sinceMs } : {}),
        signal: ac.signal,
      });
      for await (const chunk of formatLogs(entries, opts)) {
        if (ac.signal.aborted) break;
        if (!res.write(chunk)) await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          ac.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
    } finally {
      this.aborts.delete(ac);
      res.off('close', stop);
      if (!res.writableEnded) res.end();
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const reject = (err: unknown) => rejectUpgrade(socket, err);
    if (!this.authorized(socket)) return reject(new WharfError('Forbidden', 'the streaming endpoint accepts only the API server'));
    const url = new URL(req.url ?? '/', 'https://x');
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    const kind = seg[0];
    const upgradeTo = (req.headers.upgrade ?? '').toLowerCase();
    const run = async () => {
      if ((kind === 'exec' || kind === 'attach') && seg.length === 4) {
        const params = commandParams(kind, q);
        const c = await this.opts.streams.resolve({ namespace: seg[1]!, pod: seg[2]!, container: seg[3]! });
        if (!c.running) throw new WharfError('NotFound', `container not found (${JSON.stringify(seg[3])})`);
        if (upgradeTo === 'websocket') return this.wsCommand(req, socket, head, c, params);
        if (upgradeTo === 'spdy/3.1') return this.spdyCommand(req, socket, head, c, params);
        throw new WharfError('InvalidArgument', `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}: use websocket or SPDY/3.1`);
      }
      if (kind === 'portForward' && seg.length === 3) {
        const address = await this.opts.streams.podAddress(seg[1]!, seg[2]!);
        if (upgradeTo === 'websocket') return this.wsPortForward(req, socket, head, address);
        if (upgradeTo === 'spdy/3.1') return this.spdyPortForward(req, socket, head, address);
        throw new WharfError('InvalidArgument', `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}: use websocket or SPDY/3.1`);
      }
      throw new WharfError('NotFound', `no such streaming endpoint: ${url.pathname}`);
    };
    run().catch((err: unknown) => {
      if (!isWharfError(err) || err.kind === 'Internal') this.log.warn({ err: errorMessage(err), path: url.pathname }, 'stream failed');
      reject(err);
    });
  }

  // ---------- exec / attach ----------

  private wsCommand(req: IncomingMessage, socket: Duplex, head: Buffer, c: ResolvedContainer, p: CommandParams): void {
    const protocol = selectProtocol(headerList(req.headers['sec-websocket-protocol']), REMOTE_COMMAND_PROTOCOLS);
    if (!protocol) throw new WharfError('InvalidArgument', `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(headerList(req.headers['sec-websocket-protocol']))}, server supports ${JSON.stringify(REMOTE_COMMAND_PROTOCOLS)}`);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      let proc: ProcessStreams | undefined;
      let stdinEnded = false;
      const early: Buffer[] = [];
      let done = false;
      const size = new InitialSize(p.tty);
      const io: CommandIO = {
        stdout: (b) => sendWs(ws, encodeChannel(CHANNEL.stdout, b)),
        stderr: (b) => sendWs(ws, encodeChannel(CHANNEL.stderr, b)),
        finish: (s) => {
          if (done) return;
          done = true;
          sendWs(ws, encodeChannel(CHANNEL.error, JSON.stringify(s)));
          ws.close(1000);
        },
      };
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return;
        const m = decodeChannel(Buffer.isBuffer(data) ? data : Buffer.from(data));
        if (!m) return;
        this.log.trace({ channel: m.channel, bytes: m.data.length }, 'ws message');
        if (m.channel === CHANNEL.stdin && p.stdin) {
          if (proc) proc.write(m.data);
          else early.push(m.data);
        } else if (m.channel === CHANNEL.resize && p.tty) {
          const s = parseResize(m.data);
          if (s && proc) void proc.resize(s.rows, s.cols).catch(() => undefined);
          else if (s) size.set(s);
        } else if (m.channel === CHANNEL.close && protocol === 'v5.channel.k8s.io' && m.data[0] === CHANNEL.stdin) {
          stdinEnded = true;
          proc?.endStdin();
        }
      });
      ws.on('error', () => undefined);
      ws.on('close', () => {
        done = true;
        proc?.close();
      });
      void size
        .first()
        .then((first) => this.startProcess(c, p, io, first))
        .then((pr) => {
          proc = pr;
          if (!pr) return;
          const last = size.latest();
          if (last) void pr.resize(last.rows, last.cols).catch(() => undefined);
          for (const b of early) pr.write(b);
          if (stdinEnded) pr.endStdin();
          if (done) pr.close();
        })
        .catch(() => undefined);
    });
  }

  private spdyCommand(req: IncomingMessage, socket: Duplex, head: Buffer, c: ResolvedContainer, p: CommandParams): void {
    const protocol = selectProtocol(headerList(req.headers['x-stream-protocol-version']), SPDY_REMOTE_COMMAND);
    if (!protocol) throw new WharfError('InvalidArgument', `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(headerList(req.headers['x-stream-protocol-version']))}, server supports ${JSON.stringify(SPDY_REMOTE_COMMAND)}`);
    const session = this.spdyUpgrade(socket, head, protocol);
    const want = new Set<string>(['error']);
    if (p.stdin) want.add('stdin');
    if (p.stdout) want.add('stdout');
    if (p.stderr && !p.tty) want.add('stderr');
    if (p.tty) want.add('resize');
    const got = new Map<string, SpdyStream>();
    let started = false;
    const timer = setTimeout(() => {
      if (!started) session.close();
    }, this.opts.streamCreationTimeoutMs ?? 30_000);
    session.on('stream', (s) => {
      s.reply();
      const type = s.headers.streamtype ?? '';
      if (!want.has(type) || got.has(type)) {
        s.reset();
        return;
      }
      got.set(type, s);
      if (type !== 'stdin' && type !== 'resize') s.resume();
      if (started || got.size < want.size) return;
      started = true;
      clearTimeout(timer);
      const io: CommandIO = {
        stdout: (b) => got.get('stdout')?.write(b),
        stderr: (b) => got.get('stderr')?.write(b),
        finish: (st) => {
          got.get('stdout')?.end();
          got.get('stderr')?.end();
          const e = got.get('error')!;
          e.end(Buffer.from(JSON.stringify(st)), () => setTimeout(() => session.close(), 50));
        },
      };
      const size = new InitialSize(p.tty);
      let proc: ProcessStreams | undefined;
      let buffered = '';
      got.get('resize')?.on('data', (b: Buffer) => {
        const { objects, rest } = splitJsonObjects(buffered + b.toString());
        buffered = rest;
        for (const o of objects) {
          const s = parseResize(o);
          if (s && proc) void proc.resize(s.rows, s.cols).catch(() => undefined);
          else if (s) size.set(s);
        }
      });
      void size
        .first()
        .then((first) => this.startProcess(c, p, io, first))
        .then((pr) => {
          if (!pr) return;
          proc = pr;
          const last = size.latest();
          if (last) void pr.resize(last.rows, last.cols).catch(() => undefined);
          const stdin = got.get('stdin');
          stdin?.on('data', (b: Buffer) => pr.write(b));
          stdin?.on('end', () => pr.endStdin());
          session.once('close', () => pr.close());
        });
    });
    session.once('close', () => clearTimeout(timer));
  }

  /**
   * Starts the process and wires its output to `io`; `io.finish` gets the Status once it ends
   * (exit code for exec). A command that cannot start reports its message on stderr and
   * Docker's exit codes (127 not found, 126 otherwise).
   */
  private async startProcess(c: ResolvedContainer, p: CommandParams, io: CommandIO, size?: { rows: number; cols: number }): Promise<ProcessStreams | undefined> {
    let proc: ProcessStreams;
    try {
      proc = p.kind === 'exec' ? await this.opts.streams.exec(c.id, p.command, { tty: p.tty, stdin: p.stdin, ...(size ? { size } : {}) }) : await this.opts.streams.attach(c.id, { stdin: p.stdin });
    } catch (err) {
      const msg = errorMessage(err);
      if (p.kind === 'attach' || isWharfError(err, 'NotFound') || isWharfError(err, 'Conflict')) {
        io.finish(errorStatus(msg));
        return undefined;
      }
      const code = /executable file not found|no such file or directory/i.test(msg) ? 127 : 126;
      if (p.stderr || p.tty) (p.tty ? io.stdout : io.stderr)(Buffer.from(`${msg}\n`));
      io.finish(exitStatus(code, p.command));
      return undefined;
    }
    if (p.stdout || p.tty) proc.on('stdout', (b) => io.stdout(b));
    if (p.stderr && !p.tty) proc.on('stderr', (b) => io.stderr(b));
    const ended = new Promise<void>((resolve) => proc.once('end', resolve));
    proc.resume();
    void proc.exited.then(async (code) => {
      // Output may still be in flight when the exit code arrives: wait for the stream's end (bounded).
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
      io.finish(code === undefined || code === 0 ? exitStatus(0) : exitStatus(code, p.command));
    }, (err: unknown) => io.finish(errorStatus(errorMessage(err))));
    return proc;
  }

  // ---------- port-forward ----------

  private wsPortForward(req: IncomingMessage, socket: Duplex, head: Buffer, address: string): void {
    const offered = headerList(req.headers['sec-websocket-protocol']);
    if (!offered.includes(TUNNELED_PORT_FORWARD)) {
      throw new WharfError('InvalidArgument', `unable to upgrade: port-forward over WebSocket needs the subprotocol ${TUNNELED_PORT_FORWARD} (client offered ${JSON.stringify(offered)})`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new SpdySession({ write: (b) => sendWs(ws, b), close: () => ws.close(1000) });
      this.watchSession(session);
      ws.on('message', (data: Buffer) => session.receive(Buffer.isBuffer(data) ? data : Buffer.from(data)));
      ws.on('close', () => session.transportClosed());
      ws.on('error', () => undefined);
      this.portForward(session, address);
    });
  }

  private spdyPortForward(req: IncomingMessage, socket: Duplex, head: Buffer, address: string): void {
    const offered = headerList(req.headers['x-stream-protocol-version']);
    if (!offered.includes(PORT_FORWARD_PROTOCOL)) throw new WharfError('InvalidArgument', `unable to upgrade: port-forward needs X-Stream-Protocol-Version ${PORT_FORWARD_PROTOCOL}`);
    this.portForward(this.spdyUpgrade(socket, head, PORT_FORWARD_PROTOCOL), address);
  }

  /**
   * kubectl's port-forward streams: per connection an `error` stream then a `data` stream with
   * the same `requestid` and `port`; the data stream is joined to a TCP connection to the pod.
   */
  private portForward(session: SpdySession, address: string): void {
    const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
    session.on('stream', (s) => {
      s.reply();
      const type = s.headers.streamtype;
      const port = Number(s.headers.port);
      const key = `${s.headers.requestid ?? ''}/${s.headers.port ?? ''}`;
      if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) {
        if (type === 'error') s.end(`invalid port ${JSON.stringify(s.headers.port ?? '')}`);
        else s.reset();
        return;
      }
      const pair = pairs.get(key) ?? {};
      pairs.set(key, pair);
      if (type === 'error') {
        pair.error = s;
        s.resume();
        return;
      }
      pair.data = s;
      pairs.delete(key);
      const tcp = netConnect({ host: address, port });
      const fail = (msg: string) => {
        const e = pair.error;
        if (e && !e.writableEnded) e.end(`error forwarding port ${port} to pod ${address}: ${msg}`);
        if (!s.writableEnded) s.end();
      };
      tcp.on('connect', () => {
        s.on('data', (b: Buffer) => tcp.write(b));
        s.on('end', () => tcp.end());
        s.on('close', () => tcp.destroy());
      });
      tcp.on('data', (b: Buffer) => s.write(b));
      tcp.on('end', () => {
        if (!s.writableEnded) s.end();
        pair.error?.end();
      });
      tcp.on('error', (e: Error) => fail(e.message));
      session.once('close', () => tcp.destroy());
    });
  }

  private watchSession(session: SpdySession): void {
    session.on('error', (err) => this.log.warn({ err: errorMessage(err) }, 'spdy session failed'));
    session.on('stream', (s) => this.log.debug({ stream: s.id, headers: s.headers }, 'spdy stream'));
  }

  /** Answers a plain SPDY/3.1 upgrade and returns the session over the raw socket. */
  private spdyUpgrade(socket: Duplex, head: Buffer, protocol: string): SpdySession {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    const session = new SpdySession({ write: (b) => socket.write(b), close: () => socket.end() });
    this.watchSession(session);
    if (head.length) session.receive(head);
    socket.on('data', (b: Buffer) => session.receive(b));
    socket.on('close', () => session.transportClosed());
    socket.on('end', () => session.close());
    return session;
  }
}

/**
 * The terminal size a TTY client sends right after connecting (kubectl does): a TTY process
 * starts once it is known (or after a short wait), so it starts with the client's size.
 */
class InitialSize {
  private size: { rows: number; cols: number } | undefined;
  private waiter: (() => void) | undefined;

  constructor(private readonly tty: boolean) {}

  set(s: { rows: number; cols: number }): void {
    this.size = s;
    this.waiter?.();
  }

  latest(): { rows: number; cols: number } | undefined {
    const s = this.size;
    this.size = undefined;
    return s;
  }

  first(waitMs = 1000): Promise<{ rows: number; cols: number } | undefined> {
    if (!this.tty || this.size) return Promise.resolve(this.latest());
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.latest()), waitMs);
      this.waiter = () => {
        clearTimeout(t);
        this.waiter = undefined;
        resolve(this.latest());
      };
    });
  }
}

function commandParams(kind: 'exec' | 'attach', q: URLSearchParams): CommandParams {
  const flag = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
  const command = q.getAll('command');
  if (kind === 'exec' && command.length === 0) throw new WharfError('InvalidArgument', 'you must specify at least 1 command');
  const p: CommandParams = { kind, command, stdin: flag('input') || flag('stdin'), stdout: flag('output') || flag('stdout'), stderr: flag('error') || flag('stderr'), tty: flag('tty') };
  if (!p.stdin && !p.stdout && !p.stderr) throw new WharfError('InvalidArgument', 'you must specify at least 1 of stdin, stdout, stderr');
  return p;
}

function sendWs(ws: WebSocket, b: Buffer): void {
  if (ws.readyState === ws.OPEN) ws.send(b, { binary: true });
}

const CODES: Partial<Record<string, number>> = { InvalidArgument: 400, NotFound: 404, Forbidden: 403, Unauthorized: 401, Conflict: 409, Unavailable: 503, Timeout: 504, Unsupported: 400 };
const REASONS: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' };

function statusBody(err: unknown): { code: number; body: string } {
  const code = (isWharfError(err) ? CODES[err.kind] : undefined) ?? 500;
  const message = errorMessage(err);
  return { code, body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'InternalError', code }) };
}

function sendStatus(res: ServerResponse, err: unknown): void {
  const { code, body } = statusBody(err);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function rejectUpgrade(socket: Duplex, err: unknown): void {
  if (socket.destroyed) return;
  const { code, body } = statusBody(err);
  socket.end(`HTTP/1.1 ${code} ${REASONS[code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
