import type { Dispatcher } from 'undici';
import { WharfError } from '../../core/errors.js';
import type { KubeObject, ObjectList } from '../apis/meta.js';
import { apiVersionOf, resourceByKind, type ResourceInfo } from '../apis/registry.js';
import { loadClientConfig, type ClientConfig } from './config.js';
import type {
  ClusterApi,
  DeleteOptions,
  ListOptions,
  ListResult,
  PatchKind,
  PatchOptions,
  PodRef,
  ResourceApi,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './resource-api.js';
import { Transport, type TransportOptions } from './transport.js';
import { readWatchEvents } from './watch-reader.js';

// The cluster client: the one way Wharf's scheduler, controllers, simulated nodes, CLI and node
// agent talk to the API server. Typed per kind, one transport (TLS with the cluster CA, bearer
// token, retries with backoff, errors from the API server's own status table), one watch reader.
//
//   // from a kubeconfig (the server's DATA_ROOT/admin.yaml, $WHARF_CONFIG or ~/.wharf/config):
//   const client = ClusterClient.fromKubeconfig('/var/lib/wharf-server/admin.yaml');
//   // or from a URL, a token and the CA's PEM:
//   const client = new ClusterClient({ server: 'https://127.0.0.1:6443', token, caPem });
//
//   const pods = client.resource<Pod>('v1', 'Pod');
//   const p = await pods.get('default', 'web');
//   await pods.patch('default', 'web', { metadata: { labels: { tier: 'front' } } });
//   for await (const ev of pods.watch({ namespace: 'default', resourceVersion: rv, signal })) ...
//
//   // an informer: list, then watch from the list's resourceVersion; relists on 410 Gone
//   const inf = new Informer(pods, systemClock, log, { namespace: 'default' });
//   inf.addHandlers({ onAdd, onUpdate, onDelete });
//   void inf.run(signal); await inf.waitForSync(signal); inf.get('default/web');
//
//   await client.close();
//
// Every component takes the ClusterApi / ResourceApi interfaces (resource-api.ts), so unit
// tests pass the in-memory double (memory-cluster.ts) instead.

export type { ClusterApi, DeleteOptions, ListOptions, ListResult, PatchKind, PatchOptions, ResourceApi, WatchEvent, WatchOptions, WriteOptions } from './resource-api.js';
export { errorFromStatus } from './status-errors.js';

const PATCH_TYPES: Record<PatchKind, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export type ClusterClientOptions = TransportOptions;

export class ClusterClient implements ClusterApi {
  readonly transport: Transport;

  constructor(
    readonly config: ClientConfig,
    opts: ClusterClientOptions = {},
  ) {
    this.transport = new Transport(config, opts);
  }

  /** From a kubeconfig file; with no file, $WHARF_CONFIG or ~/.wharf/config. */
  static fromKubeconfig(file?: string, opts: ClusterClientOptions = {}): ClusterClient {
    return new ClusterClient(loadClientConfig(file !== undefined ? { config: file } : {}), opts);
  }

  /** The typed client of one kind; NotFound when the API server serves no such kind. */
  resource<T extends KubeObject = KubeObject>(apiVersion: string, kind: string): ResourceClient<T> {
    const info = resourceByKind(apiVersion, kind);
    if (!info) throw new WharfError('NotFound', `no resource for ${apiVersion} ${kind} (the server serves: see wharf api-resources)`);
    return new ResourceClient<T>(this.transport, info);
  }

  /** PUT /api/v1/namespaces/NAME/finalize: writes spec.finalizers (namespace deletion). */
  finalizeNamespace(ns: KubeObject): Promise<KubeObject> {
    return this.transport.json('PUT', `/api/v1/namespaces/${encodeURIComponent(ns.metadata.name ?? '')}/finalize`, { body: ns });
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /** One request; JSON in and out; throws a WharfError from a Status on failure. */
  call<R>(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<R> {
    return this.transport.json<R>(method, path, { body, contentType, signal });
  }

  /** One request whose status and body the caller reads. */
  raw(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType = 'application/json', signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    return this.transport.send(method, path, { body, contentType, signal });
  }
}

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export class ResourceClient<T extends KubeObject = KubeObject> implements ResourceApi<T> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;

  constructor(
    private readonly transport: Transport,
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

  /** apiVersion and kind on every object (list items may come without them). */
  private fill(o: T): T {
    o.apiVersion ??= this.apiVersion;
    o.kind ??= this.kind;
    return o;
  }

  private async call(method: Dispatcher.HttpMethod, path: string, body?: unknown, contentType?: string): Promise<T> {
    return this.fill(await this.transport.json<T>(method, path, { body, ...(contentType ? { contentType } : {}) }));
  }

  private typed(obj: T): T {
    return { ...obj, apiVersion: this.apiVersion, kind: this.kind };
  }

  async list(opts: ListOptions = {}): Promise<ListResult<T>> {
    const l = await this.transport.json<ObjectList<T>>(
      'GET',
      this.path(opts.namespace) + qs({ labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit, continue: opts.continue }),
    );
    return { items: l.items.map((o) => this.fill(o)), resourceVersion: l.metadata.resourceVersion, ...(l.metadata.continue ? { continue: l.metadata.continue } : {}) };
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
    return this.call('GET', this.path(namespace, name));
  }

  create(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.call('POST', this.path(this.nsOf(obj)) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), this.typed(obj));
  }

  update(obj: T, opts: WriteOptions = {}): Promise<T> {
    return this.call('PUT', this.path(this.nsOf(obj), obj.metadata.name) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), this.typed(obj));
  }

  updateStatus(obj: T): Promise<T> {
    return this.call('PUT', this.path(this.nsOf(obj), obj.metadata.name, 'status'), this.typed(obj));
  }

  patch(namespace: string | undefined, name: string, patch: unknown, type: PatchKind = 'merge', opts: PatchOptions = {}): Promise<T> {
    return this.call('PATCH', this.path(namespace, name, opts.subresource) + qs({ dryRun: opts.dryRun ? 'All' : undefined }), patch, PATCH_TYPES[type]);
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.uid || opts.resourceVersion) body.preconditions = { ...(opts.uid ? { uid: opts.uid } : {}), ...(opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {}) };
    if (opts.dryRun) body.dryRun = ['All'];
    await this.transport.json<unknown>('DELETE', this.path(namespace, name), { body });
  }

  /** POST pods/{name}/binding with the pod's uid and resourceVersion as preconditions. */
  async bind(pod: PodRef, nodeName: string): Promise<void> {
    if (this.kind !== 'Pod') throw new WharfError('InvalidArgument', 'bind is a Pod subresource');
    const m = pod.metadata;
    await this.transport.json<unknown>('POST', this.path(m.namespace ?? 'default', m.name, 'binding'), {
      body: {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: m.name, ...(m.uid ? { uid: m.uid } : {}), ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}) },
        target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
      },
    });
  }

  /** PUT {name}/finalize (namespaces). */
  finalize(obj: T): Promise<T> {
    return this.call('PUT', this.path(undefined, obj.metadata.name, 'finalize'), obj);
  }

  getScale(namespace: string, name: string): Promise<{ spec: { replicas: number }; status: { replicas: number; selector: string }; metadata: KubeObject['metadata'] }> {
    return this.transport.json('GET', this.path(namespace, name, 'scale'));
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    await this.transport.json('PATCH', this.path(namespace, name, 'scale'), { body: { spec: { replicas } }, contentType: PATCH_TYPES.merge });
  }

  /**
   * A watch stream: events until the signal aborts or the server ends the stream. A compacted
   * resourceVersion throws a WharfError of kind Gone (an HTTP 410 or an ERROR event with code 410).
   */
  async *watch(opts: WatchOptions): AsyncIterable<WatchEvent<T>> {
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
      res = await this.transport.open('GET', path, { signal: opts.signal });
    } catch (e) {
      if (opts.signal.aborted) return;
      throw e;
    }
    try {
      for await (const ev of readWatchEvents<T>(res.body, opts.signal, `watch ${this.info.plural}`)) {
        if (ev.type !== 'BOOKMARK') this.fill(ev.object);
        yield ev;
      }
    } finally {
      res.body.destroy();
    }
  }
}
