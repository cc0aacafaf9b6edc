import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';
import { WharfError, invalid } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { silentLogger } from '../../core/log.js';
import type { KeyValue, LeaseId, ListOptions, ListResult, Store, WatchEvent, WatchOptions, WriteOptions } from '../store.js';
import { decodeContinue, encodeContinue, prefixEnd, validateKey } from '../keys.js';

// The default cluster store: an append-only revision log in SQLite (kine's model).
// Every write appends one row whose id is the new global revision; a key's current
// value is its row with the highest id. Compare-and-swap runs inside an IMMEDIATE
// transaction (one writer at a time, across processes too) and is backed by a
// UNIQUE(name, prev_revision) index, so two writers can never both extend the same
// revision of a key. Leases live in their own table: keepAlive rewrites one small
// row and never appends history (k3s issue 10619). Old revisions are compacted
// periodically and the WAL is checkpointed so the files stay bounded (k3s issue 3660).

export interface SqliteStoreOptions {
  /** Database file; its directory is created. */
  path: string;
  clock?: Clock;
  logger?: Logger;
  /** 'normal' (default): synchronous=NORMAL in WAL mode: a committed write survives a
   * process kill; the last commits may be lost on power loss. 'full': fsync every commit. */
  durability?: 'normal' | 'full';
  /** Periodic compaction: every interval, history older than the revision seen at the
   * previous tick is forgotten (Kubernetes' apiserver does the same every 5 minutes).
   * 0 disables. Default 5 minutes. */
  compactIntervalMs?: number;
  /** Always keep at least this many revisions of history. Default 5,000. */
  compactMinRetain?: number;
  /** When more revisions than this accumulate, compact down to compactMinRetain without
   * waiting for the tick, so heavy churn cannot grow the file. Default 25,000; 0 disables. */
  compactMaxHistory?: number;
  /** How often leases are checked for expiry. Default 500 ms. */
  leaseCheckIntervalMs?: number;
  /** How often watchers look for writes made by other processes. Default 100 ms. */
  pollIntervalMs?: number;
  /** Events buffered per watcher before it falls back to reading the log itself. Default 10,000. */
  watchQueueLimit?: number;
}

interface Row {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  version: number;
  lease: number | null;
  value: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER,
  value TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev ON kv(name, prev_revision);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);
CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS lease (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('compact_revision', 0);
`;

const CATCHUP_PAGE = 500;
const DISPATCH_PAGE = 1000;
const COMPACT_BATCH = 5000;
/** Most writes committed in one transaction. */
const MAX_BATCH = 1000;
/** Free pages (4 KiB) kept for reuse before the file is shrunk. */
const RECLAIM_FREE_PAGES = 4096;

function toKv(r: Row): KeyValue {
  const kv: KeyValue = {
    key: r.name,
    value: r.value,
    createRevision: r.create_revision,
    modRevision: r.id,
    version: r.version,
  };
  if (r.lease !== null) kv.lease = String(r.lease);
  return kv;
}

function tombstone(r: Row): KeyValue {
  return { key: r.name, value: '', createRevision: r.create_revision, modRevision: r.id, version: 0 };
}

/** The state before a delete row: the tombstone row keeps the deleted value. */
function beforeDelete(r: Row): KeyValue {
  const kv: KeyValue = {
    key: r.name,
    value: r.value,
    createRevision: r.create_revision,
    modRevision: r.prev_revision,
    version: r.version,
  };
  if (r.lease !== null) kv.lease = String(r.lease);
  return kv;
}

function parseLease(lease: LeaseId | undefined): number | null {
  if (lease === undefined) return null;
  if (!/^[1-9][0-9]{0,15}$/.test(lease)) throw invalid(`invalid lease id ${JSON.stringify(lease)}`);
  return Number(lease);
}

function sqliteError(err: unknown, context: string): WharfError {
  if (err instanceof WharfError) return err;
  const code = (err as { code?: string }).code ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') return new WharfError('Conflict', `${context}: concurrent write`, { cause: err });
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new WharfError('Unavailable', `${context}: database busy`, { cause: err });
  }
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) return new WharfError('Unavailable', `${context}: ${msg}`, { cause: err });
  return new WharfError('Internal', `${context}: ${msg}`, { cause: err });
}

/** One watch: a cursor into the log plus a queue of events waiting for the consumer. */
class SqliteWatcher implements AsyncIterableIterator<WatchEvent> {
  /** Highest revision already queued or delivered. */
  cursor: number;
  live = false;
  done = false;
  error: WharfError | undefined;
  private readonly queue: WatchEvent[] = [];
  private wake: (() => void) | undefined;
  private readonly end: string | undefined;

  constructor(
    private readonly store: SqliteStore,
    readonly prefix: string,
    after: number,
    private readonly limit: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.cursor = after;
    this.end = prefix === '' ? undefined : prefixEnd(prefix);
    if (signal) {
      if (signal.aborted) this.finish();
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private readonly onAbort = () => this.finish();

  matches(name: string): boolean {
    return name >= this.prefix && (this.end === undefined || name < this.end);
  }

  /** Called by the dispatcher, for rows in revision order. */
  push(ev: WatchEvent, rev: number): void {
    if (this.done || rev <= this.cursor) return;
    if (this.queue.length >= this.limit) {
      // Too slow a consumer: drop the buffer and read the log from where it stands.
      const lastQueued = this.queue[0];
      this.queue.length = 0;
      this.cursor = lastQueued ? lastQueued.kv.modRevision - 1 : this.cursor;
      this.live = false;
      this.notify();
      return;
    }
    this.queue.push(ev);
    this.cursor = rev;
    this.notify();
  }

  fail(err: WharfError): void {
    if (this.done) return;
    this.error = err;
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener('abort', this.onAbort);
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
      if (!this.live) {
        try {
          this.store.catchUp(this, CATCHUP_PAGE);
        } catch (err) {
          this.fail(sqliteError(err, 'watch'));
        }
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Catch-up: append events read from the log (used by the store only). */
  appendCatchUp(events: Array<{ ev: WatchEvent; rev: number }>): void {
    for (const { ev, rev } of events) {
      if (rev <= this.cursor) continue;
      this.queue.push(ev);
      this.cursor = rev;
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

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly watchers = new Set<SqliteWatcher>();
  /** Highest revision the dispatcher has handed to live watchers. */
  private dispatched: number;
  private dispatchScheduled = false;
  private readonly writeQueue: Array<{
    run: () => unknown;
    resolve: (v: unknown) => void;
    reject: (e: unknown) => void;
    context: string;
  }> = [];
  private flushScheduled = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastTickRevision = 0;
  private compacting: Promise<void> = Promise.resolve();
  private compactionRunning = false;
  private readonly compactMaxHistory: number;
  private readonly watchQueueLimit: number;
  private readonly compactMinRetain: number;

  private readonly st: {
    latest: Database.Statement<[string], Row>;
    seq: Database.Statement<[], { seq: number }>;
    insert: Database.Statement<[number, string, number, number, number, number, number, number | null, string]>;
    leaseGet: Database.Statement<[number], { id: number; ttl: number; expires_at: number }>;
    compactRev: Database.Statement<[], { value: number }>;
    after: Database.Statement<[number, number], Row>;
    afterPrefix: Database.Statement<[number, number, string, string, number], Row>;
    byId: Database.Statement<[number], Row>;
  };

  constructor(opts: SqliteStoreOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.watchQueueLimit = opts.watchQueueLimit ?? 10_000;
    this.compactMinRetain = opts.compactMinRetain ?? 5000;
    this.compactMaxHistory = opts.compactMaxHistory ?? 25_000;
    if (this.compactMaxHistory > 0 && this.compactMaxHistory <= this.compactMinRetain) {
      throw invalid('compactMaxHistory must be larger than compactMinRetain');
    }
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path, { timeout: 5000 });
    try {
      // auto_vacuum must be chosen before the first table exists.
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('journal_size_limit = 8388608');
      this.db.pragma('wal_autocheckpoint = 1000');
      // Lists read every value under a prefix: keep the hot set in memory (64 MiB page
      // cache) and read the file through mmap rather than a read() per page.
      this.db.pragma('cache_size = -65536');
      this.db.pragma('mmap_size = 268435456');
      this.db.exec(SCHEMA);
    } catch (err) {
      this.db.close();
      throw sqliteError(err, `open ${opts.path}`);
    }
    this.st = {
      latest: this.db.prepare<[string], Row>('SELECT * FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1'),
      seq: this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'kv'"),
      insert: this.db.prepare(
        'INSERT INTO kv(id, name, created, deleted, create_revision, prev_revision, version, lease, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      leaseGet: this.db.prepare('SELECT * FROM lease WHERE id = ?'),
      compactRev: this.db.prepare("SELECT value FROM meta WHERE key = 'compact_revision'"),
      after: this.db.prepare<[number, number], Row>('SELECT * FROM kv WHERE id > ? ORDER BY id LIMIT ?'),
      afterPrefix: this.db.prepare<[number, number, string, string, number], Row>(
        'SELECT * FROM kv WHERE id > ? AND id <= ? AND name >= ? AND name < ? ORDER BY id LIMIT ?',
      ),
      byId: this.db.prepare<[number], Row>('SELECT * FROM kv WHERE id = ?'),
    };
    this.dispatched = this.rev();
    this.lastTickRevision = this.dispatched;

    const compactEvery = opts.compactIntervalMs ?? 5 * 60_000;
    if (compactEvery > 0) this.every(compactEvery, () => this.periodicCompact());
    this.every(opts.leaseCheckIntervalMs ?? 500, () => {
      this.expireLeases();
      this.capHistory();
    });
    this.every(opts.pollIntervalMs ?? 100, () => {
      if (this.watchers.size > 0 && this.rev() > this.dispatched) this.dispatch();
    });
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(() => {
      if (this.closed) return;
      try {
        fn();
      } catch (err) {
        this.log.warn({ err }, 'sqlite store: background task failed');
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private check(): void {
    if (this.closed) throw new WharfError('Unavailable', 'store is closed');
  }

  private rev(): number {
    return this.st.seq.get()?.seq ?? 0;
  }

  private compactRevision(): number {
    return this.st.compactRev.get()?.value ?? 0;
  }

  /** Runs fn in an IMMEDIATE transaction (the write lock), then wakes watchers. */
  /**
   * Group commit: queues a write; all writes queued in one turn of the event loop
   * run in one IMMEDIATE transaction (each checks and appends on top of the ones
   * before it), and every promise settles only after that transaction commits.
   * One commit per batch instead of per write is what makes 16 concurrent clients
   * fast; a write that fails its own check (Conflict, NotFound, ...) fails alone.
   */
  private write<T>(context: string, fn: () => T): Promise<T> {
    this.check();
    return new Promise<T>((resolve, reject) => {
      this.writeQueue.push({ run: fn, resolve: resolve as (v: unknown) => void, reject, context });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.writeQueue.splice(0, MAX_BATCH);
    if (this.writeQueue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length === 0) return;
    if (this.closed) {
      for (const w of batch) w.reject(new WharfError('Unavailable', `${w.context}: store is closed`));
      return;
    }
    const results: Array<{ ok: true; value: unknown } | { ok: false; error: WharfError }> = [];
    try {
      this.db
        .transaction(() => {
          for (const w of batch) {
            try {
              results.push({ ok: true, value: w.run() });
            } catch (err) {
              // A refused write (checked before it wrote anything) fails alone; an
              // SQLite error aborts the whole batch, since SQLite may have rolled back.
              if (!(err instanceof WharfError)) throw err;
              results.push({ ok: false, error: err });
            }
          }
        })
        .immediate();
    } catch (err) {
      for (const w of batch) w.reject(sqliteError(err, w.context));
      return;
    }
    batch.forEach((w, i) => {
      const r = results[i]!;
      if (r.ok) w.resolve(r.value);
      else w.reject(sqliteError(r.error, w.context));
    });
    try {
      this.dispatch();
    } catch (err) {
      this.log.warn({ err }, 'sqlite store: watch dispatch failed');
    }
  }

  private append(
    name: string,
    created: boolean,
    deleted: boolean,
    createRevision: number | undefined,
    prevRevision: number,
    version: number,
    lease: number | null,
    value: string,
  ): Row {
    const id = this.rev() + 1;
    const row: Row = {
      id,
      name,
      created: created ? 1 : 0,
      deleted: deleted ? 1 : 0,
      create_revision: createRevision ?? id,
      prev_revision: prevRevision,
      version,
      lease,
      value,
    };
    this.st.insert.run(id, name, row.created, row.deleted, row.create_revision, prevRevision, version, lease, value);
    return row;
  }

  private requireLease(lease: number | null): void {
    if (lease !== null && !this.st.leaseGet.get(lease)) throw new WharfError('NotFound', `lease ${lease} not found`);
  }

  get(key: string): Promise<KeyValue | undefined> {
    try {
      this.check();
      validateKey(key);
      const r = this.st.latest.get(key);
      return Promise.resolve(r && !r.deleted ? toKv(r) : undefined);
    } catch (err) {
      return Promise.reject(sqliteError(err, `get ${key}`));
    }
  }

  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    try {
      this.check();
      return Promise.resolve(this.listSync(prefix, opts));
    } catch (err) {
      return Promise.reject(sqliteError(err, `list ${prefix}`));
    }
  }

  private listSync(prefix: string, opts: ListOptions): ListResult {
    const limit = opts.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0) throw invalid(`limit must be a non-negative integer, got ${limit}`);
    let start = prefix;
    let revision = opts.revision ?? 0;
    let exclusiveStart = false;
    if (opts.continue) {
      const c = decodeContinue(opts.continue, prefix);
      start = c.key;
      exclusiveStart = true;
      revision = c.revision;
    }
    if (!Number.isInteger(revision) || revision < 0) throw invalid(`revision must be a non-negative integer, got ${revision}`);
    // One read transaction, so the revision and the rows agree.
    return this.db.transaction((): ListResult => {
      const current = this.rev();
      if (revision === 0) revision = current;
      if (revision > current) throw invalid(`revision ${revision} is in the future (current ${current})`);
      const compacted = this.compactRevision();
      if (revision < compacted) throw new WharfError('Gone', `revision ${revision} has been compacted (compacted up to ${compacted})`);
      const end = prefix === '' ? '\u{10FFFF}\u{10FFFF}' : prefixEnd(prefix);
      const op = exclusiveStart ? '>' : '>=';
      const sql =
        `SELECT kv.* FROM kv JOIN (SELECT MAX(id) AS mid FROM kv WHERE name ${op} ? AND name < ? AND id <= ? GROUP BY name) m ` +
        `ON kv.id = m.mid WHERE kv.deleted = 0 ORDER BY kv.name` +
        (limit > 0 ? ' LIMIT ?' : '');
      const args: Array<string | number> = [start, end, revision];
      if (limit > 0) args.push(limit + 1);
      const rows = this.db.prepare<Array<string | number>, Row>(sql).all(...args);
      const result: ListResult = { items: [], revision };
      const more = limit > 0 && rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      result.items = page.map(toKv);
      if (more) {
        const last = page[page.length - 1]!.name;
        result.continue = encodeContinue(last, revision);
        const cnt = this.db
          .prepare<[string, string, number], { n: number }>(
            'SELECT COUNT(*) AS n FROM kv JOIN (SELECT MAX(id) AS mid FROM kv WHERE name > ? AND name < ? AND id <= ? GROUP BY name) m ON kv.id = m.mid WHERE kv.deleted = 0',
          )
          .get(last, end, revision);
        result.remaining = cnt?.n ?? 0;
      } else if (limit > 0) {
        result.remaining = 0;
      }
      return result;
    })();
  }

  count(prefix: string): Promise<number> {
    try {
      this.check();
      const end = prefix === '' ? '\u{10FFFF}\u{10FFFF}' : prefixEnd(prefix);
      const r = this.db
        .prepare<[string, string], { n: number }>(
          'SELECT COUNT(*) AS n FROM kv JOIN (SELECT MAX(id) AS mid FROM kv WHERE name >= ? AND name < ? GROUP BY name) m ON kv.id = m.mid WHERE kv.deleted = 0',
        )
        .get(prefix, end);
      return Promise.resolve(r?.n ?? 0);
    } catch (err) {
      return Promise.reject(sqliteError(err, `count ${prefix}`));
    }
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KeyValue> {
    try {
      validateKey(key);
      const lease = parseLease(opts.lease);
      const row = await this.write(`create ${key}`, () => {
        const latest = this.st.latest.get(key);
        if (latest && !latest.deleted) throw new WharfError('AlreadyExists', `key ${key} already exists`);
        this.requireLease(lease);
        return this.append(key, true, false, undefined, latest ? latest.id : 0, 1, lease, value);
      });
      return toKv(row);
    } catch (err) {
      throw sqliteError(err, `create ${key}`);
    }
  }

  async update(key: string, value: string, expectedModRevision: number, opts: WriteOptions = {}): Promise<KeyValue> {
    try {
      validateKey(key);
      const lease = parseLease(opts.lease);
      const row = await this.write(`update ${key}`, () => {
        const latest = this.st.latest.get(key);
        if (!latest || latest.deleted) throw new WharfError('NotFound', `key ${key} not found`);
        if (latest.id !== expectedModRevision) {
          throw new WharfError('Conflict', `key ${key} was modified: revision ${latest.id}, expected ${expectedModRevision}`, {
            details: { modRevision: latest.id },
          });
        }
        this.requireLease(lease);
        return this.append(key, false, false, latest.create_revision, latest.id, latest.version + 1, lease, value);
      });
      return toKv(row);
    } catch (err) {
      throw sqliteError(err, `update ${key}`);
    }
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    try {
      validateKey(key);
      const row = await this.write(`delete ${key}`, () => this.deleteRow(key, expectedModRevision));
      return tombstone(row);
    } catch (err) {
      throw sqliteError(err, `delete ${key}`);
    }
  }

  private deleteRow(key: string, expectedModRevision?: number): Row {
    const latest = this.st.latest.get(key);
    if (!latest || latest.deleted) throw new WharfError('NotFound', `key ${key} not found`);
    if (expectedModRevision !== undefined && latest.id !== expectedModRevision) {
      throw new WharfError('Conflict', `key ${key} was modified: revision ${latest.id}, expected ${expectedModRevision}`, {
        details: { modRevision: latest.id },
      });
    }
    return this.append(key, false, true, latest.create_revision, latest.id, latest.version, latest.lease, latest.value);
  }

  watch(prefix: string, opts: WatchOptions = {}): AsyncIterable<WatchEvent> {
    let after = opts.afterRevision;
    let err: WharfError | undefined;
    try {
      this.check();
      if (after !== undefined && (!Number.isInteger(after) || after < 0)) throw invalid(`afterRevision must be a non-negative integer, got ${after}`);
      if (after === undefined) after = this.rev();
      const compacted = this.compactRevision();
      if (after < compacted) throw new WharfError('Gone', `revision ${after} has been compacted (compacted up to ${compacted})`);
    } catch (e) {
      err = sqliteError(e, `watch ${prefix}`);
    }
    const w = new SqliteWatcher(this, prefix, after ?? 0, this.watchQueueLimit, opts.signal);
    if (err) w.fail(err);
    else if (!w.done) this.watchers.add(w);
    return w;
  }

  /** Reads one page of the log for a watcher that is behind the dispatcher. */
  catchUp(w: SqliteWatcher, pageSize: number): void {
    if (this.closed) {
      w.finish();
      return;
    }
    const compacted = this.compactRevision();
    if (w.cursor < compacted) {
      w.fail(new WharfError('Gone', `revision ${w.cursor} has been compacted (compacted up to ${compacted})`));
      return;
    }
    const upTo = this.dispatched;
    if (w.cursor >= upTo) {
      w.live = true;
      return;
    }
    const end = w.prefix === '' ? '\u{10FFFF}\u{10FFFF}' : prefixEnd(w.prefix);
    const rows = this.st.afterPrefix.all(w.cursor, upTo, w.prefix, end, pageSize);
    w.appendCatchUp(rows.map((r) => ({ ev: this.toEvent(r), rev: r.id })));
    if (rows.length < pageSize) {
      // Everything up to the dispatcher's position is queued: from now on it feeds us.
      if (w.cursor < upTo) w.cursor = upTo;
      w.live = true;
    }
  }

  unregister(w: SqliteWatcher): void {
    this.watchers.delete(w);
  }

  private toEvent(r: Row): WatchEvent {
    if (r.deleted) return { type: 'delete', kv: tombstone(r), prevKv: beforeDelete(r) };
    const ev: WatchEvent = { type: 'put', kv: toKv(r) };
    if (!r.created && r.prev_revision > 0) {
      const p = this.st.byId.get(r.prev_revision);
      if (p && !p.deleted) ev.prevKv = toKv(p);
    }
    return ev;
  }

  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      if (this.closed) return;
      try {
        this.dispatch();
      } catch (err) {
        this.log.warn({ err }, 'sqlite store: watch dispatch failed');
      }
    });
  }

  /** Hands rows after `dispatched` to every live watcher whose prefix matches. */
  private dispatch(): void {
    if (this.watchers.size === 0) {
      this.dispatched = this.rev();
      return;
    }
    for (;;) {
      const rows = this.st.after.all(this.dispatched, DISPATCH_PAGE);
      if (rows.length === 0) return;
      for (const r of rows) {
        let ev: WatchEvent | undefined;
        for (const w of this.watchers) {
          if (!w.live || !w.matches(r.name)) continue;
          ev ??= this.toEvent(r);
          w.push(ev, r.id);
        }
        this.dispatched = r.id;
      }
      if (rows.length < DISPATCH_PAGE) return;
    }
  }

  currentRevision(): Promise<number> {
    try {
      this.check();
      return Promise.resolve(this.rev());
    } catch (err) {
      return Promise.reject(sqliteError(err, 'current revision'));
    }
  }

  async compact(revision: number): Promise<void> {
    try {
      this.check();
      if (!Number.isInteger(revision) || revision < 0) throw invalid(`compact revision must be a non-negative integer, got ${revision}`);
      const current = this.rev();
      if (revision > current) throw invalid(`cannot compact to revision ${revision}: current revision is ${current}`);
    } catch (err) {
      throw sqliteError(err, `compact ${revision}`);
    }
    await this.runCompaction(revision);
  }

  /** One compaction at a time; a request while one runs waits for it, then runs. */
  private runCompaction(revision: number): Promise<void> {
    const next = this.compacting.then(() => this.compactBatches(revision));
    this.compacting = next.catch(() => undefined);
    return next;
  }

  /**
   * Forgets history at or below `revision`, in short transactions of COMPACT_BATCH
   * revisions with the event loop free in between: for every row in the range, the
   * row it replaced is deleted, and so is every tombstone (kine's algorithm). The
   * compact revision is raised first, so readers of the range get Gone rather than
   * a partial history.
   */
  private async compactBatches(revision: number): Promise<void> {
    if (this.closed) return;
    const from = this.compactRevision();
    if (revision <= from) return;
    try {
      this.db.prepare("UPDATE meta SET value = ? WHERE key = 'compact_revision'").run(revision);
      const delPrev = this.db.prepare(
        'DELETE FROM kv WHERE id IN (SELECT prev_revision FROM kv WHERE id > ? AND id <= ? AND prev_revision > 0)',
      );
      const delTomb = this.db.prepare('DELETE FROM kv WHERE id > ? AND id <= ? AND deleted = 1');
      let deleted = 0;
      for (let lo = from; lo < revision; lo += COMPACT_BATCH) {
        const hi = Math.min(lo + COMPACT_BATCH, revision);
        this.db.transaction(() => {
          deleted += delPrev.run(lo, hi).changes;
          deleted += delTomb.run(lo, hi).changes;
        }).immediate();
        await new Promise((r) => setImmediate(r));
        if (this.closed) return;
      }
      this.reclaim();
      this.log.debug({ from, to: revision, deleted }, 'sqlite store: compacted');
    } catch (err) {
      throw sqliteError(err, `compact ${revision}`);
    }
  }

  /** Returns a large free list to the file system and truncates the WAL. */
  private reclaim(): void {
    const free = (this.db.pragma('freelist_count', { simple: true }) as number) ?? 0;
    if (free > RECLAIM_FREE_PAGES) this.db.pragma(`incremental_vacuum(${free - RECLAIM_FREE_PAGES / 2})`);
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Every compactIntervalMs: forget what was already history at the previous tick. */
  private periodicCompact(): void {
    const current = this.rev();
    const target = Math.min(this.lastTickRevision, current - this.compactMinRetain);
    this.lastTickRevision = current;
    if (target > this.compactRevision()) this.backgroundCompact(target);
    else this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /** Under heavy churn, do not wait for the tick: cap the history at compactMaxHistory revisions. */
  private capHistory(): void {
    if (this.compactMaxHistory <= 0 || this.compactionRunning) return;
    const current = this.rev();
    if (current - this.compactRevision() > this.compactMaxHistory) this.backgroundCompact(current - this.compactMinRetain);
  }

  private backgroundCompact(target: number): void {
    this.compactionRunning = true;
    this.runCompaction(target)
      .catch((err: unknown) => this.log.warn({ err }, 'sqlite store: compaction failed'))
      .finally(() => {
        this.compactionRunning = false;
      });
  }

  grantLease(ttlSeconds: number): Promise<LeaseId> {
    try {
      this.check();
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw invalid(`lease TTL must be a positive integer of seconds, got ${ttlSeconds}`);
      const id = this.db
        .prepare<[number, number], { id: number }>('INSERT INTO lease(ttl, expires_at) VALUES (?, ?) RETURNING id')
        .get(ttlSeconds, this.clock.now() + ttlSeconds * 1000);
      return Promise.resolve(String(id!.id));
    } catch (err) {
      return Promise.reject(sqliteError(err, 'grant lease'));
    }
  }

  keepAlive(lease: LeaseId): Promise<void> {
    try {
      this.check();
      const id = parseLease(lease)!;
      const r = this.db.prepare('UPDATE lease SET expires_at = ? + ttl * 1000 WHERE id = ?').run(this.clock.now(), id);
      if (r.changes === 0) throw new WharfError('NotFound', `lease ${lease} not found`);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(sqliteError(err, `keep lease ${lease} alive`));
    }
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    try {
      const id = parseLease(lease)!;
      const found = await this.write(`revoke lease ${lease}`, () => this.revokeSync(id));
      if (!found) throw new WharfError('NotFound', `lease ${lease} not found`);
    } catch (err) {
      throw sqliteError(err, `revoke lease ${lease}`);
    }
  }

  /** Deletes the keys attached to a lease (each a write) and the lease itself. */
  private revokeSync(id: number): boolean {
    // A savepoint: either all of the lease's keys go, or none.
    return this.db.transaction(() => this.revokeKeys(id))();
  }

  private revokeKeys(id: number): boolean {
    const attached = this.db
      .prepare<[number], Row>(
        'SELECT k.* FROM kv k WHERE k.lease = ? AND k.deleted = 0 AND k.id = (SELECT MAX(id) FROM kv WHERE name = k.name)',
      )
      .all(id);
    for (const r of attached) this.deleteRow(r.name);
    return this.db.prepare('DELETE FROM lease WHERE id = ?').run(id).changes > 0;
  }

  private expireLeases(): void {
    const now = this.clock.now();
    const expired = this.db.prepare<[number], { id: number }>('SELECT id FROM lease WHERE expires_at <= ? LIMIT 100').all(now);
    for (const { id } of expired) {
      this.write(`expire lease ${id}`, () => {
        // Re-check inside the write lock: another process may have kept it alive or revoked it.
        const l = this.st.leaseGet.get(id);
        if (l && l.expires_at <= now) this.revokeSync(id);
      }).catch((err: unknown) => this.log.warn({ err, lease: id }, 'sqlite store: lease expiry failed'));
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    // Writes already accepted are committed (and answered) before the file closes.
    while (this.writeQueue.length > 0) this.flush();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const w of [...this.watchers]) w.finish();
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // another process may hold the database; closing is what matters
    }
    this.db.close();
    return Promise.resolve();
  }
}
