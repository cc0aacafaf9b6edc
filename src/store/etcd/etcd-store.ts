import { Etcd3, type IKeyValue, type IWatchResponse, type IResponseHeader } from 'etcd3';
import { WharfError, invalid } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { silentLogger } from '../../core/log.js';
import { decodeContinue, encodeContinue, prefixEnd, validateKey } from '../keys.js';
import type { KeyValue, LeaseId, ListOptions, ListResult, Store, WatchEvent, WatchOptions, WriteOptions } from '../store.js';

// The Store contract on etcd 3.4 (several API servers on one consensus store).
// Revisions are etcd's own; every key lives under `prefix`. CAS is an etcd
// transaction comparing the key's mod_revision; watch is one gRPC watch stream per
// watcher, resumed from the last delivered revision after a disconnect, so events
// arrive in order with no gaps and no duplicates; a compacted start revision answers
// Gone. Note: etcd compaction is cluster-wide, not per prefix.

/** Keys per range call when listing. */
const LIST_CHUNK = 1000;

export interface EtcdStoreOptions {
  /** Client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Every key is stored under this prefix. Default '/wharf'. */
  prefix?: string;
  /** Deadline of each unary call. Default 5 s. */
  timeoutMs?: number;
  /** Every interval, compact etcd to the revision seen at the previous tick (what the
   * Kubernetes apiserver does). Default 5 minutes; 0 disables. Several stores on one
   * etcd may all do it: compacting to an already compacted revision is a no-op. */
  compactIntervalMs?: number;
  logger?: Logger;
}

