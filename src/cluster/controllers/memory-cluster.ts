import { randomUUID } from 'node:crypto';
import { WharfError, conflict, notFound, alreadyExists } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { ClusterApi, DeleteOptions, ListOptions, ListResult, ResourceApi, WatchEvent } from '../client/resource-api.js';
import { keyOf, clone, type Obj } from './objects.js';

// An in-memory ClusterApi for unit tests of the controllers' wiring: resourceVersion CAS,
// generateName, uid, generation, finalizers with deletionTimestamp, and watch. It is
// not the API server and validates nothing; integration tests use the real one.

type Listener = (ev: WatchEvent<Obj>) => void;

export class MemoryCluster implements ClusterApi {
  private rv = 0;
  private readonly objects = new Map<string, Obj>(); // `${apiVersion}|${kind}|${key}`
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly namespaced = new Set(['Pod', 'ReplicaSet', 'Deployment', 'Job', 'Workflow', 'Event', 'Lease', 'ConfigMap', 'Secret', 'Service', 'DaemonSet']);
  /** Every write, in order: for assertions. */
  readonly writes: { verb: string; kind: string; key: string }[] = [];
  /** Test hook: called before each write; throw to simulate a failure. */
  beforeWrite?: (verb: string, obj: Obj) => void;

  constructor(private readonly clock: Clock) {}

  resource<T extends Obj = Obj>(apiVersion: string, kind: string): ResourceApi<T> {
    return new MemoryResource<T>(this, apiVersion, kind, this.namespaced.has(kind));
  }

  /** All objects of a kind (test helper). */
  all<T extends Obj = Obj>(kind: string): T[] {
    return [...this.objects.values()].filter((o) => o.kind === kind).map((o) => clone(o) as T);
  }

  /** @internal */
  _list(apiVersion: string, kind: string, opts: ListOptions): ListResult<Obj> {
    const items = [...this.objects.values()].filter(
      (o) => o.apiVersion === apiVersion && o.kind === kind && (!opts.namespace || o.metadata.namespace === opts.namespace),
    );
    return { items: items.map(clone), resourceVersion: String(this.rv) };
  }

  /** @internal */
  _get(apiVersion: string, kind: string, key: string): Obj | undefined {
    return this.objects.get(`${apiVersion}|${kind}|${key}`);
  }

  /** @internal */
  _subscribe(apiVersion: string, kind: string, l: Listener): () => void {
    const k = `${apiVersion}|${kind}`;
    let set = this.listeners.get(k);
    if (!set) this.listeners.set(k, (set = new Set()));
    set.add(l);
    for (const ev of this.history) if (ev.object.apiVersion === apiVersion && ev.object.kind === kind) l(clone(ev));
    return () => set.delete(l);
  }

  private readonly history: WatchEvent<Obj>[] = [];

  private emit(ev: WatchEvent<Obj>): void {
    this.history.push(clone(ev));
    for (const l of this.listeners.get(`${ev.object.apiVersion}|${ev.object.kind}`) ?? []) l(clone(ev));
  }

