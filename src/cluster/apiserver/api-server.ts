import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { WharfError, isWharfError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Store, WatchEvent } from '../../store/store.js';
import type { KubeObject } from '../apis/meta.js';
import { RESOURCES, apiVersionOf, groupVersions, resourceByPath, type ResourceInfo } from '../apis/registry.js';
import { parseFieldSelector, parseLabelSelector, matchesRequirements, matchesFields, selectorToString, type Requirement, type FieldRequirement } from '../apis/selectors.js';
import { ObjectStorage, resourcePrefix, type DeleteRequest } from './object-storage.js';
import { applyPatch, patchTypeOf } from './patch.js';
import { statusFromError, successStatus } from './status.js';
import { authorize, type AccessRequest, type Principal } from './tokens.js';
import { scaleSchema } from '../apis/apps-v1.js';
import { isPodStreamSubresource } from '../apis/streaming.js';
import { PodProxy } from './pod-proxy.js';
import type { KubeletClientCredentials } from './kubelet-client-cert.js';

// The cluster API server's HTTP layer: Kubernetes' URL layout, discovery, verbs, watch streams,
// bearer-token authentication and the role check. Transport (http/https, listen) is the caller's.

type Obj = Record<string, any>;

export interface Authenticator {
  authenticate(token: string): Principal | undefined;
}

export interface ApiServerOptions {
  store: Store;
  auth: Authenticator;
  clock: Clock;
  logger: Logger;
  /** Largest accepted request body (bytes). Default 3 MiB, like Kubernetes. */
  maxBodyBytes?: number;
  /** Interval of BOOKMARK events on watches that ask for them. Default 60 s. */
  bookmarkIntervalMs?: number;
  version: string;
  /** Range Service ClusterIPs are allocated from. Default 10.96.0.0/16. */
  serviceCidr?: string;
  /** The client certificate for nodes' streaming endpoints (pods/log, exec, attach, portforward). */
  kubeletClient?: KubeletClientCredentials;
}

interface Route {
  kind: 'resource';
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const VERSION_INFO = (v: string) => ({
  major: '1',
  minor: '31',
  gitVersion: `v1.31.0+wharf-${v}`,
  gitCommit: '',
  gitTreeState: 'clean',
  buildDate: '2026-11-26T00:00:00Z',
  goVersion: `node ${process.version}`,
  compiler: 'tsc',
  platform: `${process.platform}/${process.arch}`,
});

const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/livez', '/version']);

export class ApiServer {
  readonly storage: ObjectStorage;
  private readonly maxBody: number;
  private readonly bookmarkMs: number;
  private readonly log: Logger;
  private ready = true;
  private readonly streams = new Set<AbortController>();
  private readonly podProxy: PodProxy;

  constructor(private readonly opts: ApiServerOptions) {
    this.storage = new ObjectStorage(opts.store, opts.clock, opts.serviceCidr);
    this.podProxy = new PodProxy({ storage: this.storage, logger: opts.logger, ...(opts.kubeletClient ? { credentials: opts.kubeletClient } : {}) });
    this.maxBody = opts.maxBodyBytes ?? 3 * 1024 * 1024;
    this.bookmarkMs = opts.bookmarkIntervalMs ?? 60_000;
    this.log = opts.logger.child({ component: 'apiserver' });
  }

  /** Ends every watch stream (server shutdown). */
  closeStreams(): void {
    this.ready = false;
    for (const c of this.streams) c.abort();
  }

