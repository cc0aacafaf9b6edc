import { Agent, fetch, type Dispatcher } from 'undici';
import { WharfError, type ErrorKind } from '../../core/errors.js';
import type { ClusterApi, DeleteOptions, ListOptions, ListResult, ResourceApi, WatchEvent } from './api.js';
import type { Obj } from './objects.js';
import { RESOURCES, apiVersionOf, type ResourceInfo } from '../apis/registry.js';

// ClusterApi over the API server's HTTP interface (Kubernetes URL layout, bearer token,
// newline-delimited watch streams). Written here because the typed client of
// src/cluster/client/ was not on main yet; it is small and speaks only the public API.

export interface HttpClusterOptions {
  server: string;
  token: string;
  caPem?: string;
}

const CODE_KIND: Record<number, ErrorKind> = { 400: 'InvalidArgument', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 410: 'Gone', 413: 'TooLarge', 422: 'InvalidArgument', 501: 'Unsupported', 503: 'Unavailable', 504: 'Timeout' };

export function errorFromStatus(code: number, body: unknown): WharfError {
  const st = (body ?? {}) as { message?: string; reason?: string; code?: number };
  const c = st.code ?? code;
  let kind: ErrorKind = CODE_KIND[c] ?? 'Internal';
  if (c === 409) kind = st.reason === 'AlreadyExists' ? 'AlreadyExists' : 'Conflict';
  return new WharfError(kind, st.message ?? `HTTP ${c}`, { details: { code: c, ...(st.reason ? { reason: st.reason } : {}) } });
}

export class HttpCluster implements ClusterApi {
  readonly dispatcher: Dispatcher;
  private readonly base: string;

  constructor(private readonly opts: HttpClusterOptions) {
    this.base = opts.server.replace(/\/$/, '');
    this.dispatcher = new Agent({ ...(opts.caPem ? { connect: { ca: opts.caPem } } : {}), keepAliveTimeout: 10_000 });
  }

  resource<T extends Obj = Obj>(apiVersion: string, kind: string): ResourceApi<T> {
    const info = RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
    if (!info) throw new WharfError('InvalidArgument', `unknown resource ${apiVersion} ${kind}`);
    return new HttpResource<T>(this, info);
  }

  /** @internal */
  async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const res = await fetch(this.base + path, {
      method,
      headers: { authorization: `Bearer ${this.opts.token}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      dispatcher: this.dispatcher,
      ...(signal ? { signal } : {}),
    }).catch((err: unknown) => {
      throw new WharfError('Unavailable', `${method} ${path}: ${(err as Error).message}`, { cause: err });
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = { message: text };
    }
    if (res.status >= 400) throw errorFromStatus(res.status, json);
    return json;
  }

  /** @internal */
  async *stream(path: string, signal: AbortSignal): AsyncIterable<unknown> {
    const res = await fetch(this.base + path, { headers: { authorization: `Bearer ${this.opts.token}` }, dispatcher: this.dispatcher, signal }).catch((err: unknown) => {
      throw new WharfError('Unavailable', `watch ${path}: ${(err as Error).message}`, { cause: err });
    });
    if (res.status >= 400) {
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = { message: text };
      }
      throw errorFromStatus(res.status, json);
    }
    if (!res.body) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) yield JSON.parse(line);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw new WharfError('Unavailable', `watch ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** PUT /api/v1/namespaces/NAME/finalize: removes spec.finalizers entries (namespace deletion). */
  async finalizeNamespace(ns: Obj): Promise<unknown> {
    return this.call('PUT', `/api/v1/namespaces/${encodeURIComponent(ns.metadata.name ?? '')}/finalize`, ns);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

class HttpResource<T extends Obj> implements ResourceApi<T> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;

  constructor(
    private readonly c: HttpCluster,
    private readonly info: ResourceInfo,
  ) {
    this.apiVersion = apiVersionOf(info);
    this.kind = info.kind;
    this.namespaced = info.namespaced;
  }

  private path(ns: string | undefined, name?: string, sub?: string): string {
    const root = this.info.group ? `/apis/${this.info.group}/${this.info.version}` : `/api/${this.info.version}`;
    const nsPart = this.info.namespaced && ns ? `/namespaces/${encodeURIComponent(ns)}` : '';
    return `${root}${nsPart}/${this.info.plural}${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
  }

  private query(opts: ListOptions, extra: Record<string, string> = {}): string {
    const q = new URLSearchParams(extra);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  async list(opts: ListOptions = {}): Promise<ListResult<T>> {
    const r = (await this.c.call('GET', this.path(opts.namespace) + this.query(opts))) as { items: T[]; metadata: { resourceVersion: string } };
    for (const o of r.items) {
      o.apiVersion ??= this.apiVersion;
      o.kind ??= this.kind;
    }
    return { items: r.items, resourceVersion: r.metadata.resourceVersion };
  }

  async *watch(opts: ListOptions & { resourceVersion: string; signal: AbortSignal }): AsyncIterable<WatchEvent<T>> {
    const path = this.path(opts.namespace) + this.query(opts, { watch: '1', resourceVersion: opts.resourceVersion, allowWatchBookmarks: 'true' });
    for await (const raw of this.c.stream(path, opts.signal)) {
      const ev = raw as WatchEvent<T>;
      if (ev.type === 'ERROR') {
        const st = ev.object as unknown as { code?: number };
        throw errorFromStatus(st.code ?? 500, st);
      }
      yield ev;
    }
  }

  async get(namespace: string | undefined, name: string): Promise<T> {
    return (await this.c.call('GET', this.path(namespace, name))) as T;
  }

  async create(obj: T): Promise<T> {
    return (await this.c.call('POST', this.path(obj.metadata.namespace), obj)) as T;
  }

  async update(obj: T): Promise<T> {
    return (await this.c.call('PUT', this.path(obj.metadata.namespace, obj.metadata.name), obj)) as T;
  }

  async updateStatus(obj: T): Promise<T> {
    return (await this.c.call('PUT', this.path(obj.metadata.namespace, obj.metadata.name, 'status'), obj)) as T;
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.uid || opts.resourceVersion) body.preconditions = { ...(opts.uid ? { uid: opts.uid } : {}), ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}) };
    await this.c.call('DELETE', this.path(namespace, name), body);
  }

  /** POST pods/{name}/binding (used by the test node helper). */
  async bind(pod: Obj, nodeName: string): Promise<void> {
    const { namespace, name } = pod.metadata;
    await this.c.call('POST', this.path(namespace, name, 'binding'), { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace }, target: { kind: 'Node', name: nodeName } });
  }

  /** PUT {name}/finalize (namespaces). */
  async finalize(obj: T): Promise<T> {
    return (await this.c.call('PUT', this.path(undefined, obj.metadata.name, 'finalize'), obj)) as T;
  }
}
