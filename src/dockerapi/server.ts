import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import FindMyWay from 'find-my-way';
import type { Logger } from '../core/log.js';
import { WharfError, errorMessage, isWharfError } from '../core/errors.js';
import { API_VERSION, checkVersion, splitVersion } from './api-version.js';
import { statusForError } from './status.js';
import { HttpApiResponse, UpgradeApiResponse } from './response.js';
import type { ApiRequest, ApiResponse, Handler, Method, Route, Router } from './router.js';

// The Docker Engine API server: node:http for the wire (it exposes the raw 'upgrade' socket and
// half-closed connections, which attach/exec need) and find-my-way for routing.

export interface ApiServerOptions {
  logger: Logger;
  routers: readonly Router[];
  /** Wharf's version, shown in the `Server` header. */
  serverVersion: string;
  /** Largest body buffered by the server for an upgrade request (exec start JSON). */
  upgradeBodyLimit?: number;
  /** How long close() waits for open requests before cutting them. */
  shutdownGraceMs?: number;
}

interface WildRoute {
  re: RegExp;
  names: string[];
  route: Route;
}

type Match = { route: Route; params: Record<string, string> } | undefined;

const METHODS: readonly Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

export class ApiServer {
  private readonly log: Logger;
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, maxParamLength: 1000 });
  private readonly wild = new Map<string, WildRoute[]>();
  private readonly servers: { server: Server; path: string }[] = [];
  private readonly hijacked = new Set<Socket>();
  private readonly baseHeaders: Record<string, string>;
  private closing = false;

  constructor(private readonly opts: ApiServerOptions) {
    this.log = opts.logger.child({ component: 'dockerapi' });
    this.baseHeaders = {
      'Api-Version': API_VERSION,
      'Docker-Experimental': 'false',
      Ostype: 'linux',
      Server: `Wharf/${opts.serverVersion} (linux)`,
    };
    for (const r of opts.routers) for (const route of r.routes()) this.add(route);
  }

  private add(route: Route): void {
    const star = route.path.indexOf('*');
    if (star < 0) {
      this.fmw.on(route.method, route.path, () => undefined, { route });
      return;
    }
    // `/images/*name/json` → find-my-way wildcard `/images/*` + our regex over the tail.
    const prefix = route.path.slice(0, star);
    const tail = route.path.slice(star);
    const names: string[] = [];
    const reSrc = tail
      .split('/')
      .map((seg) => {
        if (seg.startsWith('*')) {
          names.push(seg.slice(1));
          return '(.+)';
        }
        if (seg.startsWith(':')) {
          names.push(seg.slice(1));
          return '([^/]+)';
        }
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    const key = `${route.method} ${prefix}`;
    let list = this.wild.get(key);
    if (!list) {
      list = [];
      this.wild.set(key, list);
      this.fmw.on(route.method, `${prefix}*`, () => undefined, { wild: list });
    }
    list.push({ re: new RegExp(`^${reSrc}$`), names, route });
  }

  private match(method: string, path: string): Match {
    if (!METHODS.includes(method as Method)) return undefined;
    const found = this.fmw.find(method as Method, path);
    if (!found) return undefined;
    const store = found.store as { route?: Route; wild?: WildRoute[] };
    if (store.route) return { route: store.route, params: { ...(found.params as Record<string, string>) } };
    const tail = (found.params as Record<string, string>)['*'] ?? '';
    for (const w of store.wild ?? []) {
      const m = w.re.exec(tail);
      if (!m) continue;
      const params: Record<string, string> = {};
      w.names.forEach((n, i) => (params[n] = m[i + 1]!));
      return { route: w.route, params };
    }
    return undefined;
  }

  /** Listens on a unix socket (removing a stale socket file first is the caller's job). */
  async listenUnix(path: string): Promise<void> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.onUpgrade(req, socket, head));
    server.on('clientError', (err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      this.log.debug({ err: errorMessage(err) }, 'client error');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o660);
    this.servers.push({ server, path });
    this.log.info({ socket: path }, 'API listening');
  }

  /** Stops accepting, lets open requests finish for a grace period, then cuts them; removes the sockets. */
  async close(): Promise<void> {
    this.closing = true;
    const grace = this.opts.shutdownGraceMs ?? 2_000;
    await Promise.all(
      this.servers.map(async ({ server, path }) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), grace);
        for (const s of this.hijacked) s.destroy();
        await closed;
        clearTimeout(timer);
        await unlink(path).catch(() => undefined);
      }),
    );
    this.servers.length = 0;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort(new WharfError('Unavailable', 'client went away'));
    });
    const out = new HttpApiResponse(req, res, this.baseHeaders);
    if (this.closing) res.setHeader('Connection', 'close');
    const status = await this.dispatch(req, req, out, ac.signal);
    this.log.debug({ method: req.method, url: req.url, status, ms: Math.round(performance.now() - started) }, 'request');
  }

  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const ac = new AbortController();
    socket.on('close', () => ac.abort(new WharfError('Unavailable', 'client went away')));
    socket.on('error', (err) => this.log.debug({ err: errorMessage(err) }, 'hijacked socket error'));
    const out = new UpgradeApiResponse(socket, this.baseHeaders, (s) => {
      this.hijacked.add(s);
      s.once('close', () => this.hijacked.delete(s));
    });
    let body: Buffer;
    try {
      body = await readUpgradeBody(socket, head, req.headers, this.opts.upgradeBodyLimit ?? 1024 * 1024);
    } catch (err) {
      this.sendError(out, err, req);
      return;
    }
    const status = await this.dispatch(req, Readable.from(body.length ? [body] : []), out, ac.signal);
    this.log.debug({ method: req.method, url: req.url, status, upgrade: true }, 'request');
  }

  /** Routes one request and turns a thrown error into Docker's `{"message"}` body. Returns the status sent. */
  private async dispatch(req: IncomingMessage, body: Readable, out: ApiResponse, signal: AbortSignal): Promise<number | undefined> {
    let statusSent: number | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://docker');
      const { version, path, explicit } = splitVersion(url.pathname);
      if (explicit) checkVersion(version);
      const m = this.match(req.method ?? 'GET', path);
      if (!m) throw new WharfError('NotFound', 'page not found');
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.params)) params[k] = safeDecode(v);
      const apiReq: ApiRequest = {
        method: req.method as Method,
        path,
        version,
        params,
        query: url.searchParams,
        headers: req.headers,
        body,
        signal,
      };
      await (m.route.handler as Handler)(apiReq, out);
      statusSent = 200;
    } catch (err) {
      statusSent = this.sendError(out, err, req);
    }
    return statusSent;
  }

  private sendError(out: ApiResponse, err: unknown, req: IncomingMessage): number {
    const status = statusForError(err);
    const message = errorMessage(err);
    if (status >= 500) this.log.error({ err: message, method: req.method, url: req.url, cause: isWharfError(err) ? errorMessage(err.cause) : undefined }, 'request failed');
    else this.log.debug({ err: message, status, method: req.method, url: req.url }, 'request refused');
    if (out.headersSent) {
      // Mid-stream: nothing more to say over HTTP; the handler's stream is cut.
      return status;
    }
    out.json(status, { message });
    return status;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The body of an upgrade request (exec start sends its JSON with the upgrade) is the first
 * Content-Length bytes after the headers; whatever follows belongs to the hijacked stream.
 */
async function readUpgradeBody(socket: Socket, head: Buffer, headers: IncomingMessage['headers'], limit: number): Promise<Buffer> {
  const length = Number(headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(length) || length < 0) throw new WharfError('InvalidArgument', 'bad Content-Length');
  if (length > limit) throw new WharfError('TooLarge', `request body too large: ${length} bytes (limit ${limit})`);
  if (head.length >= length) {
    if (head.length > length) socket.unshift(head.subarray(length));
    return head.subarray(0, length);
  }
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [head];
    let n = head.length;
    const onData = (c: Buffer) => {
      parts.push(c);
      n += c.length;
      if (n < length) return;
      cleanup();
      socket.pause();
      const all = Buffer.concat(parts);
      if (all.length > length) socket.unshift(all.subarray(length));
      resolve(all.subarray(0, length));
    };
    const onEnd = () => {
      cleanup();
      reject(new WharfError('InvalidArgument', 'request body truncated'));
    };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}