  /** The request listener for node:http / node:https. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.handle(req, res).catch((err: unknown) => {
      this.log.error({ err }, 'request failed');
      if (!res.headersSent) this.sendError(res, err);
      else res.destroy();
    });
  };

  /** The `upgrade` listener for node:http / node:https (pods/exec, attach, portforward). */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.podProxy.upgrade(req, socket, head, (r) => this.authenticate(r));

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = (req.method ?? 'GET').toUpperCase();
    if (PUBLIC_PATHS.has(path)) {
      if (path === '/version') return this.sendJson(res, 200, VERSION_INFO(this.opts.version));
      res.writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(this.ready ? 'ok' : 'shutting down');
      return;
    }
    const principal = this.authenticate(req);
    if (!principal) {
      await drain(req);
      return this.sendError(res, new WharfError('Unauthorized', 'Unauthorized: a bearer token is required (Authorization: Bearer TOKEN)'));
    }
    try {
      await this.route(req, res, method, path, url.searchParams, principal);
    } catch (err) {
      if (!res.headersSent) {
        if (!(err instanceof WharfError) || err.kind === 'Internal') this.log.error({ err, method, path }, 'request failed');
        await drain(req);
        this.sendError(res, err);
      } else res.end();
    }
  }

  private authenticate(req: IncomingMessage): Principal | undefined {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) return undefined;
    return this.opts.auth.authenticate(m[1]!);
  }

  private async route(req: IncomingMessage, res: ServerResponse, method: string, path: string, q: URLSearchParams, who: Principal): Promise<void> {
    const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
    // discovery
    if (method === 'GET') {
      if (path === '/api') return this.sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
      if (path === '/apis') return this.sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groupVersions().map(groupDoc) });
      if (seg[0] === 'apis' && seg.length === 2) {
        const gv = groupVersions().find((g) => g.group === seg[1]);
        if (!gv) throw new WharfError('NotFound', `the server could not find the requested resource (group ${seg[1]})`);
        return this.sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(gv) });
      }
      if ((seg[0] === 'api' && seg.length === 2) || (seg[0] === 'apis' && seg.length === 3)) {
        const group = seg[0] === 'api' ? '' : seg[1]!;
        const version = seg[seg.length - 1]!;
        const list = RESOURCES.filter((r) => r.group === group && r.version === version);
        if (!list.length) throw new WharfError('NotFound', `the server could not find the requested resource (${path})`);
        return this.sendJson(res, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources: list.flatMap(resourceDocs) });
      }
    }
    const route = parseRoute(seg);
    if (!route) throw new WharfError('NotFound', `the server could not find the requested resource (${method} ${path})`);
    const { info, namespace, name, subresource } = route;
    const dryRun = q.getAll('dryRun').includes('All');
    const watch = q.get('watch') === '1' || q.get('watch') === 'true';
    let verb: AccessRequest['verb'];
    switch (method) {
      case 'GET':
        verb = watch ? 'watch' : name ? 'get' : 'list';
        break;
      case 'POST':
        verb = 'create';
        break;
      case 'PUT':
        verb = 'update';
        break;
      case 'PATCH':
        verb = 'patch';
        break;
      case 'DELETE':
        verb = name ? 'delete' : 'deletecollection';
        break;
      default:
        throw new WharfError('InvalidArgument', `method ${method} is not allowed on ${path}`, { details: { reason: 'MethodNotAllowed' } });
    }
    const denied = authorize(who, {
      verb,
      group: info.group,
      resource: info.plural,
      ...(subresource ? { subresource } : {}),
      ...(namespace ? { namespace } : {}),
      ...(name ? { name } : {}),
      ...(q.get('fieldSelector') ? { fieldSelector: q.get('fieldSelector')! } : {}),
    });
    if (denied) throw new WharfError('Forbidden', denied);
    const methodNotAllowed = () => new WharfError('InvalidArgument', `method ${method} is not supported on ${info.plural}${subresource ? `/${subresource}` : ''}`, { details: { reason: 'MethodNotAllowed' } });
    const st = this.storage;

    if (subresource) {
      if (isPodStreamSubresource(subresource)) return this.podProxy.http(req, res, method, namespace!, name!, subresource, q);
      if (subresource === 'binding') {
        if (method !== 'POST') throw methodNotAllowed();
        const body = await this.readBody(req);
        await st.bind(namespace!, name!, body, dryRun);
        return this.sendJson(res, 201, { ...successStatus(), code: 201 });
      }
      if (subresource === 'status') {
        if (method === 'GET') return this.sendJson(res, 200, await st.get(info, namespace, name!));
        if (method === 'PUT') return this.sendJson(res, 200, await st.update(info, namespace, name!, await this.readBody(req), { subresource: 'status', dryRun }));
        if (method === 'PATCH') {
          const type = patchTypeOf(req.headers['content-type']);
          return this.sendJson(res, 200, await st.patch(info, namespace, name!, type, await this.readBody(req, true), { subresource: 'status', dryRun }));
        }
        throw methodNotAllowed();
      }
      if (subresource === 'finalize') {
        if (method !== 'PUT') throw methodNotAllowed();
        return this.sendJson(res, 200, await st.update(info, namespace, name!, await this.readBody(req), { dryRun }));
      }
      if (subresource === 'scale') return this.scale(req, res, method, info, namespace!, name!, dryRun);
      throw methodNotAllowed();
    }

    switch (verb) {
      case 'get':
        return this.sendJson(res, 200, await st.get(info, namespace, name!));
      case 'list': {
        const sel = parseSelectors(info, q);
        const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new WharfError('InvalidArgument', `limit must be a non-negative integer, got ${q.get('limit')}`);
        const list = await st.list(info, namespace, { ...sel, ...(limit ? { limit } : {}), ...(q.get('continue') ? { continue: q.get('continue')! } : {}) });
        return this.sendJson(res, 200, list);
      }
      case 'watch':
        return this.watch(req, res, info, namespace, name, q);
      case 'create': {
        if (name) throw methodNotAllowed();
        const body = await this.readBody(req);
        const created = await st.create(info, namespace, body, { dryRun });
        return this.sendJson(res, 201, created);
      }
      case 'update':
        if (!name) throw methodNotAllowed();
        return this.sendJson(res, 200, await st.update(info, namespace, name, await this.readBody(req), { dryRun }));
      case 'patch': {
        if (!name) throw methodNotAllowed();
        const type = patchTypeOf(req.headers['content-type']);
        return this.sendJson(res, 200, await st.patch(info, namespace, name, type, await this.readBody(req, true), { dryRun }));
      }
      case 'delete': {
        const opts = await this.deleteOptions(req, q);
        const r = await st.delete(info, namespace, name!, opts);
        if (r.deleted && info.kind !== 'Pod') {
          return this.sendJson(res, 200, successStatus({ name: name!, group: info.group, kind: info.plural, uid: r.object.metadata.uid ?? '' }));
        }
        return this.sendJson(res, r.deleted ? 200 : 202, r.object);
      }
      case 'deletecollection': {
        const opts = await this.deleteOptions(req, q);
        const sel = parseSelectors(info, q);
        const list = await st.list(info, namespace, sel);
        const out: KubeObject[] = [];
        for (const o of list.items) {
          try {
            const r = await st.delete(info, o.metadata.namespace, o.metadata.name!, opts);
            out.push(r.object);
          } catch (e) {
            if (!isWharfError(e, 'NotFound')) throw e;
          }
        }
        return this.sendJson(res, 200, { ...list, items: out });
      }
    }
  }

  private async deleteOptions(req: IncomingMessage, q: URLSearchParams): Promise<DeleteRequest> {
    const body = (await this.readBody(req, false, true)) as Obj | undefined;
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw new WharfError('InvalidArgument', 'DeleteOptions must be an object');
    const allowed = new Set(['apiVersion', 'kind', 'propagationPolicy', 'gracePeriodSeconds', 'preconditions', 'dryRun', 'orphanDependents']);
    for (const k of Object.keys(body ?? {})) if (!allowed.has(k)) throw new WharfError('InvalidArgument', `DeleteOptions: unknown field "${k}"`);
    const policy = (q.get('propagationPolicy') ?? body?.propagationPolicy ?? (body?.orphanDependents === true ? 'Orphan' : undefined)) as string | undefined;
    if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
      throw new WharfError('InvalidArgument', `propagationPolicy: Unsupported value: "${policy}": supported values: "Orphan", "Background", "Foreground"`);
    }
    const g = q.get('gracePeriodSeconds') ?? body?.gracePeriodSeconds;
    const grace = g === undefined || g === null ? undefined : Number(g);
    if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) throw new WharfError('InvalidArgument', `gracePeriodSeconds must be a non-negative integer`);
    const dryRun = q.getAll('dryRun').includes('All') || (Array.isArray(body?.dryRun) && body.dryRun.includes('All'));
    return {
      ...(policy ? { propagationPolicy: policy as DeleteRequest['propagationPolicy'] } : {}),
      ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
      ...(body?.preconditions ? { preconditions: body.preconditions } : {}),
      dryRun,
    };
  }

  private async scale(req: IncomingMessage, res: ServerResponse, method: string, info: ResourceInfo, ns: string, name: string, dryRun: boolean): Promise<void> {
    if (!info.subresources.includes('scale')) throw new WharfError('NotFound', `${info.plural} have no scale subresource`);
    const toScale = (o: Obj) => ({
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
      spec: { replicas: o.spec.replicas ?? 0 },
      status: { replicas: o.status?.replicas ?? 0, selector: selectorToString(o.spec.selector) },
    });
    const st = this.storage;
    if (method === 'GET') return this.sendJson(res, 200, toScale(await st.get(info, ns, name)));
    if (method !== 'PUT' && method !== 'PATCH') throw new WharfError('InvalidArgument', `method ${method} is not supported on ${info.plural}/scale`, { details: { reason: 'MethodNotAllowed' } });
    const type = method === 'PATCH' ? patchTypeOf(req.headers['content-type']) : undefined;
    const body = await this.readBody(req, method === 'PATCH');
    for (let attempt = 0; ; attempt++) {
      const cur = (await st.get(info, ns, name)) as Obj;
      const curScale = toScale(cur);
      let scale: Obj;
      if (type) {
        scale = applyPatch(type, curScale, body) as Obj;
      } else scale = body as Obj;
      const parsed = scaleSchema.safeParse(scale);
      if (!parsed.success || parsed.data.spec?.replicas === undefined) {
        throw new WharfError('InvalidArgument', `Scale "${name}" is invalid: spec.replicas: Required value: a non-negative integer`, {
          details: { reason: 'Invalid', kind: 'Scale', name, causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'spec.replicas: a non-negative integer is required' }] },
        });
      }
      const rv = parsed.data.metadata.resourceVersion;
      if (rv && rv !== cur.metadata.resourceVersion) throw new WharfError('Conflict', `Operation cannot be fulfilled on ${info.plural}.${info.group} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      const next = structuredClone(cur);
      next.spec.replicas = parsed.data.spec.replicas;
      try {
        const out = await st.update(info, ns, name, next, { dryRun });
        return this.sendJson(res, 200, toScale(out as Obj));
      } catch (e) {
        if (isWharfError(e, 'Conflict') && !rv && attempt < 8) continue;
        throw e;
      }
    }
  }

  private async watch(req: IncomingMessage, res: ServerResponse, info: ResourceInfo, ns: string | undefined, name: string | undefined, q: URLSearchParams): Promise<void> {
    const sel = parseSelectors(info, q);
    if (name) sel.fields.push({ field: 'metadata.name', op: '=', value: name });
    const rvParam = q.get('resourceVersion') ?? '';
    const timeoutParam = q.get('timeoutSeconds');
    const timeoutS = timeoutParam === null ? 1800 : Number(timeoutParam);
    if (!Number.isInteger(timeoutS) || timeoutS < 0) throw new WharfError('InvalidArgument', `timeoutSeconds must be a non-negative integer`);
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const prefix = resourcePrefix(info, ns);
    const st = this.storage;
    let initial: KubeObject[] = [];
    let startRev: number;
    if (rvParam === '' || rvParam === '0') {
      const list = await st.list(info, ns, sel);
      initial = list.items;
      startRev = Number(list.metadata.resourceVersion);
    } else {
      if (!/^\d+$/.test(rvParam)) throw new WharfError('InvalidArgument', `resourceVersion: Invalid value: "${rvParam}": must be an unsigned integer`);
      startRev = Number(rvParam);
      const cur = await st.currentRevision();
      if (startRev > cur) {
        throw new WharfError('Timeout', `Too large resource version: ${startRev}, current: ${cur}`, {
          details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
        });
      }
      try {
        await this.opts.store.list(prefix, { revision: startRev, limit: 1 });
      } catch (e) {
        if (isWharfError(e, 'Gone')) throw new WharfError('Gone', `too old resource version: ${startRev} (${e.message})`, { cause: e });
        throw e;
      }
    }
    const ac = new AbortController();
    this.streams.add(ac);
    const stop = () => ac.abort();
    req.on('close', stop);
    res.on('close', stop);
    const timer = timeoutS > 0 ? setTimeout(stop, timeoutS * 1000) : undefined;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    let lastRev = startRev;
    const send = async (type: string, object: unknown) => {
      if (ac.signal.aborted) return;
      if (!res.write(`${JSON.stringify({ type, object })}\n`)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            ac.signal.removeEventListener('abort', done);
            resolve();
          };
          res.on('drain', done);
          ac.signal.addEventListener('abort', done, { once: true });
        });
      }
    };
    const bookmarkTimer = bookmarks
      ? setInterval(() => {
          void send('BOOKMARK', { kind: info.kind, apiVersion: apiVersionOf(info), metadata: { resourceVersion: String(lastRev) } });
        }, this.bookmarkMs)
      : undefined;
    try {
      for (const o of initial) await send('ADDED', o);
      const filtered = sel.labels.length > 0 || sel.fields.length > 0;
      const matches = (o: KubeObject) => !filtered || (matchesRequirements(sel.labels, o.metadata.labels) && matchesFields(sel.fields, o));
      for await (const ev of this.opts.store.watch(prefix, { afterRevision: startRev, signal: ac.signal })) {
        const out = this.toWatchEvent(ev, matches);
        lastRev = ev.kv.modRevision;
        if (out) await send(out.type, out.object);
        if (ac.signal.aborted) break;
      }
    } catch (err) {
      if (!ac.signal.aborted) {
        const status = statusFromError(isWharfError(err, 'Gone') ? new WharfError('Gone', `too old resource version: ${startRev} (${(err as Error).message})`) : err);
        if (status.code >= 500) this.log.warn({ err }, 'watch failed');
        await send('ERROR', status);
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      this.streams.delete(ac);
      req.off('close', stop);
      if (!res.writableEnded) res.end();
    }
  }

  private toWatchEvent(ev: WatchEvent, matches: (o: KubeObject) => boolean): { type: string; object: KubeObject } | undefined {
    const st = this.storage;
    if (ev.type === 'delete') {
      if (!ev.prevKv) return undefined;
      const o = st.decode(ev.prevKv);
      o.metadata.resourceVersion = String(ev.kv.modRevision);
      return matches(o) ? { type: 'DELETED', object: o } : undefined;
    }
    const o = st.decode(ev.kv);
    const now = matches(o);
    if (ev.kv.createRevision === ev.kv.modRevision || !ev.prevKv) return now ? { type: ev.kv.createRevision === ev.kv.modRevision ? 'ADDED' : 'MODIFIED', object: o } : undefined;
    const before = matches(st.decode(ev.prevKv));
    if (now && before) return { type: 'MODIFIED', object: o };
    if (now) return { type: 'ADDED', object: o };
    if (before) return { type: 'DELETED', object: o };
    return undefined;
  }

  /** Reads and parses a JSON (or YAML) body within the size limit. */
  private async readBody(req: IncomingMessage, patch = false, optional = false): Promise<unknown> {
    const len = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(len) && len > this.maxBody) {
      req.resume();
      throw new WharfError('TooLarge', `Request entity too large: limit is ${this.maxBody} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > this.maxBody) {
        req.resume();
        throw new WharfError('TooLarge', `Request entity too large: limit is ${this.maxBody} bytes`);
      }
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') {
      if (optional) return undefined;
      throw new WharfError('InvalidArgument', 'the request body is empty');
    }
    const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    const yaml = ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml';
    if (!yaml && !patch && ct !== 'application/json' && ct !== '' && ct !== '*/*') {
      throw new WharfError('Unsupported', `the body content type ${JSON.stringify(ct)} is not supported; use application/json or application/yaml`);
    }
    try {
      return yaml ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
    } catch (e) {
      throw new WharfError('InvalidArgument', `the request body is not valid ${yaml ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
    }
  }

  private sendJson(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  private sendError(res: ServerResponse, err: unknown): void {
    const st = statusFromError(err);
    this.sendJson(res, st.code, st);
  }
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  req.resume();
  await new Promise<void>((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
  });
}

function parseSelectors(info: ResourceInfo, q: URLSearchParams): { labels: Requirement[]; fields: FieldRequirement[] } {
  const fieldsOk = ['metadata.name', 'metadata.namespace', ...info.fieldSelectors];
  return {
    labels: parseLabelSelector(q.get('labelSelector') ?? ''),
    fields: parseFieldSelector(q.get('fieldSelector') ?? '', fieldsOk),
  };
}

/** /api/v1/... or /apis/{g}/{v}/... → the resource, namespace, name and subresource. */
export function parseRoute(seg: string[]): Route | undefined {
  let rest: string[];
  let group: string;
  let version: string;
  if (seg[0] === 'api' && seg.length >= 3) {
    group = '';
    version = seg[1]!;
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 4) {
    group = seg[1]!;
    version = seg[2]!;
    rest = seg.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && resourceByPath(group, version, rest[2]!)?.namespaced) {
    namespace = rest[1]!;
    rest = rest.slice(2);
  }
  if (rest.length === 0 || rest.length > 3) return undefined;
  if (group === '' && version === 'v1' && rest[0] === 'bindings' && namespace) {
    // Legacy POST /api/v1/namespaces/{ns}/bindings: the binding names the pod.
    return undefined;
  }
  const info = resourceByPath(group, version, rest[0]!);
  if (!info) return undefined;
  if (namespace !== undefined && !info.namespaced) {
    // /api/v1/namespaces/{name}[/status] is the Namespace itself.
    return undefined;
  }
  if (info.kind === 'Namespace' || !info.namespaced) {
    if (namespace !== undefined) return undefined;
  }
  const route: Route = { kind: 'resource', info };
  if (namespace !== undefined) route.namespace = namespace;
  if (rest[1] !== undefined) route.name = rest[1];
  if (rest[2] !== undefined) {
    if (!(info.subresources as string[]).includes(rest[2])) return undefined;
    route.subresource = rest[2];
  }
  return route;
}

function groupDoc(g: { group: string; version: string }) {
  const gv = { groupVersion: `${g.group}/${g.version}`, version: g.version };
  return { name: g.group, versions: [gv], preferredVersion: gv };
}

const STREAM_KINDS: Record<string, string> = { exec: 'PodExecOptions', attach: 'PodAttachOptions', portforward: 'PodPortForwardOptions' };

function resourceDocs(r: ResourceInfo) {
  const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
  const main = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs, ...(r.shortNames.length ? { shortNames: r.shortNames } : {}) };
  const subs = r.subresources.map((s) => ({
    name: `${r.plural}/${s}`,
    singularName: '',
    namespaced: r.namespaced,
    kind: s === 'scale' ? 'Scale' : s === 'binding' ? 'Binding' : STREAM_KINDS[s] ?? r.kind,
    ...(s === 'scale' ? { group: 'autoscaling', version: 'v1' } : {}),
    verbs: s === 'binding' ? ['create'] : s === 'log' ? ['get'] : STREAM_KINDS[s] ? ['create', 'get'] : ['get', 'patch', 'update'],
  }));
  return [main, ...subs];
}

