import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { WharfError } from '../core/errors.js';
import type { ApiResponse, HijackMediaType, HijackedConnection } from './router.js';

function jsonBytes(body: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(body)}\n`, 'utf8');
}

/** A response on a normal HTTP exchange (node's ServerResponse). */
export class HttpApiResponse implements ApiResponse {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    baseHeaders: Readonly<Record<string, string>>,
  ) {
    for (const [k, v] of Object.entries(baseHeaders)) res.setHeader(k, v);
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  setHeader(name: string, value: string): void {
    this.res.setHeader(name, value);
  }

  json(status: number, body: unknown): void {
    if (status === 304 || status === 204) return this.empty(status);
    const b = jsonBytes(body);
    this.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': b.length });
    this.res.end(b);
  }

  empty(status: number): void {
    this.res.writeHead(status);
    this.res.end();
  }

  text(status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
    const b = Buffer.from(body, 'utf8');
    this.res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': b.length });
    this.res.end(this.req.method === 'HEAD' ? undefined : b);
  }

  stream(status: number, contentType: string): Writable {
    this.res.writeHead(status, { 'Content-Type': contentType });
    this.res.flushHeaders();
    return this.res;
  }

  hijack(mediaType: HijackMediaType): HijackedConnection {
    // A client that did not ask for an upgrade (e.g. dockerode without hijack) gets a
    // 200 with the stream as its body, like moby does.
    this.res.writeHead(200, { 'Content-Type': mediaType });
    this.res.flushHeaders();
    const res = this.res;
    return { input: detachedInput(this.req), output: res, upgraded: false, close: () => res.end() };
  }
}

/**
 * A response written by hand on the raw socket of an `Upgrade` request (node's 'upgrade' event).
 * Anything but hijack() answers and closes the connection.
 */
export class UpgradeApiResponse implements ApiResponse {
  private sent = false;
  private readonly headers = new Map<string, string>();

  constructor(
    private readonly socket: Socket,
    baseHeaders: Readonly<Record<string, string>>,
    private readonly onHijack: (socket: Socket) => void,
  ) {
    for (const [k, v] of Object.entries(baseHeaders)) this.headers.set(k, v);
  }

  get headersSent(): boolean {
    return this.sent;
  }

  setHeader(name: string, value: string): void {
    this.headers.set(name, value);
  }

  private head(status: number, reason: string, extra: Record<string, string | number>): string {
    this.assertUnsent();
    this.sent = true;
    const lines = [`HTTP/1.1 ${status} ${reason}`];
    for (const [k, v] of this.headers) lines.push(`${k}: ${v}`);
    for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  private assertUnsent(): void {
    if (this.sent) throw new WharfError('Internal', 'response already sent');
  }

  json(status: number, body: unknown): void {
    if (status === 304 || status === 204) return this.empty(status);
    const b = jsonBytes(body);
    this.socket.end(
      Buffer.concat([
        Buffer.from(this.head(status, STATUS_CODES[status] ?? '', { 'Content-Type': 'application/json', 'Content-Length': b.length, Connection: 'close' })),
        b,
      ]),
    );
  }

  empty(status: number): void {
    this.socket.end(this.head(status, STATUS_CODES[status] ?? '', { 'Content-Length': 0, Connection: 'close' }));
  }

  text(status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
    const b = Buffer.from(body, 'utf8');
    this.socket.end(
      Buffer.concat([
        Buffer.from(this.head(status, STATUS_CODES[status] ?? '', { 'Content-Type': contentType, 'Content-Length': b.length, Connection: 'close' })),
        b,
      ]),
    );
  }

  stream(status: number, contentType: string): Writable {
    // Close-delimited body: no chunking on a connection that will not be reused.
    this.socket.write(this.head(status, STATUS_CODES[status] ?? '', { 'Content-Type': contentType, Connection: 'close' }));
    const out = new PassThrough();
    out.pipe(this.socket);
    return out;
  }

  hijack(mediaType: HijackMediaType): HijackedConnection {
    this.socket.write(this.head(101, 'UPGRADED', { 'Content-Type': mediaType, Connection: 'Upgrade', Upgrade: 'tcp' }));
    this.onHijack(this.socket);
    const socket = this.socket;
    return { input: detachedInput(socket), output: socket, upgraded: true, close: () => socket.end() };
  }
}

/**
 * The handler reads stdin from a PassThrough fed by the socket, never from the socket itself:
 * finishing a `for await` over a stream destroys that stream, and destroying the socket would
 * lose everything the handler still wants to write after the client half-closed.
 */
function detachedInput(src: Readable): Readable {
  const input = new PassThrough();
  src.pipe(input);
  src.on('error', (err) => input.destroy(err));
  return input;
}
