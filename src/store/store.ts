// The cluster's revisioned key-value store: the one contract between the API server
// and its backends (sqlite/, etcd/). Semantics follow etcd's MVCC model, which is what
// Kubernetes' storage layer expects:
//  - every successful write bumps one global revision; a key's modRevision is the
//    revision of its last write, createRevision the revision that created it;
//  - writes are compare-and-swap on modRevision;
//  - watch delivers every event with revision > afterRevision, in revision order,
//    with no gaps and no duplicates, or fails with kind 'Gone' if that history was compacted.
// Errors are WharfErrors: AlreadyExists (create of a present key), NotFound, Conflict
// (CAS mismatch), Gone (compacted), Unavailable (backend down).

export type LeaseId = string;

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Number of writes since creation (1 after create). */
  version: number;
  lease?: LeaseId;
}

export interface ListOptions {
  /** Read at this revision (must not be compacted); default: current. */
  revision?: number;
  /** At most this many items; 0 or absent: all. */
  limit?: number;
  /** Opaque token from a previous page. */
  continue?: string;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at: a watch from it misses nothing. */
  revision: number;
  /** Set when more items remain. */
  continue?: string;
  /** Items left after this page (when known). */
  remaining?: number;
}

export interface WriteOptions {
  /** Attach the key to a lease: it is deleted when the lease expires. */
  lease?: LeaseId;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prevKv?: KeyValue }
  | { type: 'delete'; kv: KeyValue /* tombstone: value '', modRevision = delete revision */; prevKv?: KeyValue };

export interface WatchOptions {
  /** Deliver events with revision > afterRevision. Default: current revision (only new events). */
  afterRevision?: number;
  signal?: AbortSignal;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  count(prefix: string): Promise<number>;
  create(key: string, value: string, opts?: WriteOptions): Promise<KeyValue>;
  /** CAS update: fails with Conflict unless the key's modRevision equals expectedModRevision. */
  update(key: string, value: string, expectedModRevision: number, opts?: WriteOptions): Promise<KeyValue>;
  /** Delete (CAS when expectedModRevision is given); returns the tombstone with the delete revision. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Events in revision order until the signal aborts or the store closes. Throws Gone if compacted. */
  watch(prefix: string, opts?: WatchOptions): AsyncIterable<WatchEvent>;
  currentRevision(): Promise<number>;
  /** Forget history at or below revision (current values are kept). */
  compact(revision: number): Promise<void>;
  grantLease(ttlSeconds: number): Promise<LeaseId>;
  keepAlive(lease: LeaseId): Promise<void>;
  revokeLease(lease: LeaseId): Promise<void>;
  close(): Promise<void>;
}
