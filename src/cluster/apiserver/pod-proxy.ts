import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WharfError, isWharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { resourceByKind } from '../apis/registry.js';
import { STREAMING_CERT_ANNOTATION, isPodStreamSubresource, type PodStreamSubresource } from '../apis/streaming.js';
import type { ObjectStorage } from './object-storage.js';
import { statusFromError } from './status.js';
import { authorize, type Principal } from './tokens.js';
import type { KubeletClientCredentials } from './kubelet-client-cert.js';

// pods/log, pods/exec, pods/attach and pods/portforward: the API server checks the pod as
// Kubernetes does, finds its node's streaming endpoint (Node status.addresses and
// status.daemonEndpoints.kubeletEndpoint.Port), connects with its kubelet-client certificate,
// pins the node's serving certificate by the fingerprint the node published, and passes the
// request through: logs as a streamed HTTP response, the others as an upgraded connection
// (WebSocket or SPDY) relayed byte for byte. The stream protocols are the node's business.

type Obj = Record<string, any>;

export interface PodProxyOptions {
  storage: ObjectStorage;
  logger: Logger;
  /** Absent: pod streaming is off (503). */
  credentials?: KubeletClientCredentials;
  connectTimeoutMs?: number;
}

const LOG_PARAMS = ['follow', 'previous', 'sinceSeconds', 'sinceTime', 'timestamps', 'tailLines', 'limitBytes'];
const COMMAND_PARAMS = ['command', 'stdin', 'stdout', 'stderr', 'tty', 'input', 'output', 'error'];
const FORWARDED_HEADERS = ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions', 'x-stream-protocol-version', 'user-agent'];

interface Target {
  address: string;
  port: number;
  fingerprint: string;
  nodeName: string;
  path: string;
}

export class PodProxy {
  private readonly log: Logger;

  constructor(private readonly opts: PodProxyOptions) {
    this.log = opts.logger.child({ component: 'pod-proxy' });
  }

  /** A plain HTTP request on a pod stream subresource (already authorized by the caller): logs, or 400 for the upgrade-only ones. */
  async http(req: IncomingMessage, res: ServerResponse, method: string, ns: string, name: string, sub: PodStreamSubresource, q: URLSearchParams): Promise<void> {
    if (sub !== 'log') {
      if (method !== 'GET' && method !== 'POST') throw new WharfError('InvalidArgument', `method ${method} is not supported on pods/${sub}`, { details: { reason: 'MethodNotAllowed' } });
      throw new WharfError('InvalidArgument', 'Upgrade request required');
    }
    if (method !== 'GET') throw new WharfError('InvalidArgument', `method ${method} is not supported on pods/log`, { details: { reason: 'MethodNotAllowed' } });
    const t = await this.target(ns, name, sub, q);
    const sock = await this.dial(t);
    await new Promise<void>((resolve, reject) => {
      const up = httpRequest({ createConnection: () => sock, method: 'GET', path: t.path, headers: { host: `${t.address}:${t.port}` } }, (ur) => {
        const headers: Record<string, string> = { 'content-type': String(ur.headers['content-type'] ?? 'text/plain'), 'cache-control': 'no-cache, private' };
        res.writeHead(ur.statusCode ?? 502, headers);
        res.flushHeaders();
        ur.pipe(res);
        ur.on('end', resolve);
        ur.on('error', () => resolve());
      });
      const stop = () => up.destroy();
      res.on('close', stop);
      up.on('error', (e) => (res.headersSent ? resolve() : reject(new WharfError('Unavailable', `node ${t.nodeName}: ${e.message}`, { cause: e }))));
      up.end();
    }).finally(() => sock.destroy());
  }

