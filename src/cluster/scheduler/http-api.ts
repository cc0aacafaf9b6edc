// The controllers' ResourceApi over the cluster API's HTTP interface (Kubernetes URL layout,
// bearer token, NDJSON watch streams), plus the binding subresource and an Event sink: what
// `wharf scheduler` and `wharf sim-nodes` need to run as separate clients of `wharf server`.
// TODO(client): replace with src/cluster/client once it is on main; this is the same protocol.
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { WharfError, type ErrorKind } from '../../core/errors.js';
import { resourceByKind } from '../apis/registry.js';
import type { DeleteOptions, ListOptions, ListResult, ResourceApi, WatchEvent } from '../controllers/api.js';
import type { EventSink } from '../controllers/context.js';
import type { Obj } from '../controllers/objects.js';
import type { NodeObj, PodObj, SchedulerBackend } from './scheduler.js';

export interface HttpApiOptions {
  server: string; // http(s)://host:port
  token: string;
  /** PEM file of the CA that signed the server's certificate (https). */
  caFile?: string;
  caPem?: string;
}

const KIND_BY_STATUS: Record<number, ErrorKind> = {
  400: 'InvalidArgument',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Gone',
  413: 'TooLarge',
  422: 'InvalidArgument',
  501: 'Unsupported',
  503: 'Unavailable',
  504: 'Timeout',
};

function statusError(code: number, body: unknown): WharfError {
  const b = body as { message?: string; reason?: string } | undefined;
  let kind: ErrorKind = KIND_BY_STATUS[code] ?? 'Internal';
  if (code === 409 && b?.reason === 'AlreadyExists') kind = 'AlreadyExists';
  return new WharfError(kind, b?.message ?? `HTTP ${code}`, { details: { status: code, reason: b?.reason } });
}

export class HttpConnection {
  readonly base: string;
  private readonly dispatcher: Dispatcher;
  private readonly headers: Record<string, string>;

  constructor(opts: HttpApiOptions) {
    this.base = opts.server.replace(/\/+$/, '');
    const ca = opts.caPem ?? (opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined);
    this.dispatcher = new Agent({ connections: 32, pipelining: 1, ...(ca ? { connect: { ca } } : {}) });
    this.headers = { authorization: `Bearer ${opts.token}`, accept: 'application/json' };
  }

  async call(method: Dispatcher.HttpMethod, path: string, body?: unknown, signal?: AbortSignal): Promise<any> {
    const res = await request(this.base + path, {
      method,
      dispatcher: this.dispatcher,
      headers: body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = { message: text };
    }
    if (res.statusCode >= 400) throw statusError(res.statusCode, parsed);
    return parsed;
  }

  async *stream(path: string, signal: AbortSignal): AsyncIterable<any> {
    const res = await request(this.base + path, { method: 'GET', dispatcher: this.dispatcher, headers: this.headers, signal });
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { message: text };
      }
      throw statusError(res.statusCode, parsed);
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== '') yield JSON.parse(line);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

export class HttpResourceApi<T extends Obj = Obj> implements ResourceApi<T> {
  readonly namespaced: boolean;
  private readonly prefix: string;
  private readonly plural: string;

  constructor(
    private readonly conn: HttpConnection,
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    const info = resourceByKind(apiVersion, kind);
    if (!info) throw new WharfError('Unsupported', `the cluster API has no ${kind} (${apiVersion})`);
    this.namespaced = info.namespaced;
    this.plural = info.plural;
    this.prefix = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  }

  private path(namespace: string | undefined, name?: string, sub?: string): string {
    let p = this.prefix;
    if (this.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${this.plural}`;
    if (name !== undefined) p += `/${encodeURIComponent(name)}`;
    if (sub) p += `/${sub}`;
    return p;
  }

  private query(opts: Record<string, string | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  private fill(o: T): T {
    o.apiVersion ??= this.apiVersion;
    o.kind ??= this.kind;
    return o;
  }

  async list(opts: ListOptions = {}): Promise<ListResult<T>> {
    const res = (await this.conn.call('GET', this.path(opts.namespace) + this.query({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector }))) as {
      items: T[];
      metadata: { resourceVersion: string };
    };
    return { items: res.items.map((o) => this.fill(o)), resourceVersion: res.metadata.resourceVersion };
  }

  async *watch(opts: ListOptions & { resourceVersion: string; signal: AbortSignal }): AsyncIterable<WatchEvent<T>> {
    const q = this.query({
      watch: '1',
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: 'true',
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
    });
    for await (const ev of this.conn.stream(this.path(opts.namespace) + q, opts.signal)) {
      const e = ev as WatchEvent<T>;
      if (e.type === 'ERROR') {
        const st = e.object as unknown as { code?: number };
        throw statusError(st.code ?? 500, e.object);
      }
      yield { type: e.type, object: this.fill(e.object) };
    }
  }

  async get(namespace: string | undefined, name: string): Promise<T> {
    return this.fill((await this.conn.call('GET', this.path(namespace, name))) as T);
  }

  async create(obj: T): Promise<T> {
    return this.fill((await this.conn.call('POST', this.path(obj.metadata.namespace), obj)) as T);
  }

  async update(obj: T): Promise<T> {
    return this.fill((await this.conn.call('PUT', this.path(obj.metadata.namespace, obj.metadata.name), obj)) as T);
  }

  async updateStatus(obj: T): Promise<T> {
    return this.fill((await this.conn.call('PUT', this.path(obj.metadata.namespace, obj.metadata.name, 'status'), obj)) as T);
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.uid || opts.resourceVersion) body.preconditions = { ...(opts.uid ? { uid: opts.uid } : {}), ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}) };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    await this.conn.call('DELETE', this.path(namespace, name), body);
  }

  /** POST pods/{name}/binding. */
  async bind(pod: Obj, nodeName: string): Promise<void> {
    const { namespace, name, uid, resourceVersion } = pod.metadata;
    await this.conn.call('POST', this.path(namespace, name, 'binding'), {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name, namespace, ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    });
  }
}

/** Writes v1 Events (fire and forget: an Event that cannot be written is not worth failing for). */
export class HttpEventSink implements EventSink {
  private readonly events: HttpResourceApi;
  constructor(
    conn: HttpConnection,
    private readonly component: string,
    private readonly now: () => number,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.events = new HttpResourceApi(conn, 'v1', 'Event');
  }
  record(obj: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ts = new Date(this.now()).toISOString();
    const ns = obj.metadata.namespace ?? 'default';
    this.events
      .create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${obj.metadata.name ?? 'object'}.`, namespace: ns },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
        reason,
        message,
        type,
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
      })
      .catch(this.onError);
  }
}

/** Everything the scheduler needs, over HTTP. */
export function httpSchedulerBackend(conn: HttpConnection, opts: { now: () => number; component?: string; onEventError?: (err: unknown) => void }): SchedulerBackend {
  const pods = new HttpResourceApi<PodObj>(conn, 'v1', 'Pod');
  return {
    pods,
    nodes: new HttpResourceApi<NodeObj>(conn, 'v1', 'Node'),
    bind: (pod, node) => pods.bind(pod, node),
    events: new HttpEventSink(conn, opts.component ?? 'default-scheduler', opts.now, opts.onEventError),
  };
}
