import type { Obj } from './objects.js';

// The small client interface the controllers need (interfaces belong to their users).
// The API server's typed client (src/cluster/client/) is adapted to it in one place
// (client-adapter.ts); unit tests use MemoryCluster.

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Delete only if the object still has this uid. */
  uid?: string;
  resourceVersion?: string;
  gracePeriodSeconds?: number;
}

export interface ResourceApi<T extends Obj = Obj> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
  list(opts?: ListOptions): Promise<ListResult<T>>;
  /** Events after resourceVersion; throws a WharfError of kind Gone when that history is compacted. */
  watch(opts: ListOptions & { resourceVersion: string; signal: AbortSignal }): AsyncIterable<WatchEvent<T>>;
  get(namespace: string | undefined, name: string): Promise<T>;
  create(obj: T): Promise<T>;
  /** Replaces the object; Conflict when metadata.resourceVersion is stale. */
  update(obj: T): Promise<T>;
  /** Replaces the status subresource; Conflict when metadata.resourceVersion is stale. */
  updateStatus(obj: T): Promise<T>;
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  /** POST pods/NAME/binding (pods only; the scheduler and test node helpers use it). */
  bind?(pod: Obj, nodeName: string): Promise<void>;
}

export interface ClusterApi {
  resource<T extends Obj = Obj>(apiVersion: string, kind: string): ResourceApi<T>;
}
