import type { KubeObject } from '../apis/meta.js';

// The client interface every cluster component programs against: one ResourceApi per kind,
// from a ClusterApi. ClusterClient (cluster-client.ts) implements it over HTTP; the
// controllers' unit tests use MemoryCluster (memory-cluster.ts), a test double of it.

export interface ListOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
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
  /** BOOKMARK events carry the newest resourceVersion on a quiet stream (informers ask for them). */
  allowWatchBookmarks?: boolean;
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Delete only if the object still has this uid. */
  uid?: string;
  resourceVersion?: string;
  gracePeriodSeconds?: number;
  dryRun?: boolean;
}

export interface WriteOptions {
  dryRun?: boolean;
}

export type PatchKind = 'merge' | 'json' | 'strategic';

export interface PatchOptions extends WriteOptions {
  subresource?: 'status' | 'scale';
}

/** Binding a pod to a node: the pod's uid and resourceVersion are the preconditions. */
export interface PodRef {
  metadata: { name?: string | undefined; namespace?: string | undefined; uid?: string | undefined; resourceVersion?: string | undefined };
}

export interface ResourceApi<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespaced: boolean;
  list(opts?: ListOptions): Promise<ListResult<T>>;
  /** Events after opts.resourceVersion; throws a WharfError of kind Gone when that history is compacted. */
  watch(opts: WatchOptions): AsyncIterable<WatchEvent<T>>;
  get(namespace: string | undefined, name: string): Promise<T>;
  create(obj: T, opts?: WriteOptions): Promise<T>;
  /** Replaces the object; Conflict when metadata.resourceVersion is stale. */
  update(obj: T, opts?: WriteOptions): Promise<T>;
  /** Replaces the status subresource; Conflict when metadata.resourceVersion is stale. */
  updateStatus(obj: T): Promise<T>;
  /** A merge, JSON or strategic-merge patch (the in-memory test double has none). */
  patch?(namespace: string | undefined, name: string, patch: unknown, type?: PatchKind, opts?: PatchOptions): Promise<T>;
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<void>;
  /** POST pods/NAME/binding (pods only). */
  bind?(pod: PodRef, nodeName: string): Promise<void>;
}

export interface ClusterApi {
  resource<T extends KubeObject = KubeObject>(apiVersion: string, kind: string): ResourceApi<T>;
}

/** `namespace/name`, or `name` for cluster-scoped objects: cache and workqueue keys. */
export function objectKey(o: { metadata: { namespace?: string | undefined; name?: string | undefined } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata.name ?? '');
}