type RawStream<Req, Res> = {
  write(item: Req): void;
  end(): void;
  cancel(): void;
  on(event: 'data', fn: (r: Res) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  on(event: 'end', fn: () => void): unknown;
  removeAllListeners(): unknown;
};

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** etcd3 errors to our kinds (their messages are etcd's stable error strings). */
function etcdError(err: unknown, context: string): WharfError {
  if (err instanceof WharfError) return err;
  const m = msg(err);
  const name = err instanceof Error ? err.constructor.name : '';
  if (m.includes('required revision has been compacted')) return new WharfError('Gone', `${context}: ${m}`, { cause: err });
  if (m.includes('required revision is a future revision')) return new WharfError('InvalidArgument', `${context}: ${m}`, { cause: err });
  if (m.includes('requested lease not found') || name === 'EtcdLeaseInvalidError') {
    return new WharfError('NotFound', `${context}: lease not found`, { cause: err });
  }
  if (
    name === 'GRPCUnavailableError' ||
    name === 'GRPCDeadlineExceededError' ||
    name === 'ClientClosedError' ||
    m.includes('no leader') ||
    m.includes('timed out') ||
    m.includes('Unavailable')
  ) {
    return new WharfError('Unavailable', `${context}: etcd unavailable: ${m}`, { cause: err });
  }
  return new WharfError('Internal', `${context}: ${m}`, { cause: err });
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly log: Logger;
  /** Highest revision seen in any response: a watch without afterRevision starts after it. */
  private knownRevision = 0;
  private closed = false;
  private readonly watchers = new Set<EtcdWatcher>();
  private compactTimer: NodeJS.Timeout | undefined;
  private lastTickRevision = 0;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw invalid('etcd store: no endpoints');
    const timeout = opts.timeoutMs ?? 5000;
    this.prefix = opts.prefix ?? '/wharf';
    this.log = opts.logger ?? silentLogger();
    this.client = new Etcd3({
      hosts: opts.endpoints,
      dialTimeout: timeout,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // etcd accepts values up to 1.5 MiB and a watch response may batch many: lift gRPC's 4 MiB cap.
      grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    });
    const every = opts.compactIntervalMs ?? 5 * 60_000;
    if (every > 0) {
      this.compactTimer = setInterval(() => {
        this.periodicCompact().catch((err: unknown) => this.log.warn({ err }, 'etcd store: periodic compaction failed'));
      }, every);
      this.compactTimer.unref();
    }
  }

  private async periodicCompact(): Promise<void> {
    const current = await this.currentRevision();
    const target = this.lastTickRevision;
    this.lastTickRevision = current;
    if (target > 0) await this.compact(target);
  }

  private k(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8');
  }

  private seen(h: IResponseHeader | undefined): number {
    const rev = h ? Number(h.revision) : 0;
    if (rev > this.knownRevision) this.knownRevision = rev;
    return rev;
  }

  private toKv(kv: IKeyValue): KeyValue {
    const out: KeyValue = {
      key: kv.key.toString('utf8').slice(this.prefix.length),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
    if (kv.lease && kv.lease !== '0') out.lease = String(kv.lease);
    return out;
  }

  private check(): void {
    if (this.closed) throw new WharfError('Unavailable', 'store is closed');
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.check();
    validateKey(key);
    try {
      const r = await this.client.kv.range({ key: this.k(key) });
      this.seen(r.header);
      const kv = r.kvs[0];
      return kv ? this.toKv(kv) : undefined;
    } catch (err) {
      throw etcdError(err, `get ${key}`);
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.check();
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw invalid(`limit must be a non-negative integer, got ${limit}`);
    let revision = opts.revision ?? 0;
    if (!Number.isInteger(revision) || revision < 0) throw invalid(`revision must be a non-negative integer, got ${revision}`);
    let start = this.k(prefix);
    if (opts.continue) {
      const c = decodeContinue(opts.continue, prefix);
      revision = c.revision;
      start = Buffer.concat([this.k(c.key), Buffer.from([0])]);
    }
    const end = Buffer.from(prefixEnd(this.prefix + prefix), 'utf8');
    try {
      // Read in chunks at one revision: a single range of 10,000 pods is larger than
      // a gRPC message may be, and chunks keep etcd's own memory use flat.
      const items: KeyValue[] = [];
      let total: number | undefined;
      let more = true;
      let key = start;
      while (more && (limit === 0 || items.length < limit)) {
        const want = limit === 0 ? LIST_CHUNK : Math.min(LIST_CHUNK, limit - items.length);
        const r = await this.client.kv.range({ key, range_end: end, limit: want, ...(revision > 0 ? { revision } : {}) });
        const headerRev = this.seen(r.header);
        if (revision === 0) revision = headerRev;
        total ??= Number(r.count);
        for (const kv of r.kvs) items.push(this.toKv(kv));
        more = r.more;
        const last = r.kvs[r.kvs.length - 1];
        if (!last) break;
        key = Buffer.concat([last.key, Buffer.from([0])]);
      }
      const result: ListResult = { items, revision };
      if (limit > 0) {
        result.remaining = Math.max((total ?? 0) - items.length, 0);
        if (more && items.length > 0) result.continue = encodeContinue(items[items.length - 1]!.key, revision);
      }
      return result;
    } catch (err) {
      throw etcdError(err, `list ${prefix}`);
    }
  }

  async count(prefix: string): Promise<number> {
    this.check();
    try {
      const r = await this.client.kv.range({
        key: this.k(prefix),
        range_end: Buffer.from(prefixEnd(this.prefix + prefix), 'utf8'),
        count_only: true,
      });
      this.seen(r.header);
      return Number(r.count);
    } catch (err) {
      throw etcdError(err, `count ${prefix}`);
    }
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KeyValue> {
    this.check();
    validateKey(key);
    const lease = parseLease(opts.lease);
    try {
      const r = await this.client.kv.txn({
        compare: [{ key: this.k(key), target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: this.k(key), value: Buffer.from(value, 'utf8'), ...(lease ? { lease } : {}) } }],
        failure: [],
      });
      const rev = this.seen(r.header);
      if (!r.succeeded) throw new WharfError('AlreadyExists', `key ${key} already exists`);
      const kv: KeyValue = { key, value, createRevision: rev, modRevision: rev, version: 1 };
      if (lease) kv.lease = lease;
      return kv;
    } catch (err) {
      throw etcdError(err, `create ${key}`);
    }
  }

  async update(key: string, value: string, expectedModRevision: number, opts: WriteOptions = {}): Promise<KeyValue> {
    this.check();
    validateKey(key);
    const lease = parseLease(opts.lease);
    try {
      const r = await this.client.kv.txn({
        compare: [{ key: this.k(key), target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
        success: [
          { request_put: { key: this.k(key), value: Buffer.from(value, 'utf8'), prev_kv: true, ...(lease ? { lease } : {}) } },
        ],
        failure: [{ request_range: { key: this.k(key) } }],
      });
      const rev = this.seen(r.header);
      if (!r.succeeded) {
        const cur = r.responses[0]?.response_range?.kvs[0];
        if (!cur) throw new WharfError('NotFound', `key ${key} not found`);
        throw new WharfError('Conflict', `key ${key} was modified: revision ${cur.mod_revision}, expected ${expectedModRevision}`, {
          details: { modRevision: Number(cur.mod_revision) },
        });
      }
      const prev = r.responses[0]?.response_put?.prev_kv;
      const kv: KeyValue = {
        key,
        value,
        createRevision: prev ? Number(prev.create_revision) : rev,
        modRevision: rev,
        version: prev ? Number(prev.version) + 1 : 1,
      };
      if (lease) kv.lease = lease;
      return kv;
    } catch (err) {
      throw etcdError(err, `update ${key}`);
    }
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    this.check();
    validateKey(key);
    try {
      const r = await this.client.kv.txn({
        compare:
          expectedModRevision === undefined
            ? [{ key: this.k(key), target: 'Version', result: 'Greater', version: 0 }]
            : [{ key: this.k(key), target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
        success: [{ request_delete_range: { key: this.k(key), prev_kv: true } }],
        failure: [{ request_range: { key: this.k(key) } }],
      });
      const rev = this.seen(r.header);
      if (!r.succeeded) {
        const cur = r.responses[0]?.response_range?.kvs[0];
        if (!cur) throw new WharfError('NotFound', `key ${key} not found`);
        throw new WharfError('Conflict', `key ${key} was modified: revision ${cur.mod_revision}, expected ${expectedModRevision}`, {
          details: { modRevision: Number(cur.mod_revision) },
        });
      }
      const prev = r.responses[0]?.response_delete_range?.prev_kvs[0];
      if (!prev) throw new WharfError('NotFound', `key ${key} not found`);
      return { key, value: '', createRevision: Number(prev.create_revision), modRevision: rev, version: 0 };
    } catch (err) {
      throw etcdError(err, `delete ${key}`);
    }
  }

  watch(prefix: string, opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    let err: WharfError | undefined;
    const after = opts.afterRevision;
    try {
      this.check();
      if (after !== undefined && (!Number.isInteger(after) || after < 0)) throw invalid(`afterRevision must be a non-negative integer, got ${after}`);
    } catch (e) {
      err = etcdError(e, `watch ${prefix}`);
    }
    const w = new EtcdWatcher(this, prefix, after ?? (this.knownRevision > 0 ? this.knownRevision : undefined), opts.signal);
    if (err) w.fail(err);
    else if (!w.done) {
      this.watchers.add(w);
      w.start();
    }
    return w;
  }

  /** @internal for EtcdWatcher */
  openWatchStream(): Promise<RawStream<unknown, IWatchResponse>> {
    return this.client.watchClient.watch() as unknown as Promise<RawStream<unknown, IWatchResponse>>;
  }

  /** @internal */
  watchRange(prefix: string): { key: Buffer; range_end: Buffer } {
    return { key: this.k(prefix), range_end: Buffer.from(prefixEnd(this.prefix + prefix), 'utf8') };
  }

  /** @internal */
  eventOf(type: string, kv: IKeyValue, prev: IKeyValue | undefined): WatchEvent {
    const cur = this.toKv(kv);
    const prevKv = prev ? this.toKv(prev) : undefined;
    if (type === 'Delete' || type === 'DELETE' || (type as unknown) === 1) {
      const ev: WatchEvent = { type: 'delete', kv: { ...cur, value: '', version: 0 } };
      if (prevKv) ev.prevKv = prevKv;
      return ev;
    }
    const ev: WatchEvent = { type: 'put', kv: cur };
    if (prevKv) ev.prevKv = prevKv;
    return ev;
  }

  /** @internal */
  unregister(w: EtcdWatcher): void {
    this.watchers.delete(w);
  }

  /** @internal */
  get logger(): Logger {
    return this.log;
  }

  /** @internal */
  get isClosed(): boolean {
    return this.closed;
  }

  async currentRevision(): Promise<number> {
    this.check();
    try {
      const r = await this.client.kv.range({ key: this.k('/'), count_only: true });
      return this.seen(r.header);
    } catch (err) {
      throw etcdError(err, 'current revision');
    }
  }

  async compact(revision: number): Promise<void> {
    this.check();
    if (!Number.isInteger(revision) || revision < 0) throw invalid(`compact revision must be a non-negative integer, got ${revision}`);
    try {
      await this.client.kv.compact({ revision, physical: true });
    } catch (err) {
      const e = etcdError(err, `compact ${revision}`);
      if (e.kind === 'Gone') return; // already compacted at or beyond it
      throw e;
    }
  }

  async grantLease(ttlSeconds: number): Promise<LeaseId> {
    this.check();
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw invalid(`lease TTL must be a positive integer of seconds, got ${ttlSeconds}`);
    try {
      const r = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
      if (r.error) throw new WharfError('Internal', `grant lease: ${r.error}`);
      return String(r.ID);
    } catch (err) {
      throw etcdError(err, 'grant lease');
    }
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    this.check();
    const id = parseLease(lease)!;
    let stream: RawStream<{ ID: string }, { ID: string; TTL: string }> | undefined;
    try {
      stream = (await this.client.leaseClient.leaseKeepAlive()) as unknown as RawStream<{ ID: string }, { ID: string; TTL: string }>;
      const s = stream;
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const t = setTimeout(() => reject(new WharfError('Unavailable', 'lease keep-alive: no answer from etcd')), 5000);
        s.on('data', (r) => {
          clearTimeout(t);
          resolve(r);
        });
        s.on('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
        s.write({ ID: id });
      });
      if (Number(res.TTL) <= 0) throw new WharfError('NotFound', `lease ${lease} not found`);
    } catch (err) {
      throw etcdError(err, `keep lease ${lease} alive`);
    } finally {
      if (stream) {
        stream.removeAllListeners();
        stream.on('error', () => {});
        stream.cancel();
      }
    }
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    this.check();
    const id = parseLease(lease)!;
    try {
      const r = await this.client.leaseClient.leaseRevoke({ ID: id });
      this.seen(r.header);
    } catch (err) {
      throw etcdError(err, `revoke lease ${lease}`);
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.compactTimer) clearInterval(this.compactTimer);
    for (const w of [...this.watchers]) w.finish();
    this.client.close();
    return Promise.resolve();
  }
}

function parseLease(lease: LeaseId | undefined): string | undefined {
  if (lease === undefined) return undefined;
  if (!/^[1-9][0-9]{0,19}$/.test(lease)) throw invalid(`invalid lease id ${JSON.stringify(lease)}`);
  return lease;
}

/** One watch: its own gRPC watch stream, re-opened from the last delivered revision after a failure. */
class EtcdWatcher implements AsyncIterableIterator<WatchEvent> {
  done = false;
  private error: WharfError | undefined;
  private readonly queue: WatchEvent[] = [];
  private wake: (() => void) | undefined;
  private stream: RawStream<unknown, IWatchResponse> | undefined;
  private backoffMs = 100;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly prefix: string,
    /** Highest revision delivered (or the start point); undefined: from "now" as etcd sees it. */
    private cursor: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal) {
      if (signal.aborted) this.finish();
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private readonly onAbort = () => this.finish();

  start(): void {
    if (this.done) return;
    this.store
      .openWatchStream()
      .then((stream) => this.attach(stream))
      .catch((err: unknown) => this.retry(err));
  }

  private attach(stream: RawStream<unknown, IWatchResponse>): void {
    if (this.done) {
      stream.on('error', () => {});
      stream.cancel();
      return;
    }
    this.stream = stream;
    stream.on('data', (res) => this.onResponse(res));
    stream.on('error', (err) => this.retry(err));
    stream.on('end', () => this.retry(new Error('watch stream ended')));
    stream.write({
      create_request: {
        ...this.store.watchRange(this.prefix),
        ...(this.cursor !== undefined ? { start_revision: this.cursor + 1 } : {}),
        prev_kv: true,
      },
    });
  }

  private onResponse(res: IWatchResponse): void {
    if (this.done) return;
    if (res.created) {
      this.backoffMs = 100;
      // Without a start revision, etcd watches from the revision after this header.
      if (this.cursor === undefined) this.cursor = Number(res.header.revision);
    }
    if (res.canceled) {
      const compacted = Number(res.compact_revision ?? 0);
      if (compacted > 0) {
        this.fail(new WharfError('Gone', `revision ${this.cursor ?? 0} has been compacted (compacted up to ${compacted})`));
      } else {
        this.fail(new WharfError('Unavailable', `watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`));
      }
      return;
    }
    for (const e of res.events ?? []) {
      const rev = Number(e.kv.mod_revision);
      if (this.cursor !== undefined && rev <= this.cursor) continue; // a replay after reconnect
      this.queue.push(this.store.eventOf(String(e.type), e.kv, e.prev_kv));
      this.cursor = rev;
    }
    this.notify();
  }

  private retry(err: unknown): void {
    if (this.done) return;
    this.dropStream();
    this.store.logger.debug({ err, prefix: this.prefix }, 'etcd watch: stream failed, reconnecting');
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 2000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, ms);
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => {});
      try {
        s.cancel();
      } catch {
        // already gone
      }
    }
  }

  fail(err: WharfError): void {
    if (this.done) return;
    this.error = err;
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.signal?.removeEventListener('abort', this.onAbort);
    this.dropStream();
    this.store.unregister(this);
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async next(): Promise<IteratorResult<WatchEvent>> {
    for (;;) {
      const ev = this.queue.shift();
      if (ev) return { value: ev, done: false };
      if (this.error) {
        const e = this.error;
        this.error = undefined;
        throw e;
      }
      if (this.done) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  return(): Promise<IteratorResult<WatchEvent>> {
    this.queue.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    return this;
  }
}