  /** The `upgrade` listener: authenticates, authorizes, checks the pod, then relays the connection. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, authenticate: (req: IncomingMessage) => Principal | undefined): void {
    socket.on('error', () => undefined);
    this.relay(req, socket, head, authenticate).catch((err: unknown) => {
      if (!isWharfError(err) || err.kind === 'Internal') this.log.warn({ err, path: req.url }, 'pod stream failed');
      rejectUpgrade(socket, err);
    });
  }

  private async relay(req: IncomingMessage, socket: Duplex, head: Buffer, authenticate: (req: IncomingMessage) => Principal | undefined): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // /api/v1/namespaces/{ns}/pods/{name}/{sub}
    const ok = seg.length === 7 && seg[0] === 'api' && seg[1] === 'v1' && seg[2] === 'namespaces' && seg[4] === 'pods';
    const sub = seg[6];
    if (!ok || !isPodStreamSubresource(sub) || sub === 'log') throw new WharfError('NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`);
    const who = authenticate(req);
    if (!who) throw new WharfError('Unauthorized', 'Unauthorized: a bearer token is required (Authorization: Bearer TOKEN)');
    const ns = seg[3]!;
    const name = seg[5]!;
    const denied = authorize(who, { verb: 'create', group: '', resource: 'pods', subresource: sub, namespace: ns, name });
    if (denied) throw new WharfError('Forbidden', denied);
    const t = await this.target(ns, name, sub, url.searchParams);
    const up = await this.dial(t);
    const lines = [`${req.method ?? 'GET'} ${t.path} HTTP/1.1`, `Host: ${t.address}:${t.port}`];
    for (const h of FORWARDED_HEADERS) {
      const v = req.headers[h];
      if (v !== undefined) lines.push(`${h}: ${Array.isArray(v) ? v.join(', ') : v}`);
    }
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
    socket.pipe(up);
    up.pipe(socket);
  }

  /** The pod's node endpoint and the node path, after the API server's own checks of the pod. */
  private async target(ns: string, name: string, sub: PodStreamSubresource, q: URLSearchParams): Promise<Target> {
    if (!this.opts.credentials) throw new WharfError('Unavailable', 'pod streaming (logs, exec, attach, port-forward) is not configured on this API server');
    const pod = (await this.opts.storage.get(resourceByKind('v1', 'Pod')!, ns, name)) as Obj;
    let container = '';
    if (sub !== 'portforward') {
      container = podContainer(pod, q.get('container') ?? '');
      const phase = pod.status?.phase as string | undefined;
      if ((sub === 'exec' || sub === 'attach') && (phase === 'Succeeded' || phase === 'Failed')) {
        throw new WharfError('InvalidArgument', `cannot ${sub === 'exec' ? 'exec into' : 'attach to'} a container in a completed pod; current phase is ${phase}`);
      }
    }
    const nodeName = pod.spec?.nodeName as string | undefined;
    if (!nodeName) throw new WharfError('InvalidArgument', `pod ${name} does not have a host assigned`);
    let node: Obj;
    try {
      node = (await this.opts.storage.get(resourceByKind('v1', 'Node')!, undefined, nodeName)) as Obj;
    } catch (e) {
      if (isWharfError(e, 'NotFound')) throw new WharfError('Unavailable', `node ${nodeName} of pod ${name} is not registered`, { cause: e });
      throw e;
    }
    const addrs = (node.status?.addresses ?? []) as { type: string; address: string }[];
    const address = ['InternalIP', 'ExternalIP', 'Hostname'].map((t) => addrs.find((a) => a.type === t)?.address).find(Boolean);
    const port = Number(node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0);
    const fingerprint = (node.metadata?.annotations?.[STREAMING_CERT_ANNOTATION] as string | undefined) ?? '';
    if (!address || !(port > 0 && port < 65536) || !fingerprint) {
      throw new WharfError('Unavailable', `node ${nodeName} publishes no streaming endpoint (status.addresses, status.daemonEndpoints.kubeletEndpoint.Port and the ${STREAMING_CERT_ANNOTATION} annotation)`);
    }
    const keep = new URLSearchParams();
    for (const [k, v] of q) if ((sub === 'log' ? LOG_PARAMS : sub === 'portforward' ? ['ports'] : COMMAND_PARAMS).includes(k)) keep.append(k, v);
    const qs = keep.toString() ? `?${keep.toString()}` : '';
    const e = encodeURIComponent;
    const path =
      sub === 'log'
        ? `/containerLogs/${e(ns)}/${e(name)}/${e(container)}${qs}`
        : sub === 'portforward'
          ? `/portForward/${e(ns)}/${e(name)}${qs}`
          : `/${sub}/${e(ns)}/${e(name)}/${e(container)}${qs}`;
    return { address, port, fingerprint, nodeName, path };
  }

  /** A TLS connection to the node, its certificate checked against the published fingerprint. */
  private dial(t: Target): Promise<TLSSocket> {
    const creds = this.opts.credentials!;
    return new Promise((resolve, reject) => {
      const sock = tlsConnect({ host: t.address, port: t.port, cert: creds.certPem, key: creds.keyPem, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new WharfError('Unavailable', `node ${t.nodeName}: no connection to ${t.address}:${t.port} after ${this.opts.connectTimeoutMs ?? 10_000} ms`));
      }, this.opts.connectTimeoutMs ?? 10_000);
      sock.once('secureConnect', () => {
        clearTimeout(timer);
        const got = sock.getPeerCertificate()?.fingerprint256 ?? '';
        if (got.replace(/:/g, '').toLowerCase() !== t.fingerprint.replace(/:/g, '').toLowerCase()) {
          sock.destroy();
          reject(new WharfError('Unavailable', `node ${t.nodeName}: its streaming endpoint's certificate does not match the fingerprint it published`));
          return;
        }
        resolve(sock);
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new WharfError('Unavailable', `node ${t.nodeName}: ${e.message}`, { cause: e }));
      });
    });
  }
}

/** The container a request means, as the Kubernetes API server picks and checks it. */
export function podContainer(pod: Obj, requested: string): string {
  const name = pod.metadata?.name as string;
  const app = ((pod.spec?.containers ?? []) as { name: string }[]).map((c) => c.name);
  const init = ((pod.spec?.initContainers ?? []) as { name: string }[]).map((c) => c.name);
  if (!requested) {
    if (app.length === 1) return app[0]!;
    throw new WharfError('InvalidArgument', `a container name must be specified for pod ${name}, choose one of: [${app.join(' ')}]${init.length ? ` or one of the init containers: [${init.join(' ')}]` : ''}`);
  }
  if (!app.includes(requested) && !init.includes(requested)) throw new WharfError('InvalidArgument', `container ${requested} is not valid for pod ${name}`);
  return requested;
}

function rejectUpgrade(socket: Duplex, err: unknown): void {
  if (socket.destroyed) return;
  const st = statusFromError(err);
  const body = JSON.stringify(st);
  socket.end(`HTTP/1.1 ${st.code} ${st.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