  /** @internal */
  _write(verb: 'create' | 'update' | 'status', obj: Obj): Obj {
    this.beforeWrite?.(verb, obj);
    const o = clone(obj);
    if (verb === 'create') {
      if (!o.metadata.name && o.metadata.generateName) o.metadata.name = o.metadata.generateName + randomUUID().slice(0, 5);
      const id = `${o.apiVersion}|${o.kind}|${keyOf(o)}`;
      if (this.objects.has(id)) throw alreadyExists(`${o.kind} ${keyOf(o)} already exists`);
      o.metadata.uid = randomUUID();
      o.metadata.generation = 1;
      o.metadata.creationTimestamp = new Date(this.clock.now()).toISOString();
      o.metadata.resourceVersion = String(++this.rv);
      this.objects.set(id, o);
      this.writes.push({ verb, kind: o.kind, key: keyOf(o) });
      this.emit({ type: 'ADDED', object: o });
      return clone(o);
    }
    const id = `${o.apiVersion}|${o.kind}|${keyOf(o)}`;
    const cur = this.objects.get(id);
    if (!cur) throw notFound(`${o.kind} ${keyOf(o)} not found`);
    if (o.metadata.resourceVersion !== cur.metadata.resourceVersion) throw conflict(`${o.kind} ${keyOf(o)}: the object has been modified`);
    let next: Obj;
    if (verb === 'status') {
      next = { ...clone(cur), status: o.status };
    } else {
      next = { ...o, status: cur.status, metadata: { ...o.metadata, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp } };
      if (cur.metadata.deletionTimestamp) next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      if (JSON.stringify(o.spec) !== JSON.stringify(cur.spec)) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      else next.metadata.generation = cur.metadata.generation;
    }
    next.metadata.resourceVersion = String(++this.rv);
    this.writes.push({ verb, kind: o.kind, key: keyOf(o) });
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) {
      this.objects.delete(id);
      this.emit({ type: 'DELETED', object: next });
      return clone(next);
    }
    this.objects.set(id, next);
    this.emit({ type: 'MODIFIED', object: next });
    return clone(next);
  }

  /** @internal */
  _delete(apiVersion: string, kind: string, key: string, opts: DeleteOptions): void {
    const id = `${apiVersion}|${kind}|${key}`;
    const cur = this.objects.get(id);
    if (!cur) throw notFound(`${kind} ${key} not found`);
    this.beforeWrite?.('delete', cur);
    if (opts.uid && cur.metadata.uid !== opts.uid) throw conflict(`${kind} ${key}: uid precondition failed`);
    if (opts.resourceVersion && cur.metadata.resourceVersion !== opts.resourceVersion) throw conflict(`${kind} ${key}: resourceVersion precondition failed`);
    this.writes.push({ verb: 'delete', kind, key });
    const fin = [...(cur.metadata.finalizers ?? [])];
    if (opts.propagationPolicy === 'Foreground' && !fin.includes('foregroundDeletion')) fin.push('foregroundDeletion');
    if (opts.propagationPolicy === 'Orphan' && !fin.includes('orphan')) fin.push('orphan');
    if (fin.length > 0) {
      if (cur.metadata.deletionTimestamp && fin.length === (cur.metadata.finalizers ?? []).length) return;
      const next = clone(cur);
      next.metadata.finalizers = fin;
      next.metadata.deletionTimestamp ??= new Date(this.clock.now()).toISOString();
      next.metadata.resourceVersion = String(++this.rv);
      this.objects.set(id, next);
      this.emit({ type: 'MODIFIED', object: next });
      return;
    }
    this.objects.delete(id);
    const tomb = clone(cur);
    tomb.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', object: tomb });
  }
}

class MemoryResource<T extends Obj> implements ResourceApi<T> {
  constructor(
    private readonly c: MemoryCluster,
    readonly apiVersion: string,
    readonly kind: string,
    readonly namespaced: boolean,
  ) {}

  list(opts: ListOptions = {}): Promise<ListResult<T>> {
    return Promise.resolve(this.c._list(this.apiVersion, this.kind, opts) as ListResult<T>);
  }

  async *watch(opts: ListOptions & { resourceVersion: string; signal: AbortSignal }): AsyncIterable<WatchEvent<T>> {
    const buf: WatchEvent<Obj>[] = [];
    let wake: (() => void) | undefined;
    const unsub = this.c._subscribe(this.apiVersion, this.kind, (ev) => {
      if (opts.namespace && ev.object.metadata.namespace !== opts.namespace) return;
      if (Number(ev.object.metadata.resourceVersion) <= Number(opts.resourceVersion)) return;
      buf.push(ev);
      wake?.();
    });
    const onAbort = () => wake?.();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!opts.signal.aborted) {
        const ev = buf.shift();
        if (ev) {
          yield ev as WatchEvent<T>;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      unsub();
      opts.signal.removeEventListener('abort', onAbort);
    }
  }

  get(namespace: string | undefined, name: string): Promise<T> {
    const o = this.c._get(this.apiVersion, this.kind, namespace ? `${namespace}/${name}` : name);
    if (!o) return Promise.reject(notFound(`${this.kind} ${name} not found`));
    return Promise.resolve(clone(o) as T);
  }

  create(obj: T): Promise<T> {
    return this.wrap(() => this.c._write('create', obj) as T);
  }

  update(obj: T): Promise<T> {
    return this.wrap(() => this.c._write('update', obj) as T);
  }

  updateStatus(obj: T): Promise<T> {
    return this.wrap(() => this.c._write('status', obj) as T);
  }

  delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    return this.wrap(() => this.c._delete(this.apiVersion, this.kind, namespace ? `${namespace}/${name}` : name, opts));
  }

  private wrap<R>(f: () => R): Promise<R> {
    try {
      return Promise.resolve(f());
    } catch (err) {
      return Promise.reject(err instanceof WharfError ? err : new WharfError('Internal', String(err)));
    }
  }
}
