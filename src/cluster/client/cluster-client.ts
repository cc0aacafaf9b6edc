import { Agent, request, type Dispatcher } from 'undici';
import { WharfError, type ErrorKind } from '../../core/errors.js';
import type { KubeObject, ObjectList, Status, WatchEventObject } from '../apis/meta.js';
import { apiVersionOf, resourceByKind, type ResourceInfo } from '../apis/registry.js';
import type { ClientConfig } from './config.js';

// A small typed client of the cluster API: list/watch/get/create/update/updateStatus/patch/delete,
// binding and scale. One ResourceClient per kind (`client.resource('v1', 'Pod')`); the controllers'
// and scheduler's ResourceApi interfaces are satisfied structurally.

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export interface WatchOptions extends ListOptions {
  /** Events after this version; '' or '0' for the current state first (synthetic ADDED events). */
  resourceVersion: string;
  signal: AbortSignal;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  uid?: string;
  resourceVersion?: string;
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

export interface WriteOptions {
  dryRun?: boolean;
}

export type PatchKind = 'merge' | 'json' | 'strategic';
const PATCH_TYPES: Record<PatchKind, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

const KIND_BY_CODE: Record<number, ErrorKind> = {
  400: 'InvalidArgument',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'InvalidArgument',
  409: 'Conflict',
  410: 'Gone',
  413: 'TooLarge',
  415: 'Unsupported',
  422: 'InvalidArgument',
  503: 'Unavailable',
  504: 'Timeout',
};

/** A WharfError from a Kubernetes Status (kind from the code, details keep reason/code/causes). */
export function errorFromStatus(code: number, body: unknown): WharfError {
  const st = (body && typeof body === 'object' ? body : {}) as Partial<Status>;
  let kind: ErrorKind = KIND_BY_CODE[code] ?? 'Internal';
  if (code === 409 && st.reason === 'AlreadyExists') kind = 'AlreadyExists';
  const message = st.message ?? `HTTP ${code}`;
  return new WharfError(kind, message, { details: { code, reason: st.reason, ...(st.details ?? {}) } });
}

export class ClusterClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: string;

  constructor(readonly config: ClientConfig) {
    this.base = config.server.replace(/\/+$/, '');
    this.dispatcher = new Agent({
      connect: {
        ...(config.caPem ? { ca: config.caPem } : {}),
        ...(config.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
      },
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  resource<T extends KubeObject = KubeObject>(apiVersion: string, kind: string): ResourceClient<T> {
    const info = resourceByKind(apiVersion, kind);
    if (!info) throw new WharfError('NotFound', `no resource for ${apiVersion} ${kind} (the server serves: see wharf api-resources)`);
    return new ResourceClient<T>(this, info);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** One request; JSON in and out; throws a WharfError from a Status on failure. */
  async call<R>(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<R> {
    const res = await this.raw(method, path, body, contentType, signal);
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = { message: text };
    }
    if (res.statusCode >= 400) throw errorFromStatus(res.statusCode, parsed);
    return parsed as R;
  }

  async raw(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    try {
      return await request(`${this.base}${path}`, {
        method,
        headers,
        dispatcher: this.dispatcher,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
        headersTimeout: 60_000,
        bodyTimeout: 0,
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new WharfError('Unavailable', `cannot reach the API server at ${this.base}: ${(e as Error).message}`, { cause: e });
    }
  }
}

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export class ResourceClient<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;

  constructor(
    private readonly client: ClusterClient,
    readonly info: ResourceInfo,
  ) {
    this.apiVersion = apiVersionOf(info);
    this.kind = info.kind;
    this.namespaced = info.namespaced;
  }

  /** URL path of the collection (namespace undefined: all namespaces) or of one object. */
  path(namespace?: string, name?: string, sub?: string): string {
    const i = this.info;
    const root = i.group ? `/apis/${i.group}/${i.version}` : `/api/${i.version}`;
    const ns = i.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${root}${ns}/${i.plural}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
  }

  private nsOf(obj: KubeObject): string | undefined {
    return this.namespaced ? (obj.metadata.namespace ?? 'default') : undefined;
  }

  async list(opts: ListOptions = {}): Promise<ListResult<T>> {
    const l = await this.client.call<ObjectList<T>>(
      'GET',
      this.path(opts.namespace) + qs({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit, continue: opts.continue }),
    );
    return { items: l.items, resourceVersion: l.metadata.resourceVersion, ...(l.metadata.continue ? { continue: l.metadata.continue } : {}) };
  }

  /** Every page of a list. */
  async listAll(opts: Omit<ListOptions, 'continue'> = {}): Promise<ListResult<T>> {
    const first = await this.list(opts);
    let cont = first.continue;
    while (cont) {
      const page = await this.list({ ...opts, continue: cont });
      first.items.push(...page.items);
      cont = page.continue;
    }
    return { items: first.items, resourceVersion: first.resourceVersion };
  }

  get(namespace: string | undefined, name: string): Promise<T> {
    return this.client.call<T>('GET', this.path(namespace, name));
  }

  create(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.client.call<T>('POST', this.path(this.nsOf(obj)) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), { ...obj, apiVersion: this.apiVersion, kind: this.kind });
  }

  update(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.client.call<T>('PUT', this.path(this.nsOf(obj), obj.metadata.name) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), { ...obj, apiVersion: this.apiVersion, kind: this.kind });
  }

  updateStatus(obj: T): Promise<T> {
    return this.client.call<T>('PUT', this.path(this.nsOf(obj), obj.metadata.name, 'status'), { ...obj, apiVersion: this.apiVersion, kind: this.kind });
  }

  patch(namespace: string | undefined, name: string, patch: unknown, type: PatchKind = 'merge', opts: WriteOptions & { subresource?: 'status' | 'scale' } = {}): Promise<T> {
    return this.client.call<T>('PATCH', this.path(namespace, name, opts.subresource) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), patch, PATCH_TYPES[type]);
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.uid || opts.resourceVersion) body.preconditions = { ...(opts.uid ? { uid: opts.uid } : {}), ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}) };
    if (opts.dryRun) body.dryRun = ['All'];
    await this.client.call<unknown>('DELETE', this.path(namespace, name), body);
  }

  /** POST pods/{name}/binding with the pod's uid and resourceVersion as preconditions. */
  async bind(pod: { metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } }, nodeName: string): Promise<void> {
    if (this.kind !== 'Pod') throw new WharfError('InvalidArgument', 'bind is a Pod subresource');
    const m = pod.metadata;
    await this.client.call<unknown>('POST', this.path(m.namespace ?? 'default', m.name, 'binding'), {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: m.name, ...(m.uid ? { uid: m.uid } : {}), ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}) },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    });
  }

  getScale(namespace: string, name: string): Promise<{ spec: { replicas: number }; status: { replicas: number; selector: string }; metadata: KubeObject['metadata'] }> {
    return this.client.call('GET', this.path(namespace, name, 'scale'));
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    await this.client.call('PATCH', this.path(namespace, name, 'scale'), { spec: { replicas } }, PATCH_TYPES.merge);
  }

  /**
   * A watch stream: events until the signal aborts or the server ends the stream. A compacted
   * resourceVersion throws a WharfError of kind Gone (an HTTP 410 or an ERROR event with code 410).
   */
  async *watch(opts: WatchOptions): AsyncIterable<WatchEventObject<T>> {
    const path =
      this.path(opts.namespace) +
      qs({
        watch: 1,
        resourceVersion: opts.resourceVersion,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        timeoutSeconds: opts.timeoutSeconds,
        allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
      });
    let res: Dispatcher.ResponseData;
    try {
      res = await this.client.raw('GET', path, undefined, undefined, opts.signal);
    } catch (e) {
      if (opts.signal.aborted) return;
      throw e;
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { message: text };
      }
      throw errorFromStatus(res.statusCode, parsed);
    }
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEventObject<T>;
          if (ev.type === 'ERROR') {
            const st = ev.object as unknown as Status;
            throw errorFromStatus(st.code ?? 500, st);
          }
          yield ev;
        }
      }
    } catch (e) {
      if (opts.signal.aborted) return;
      throw e;
    } finally {
      res.body.destroy();
    }
  }
}
