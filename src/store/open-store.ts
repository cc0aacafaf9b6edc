import { isAbsolute } from 'node:path';
import type { Clock } from '../core/clock.js';
import { invalid, wrap } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Store } from './store.js';
import { EtcdStore } from './etcd/etcd-store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite/sqlite-store.js';

// The store factory: a datastore URL (`--datastore`) to a Store.
//   sqlite:///abs/path/cluster.db
//   etcd://host1:2379,host2:2379[/key-prefix]

export interface OpenStoreOptions {
  clock?: Clock;
  logger?: Logger;
  /** SQLite tuning (compaction, durability), ignored for etcd. */
  sqlite?: Omit<SqliteStoreOptions, 'path' | 'clock' | 'logger'>;
  /** etcd: key prefix when the URL has no path. Default '/wharf'. */
  etcdPrefix?: string;
  /** etcd: per-call timeout in ms. */
  etcdTimeoutMs?: number;
}

export type DatastoreUrl = { kind: 'sqlite'; path: string } | { kind: 'etcd'; endpoints: string[]; prefix: string | undefined };

export function parseDatastoreUrl(url: string): DatastoreUrl {
  if (url.startsWith('sqlite://')) {
    const path = decodeURIComponent(url.slice('sqlite://'.length));
    if (!isAbsolute(path)) throw invalid(`datastore ${url}: expected sqlite:///absolute/path.db`);
    return { kind: 'sqlite', path };
  }
  if (url.startsWith('etcd://')) {
    const rest = url.slice('etcd://'.length);
    const slash = rest.indexOf('/');
    const hosts = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? undefined : rest.slice(slash);
    const endpoints = hosts.split(',').map((h) => h.trim());
    for (const h of endpoints) {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(h);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw invalid(`datastore ${url}: bad etcd endpoint ${JSON.stringify(h)} (want host:port)`);
    }
    if (prefix !== undefined && (prefix === '/' || prefix.endsWith('/'))) {
      throw invalid(`datastore ${url}: the key prefix must not end with '/'`);
    }
    return { kind: 'etcd', endpoints: endpoints.map((h) => `http://${h}`), prefix };
  }
  throw invalid(`datastore ${JSON.stringify(url)}: expected sqlite:///path or etcd://host:port[,host:port]`);
}

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const u = parseDatastoreUrl(url);
  if (u.kind === 'sqlite') {
    return new SqliteStore({
      ...opts.sqlite,
      path: u.path,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }
  const prefix = u.prefix ?? opts.etcdPrefix ?? '/wharf';
  const store = new EtcdStore({
    endpoints: u.endpoints,
    prefix,
    ...(opts.etcdTimeoutMs ? { timeoutMs: opts.etcdTimeoutMs } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  try {
    await store.currentRevision(); // fail fast when etcd is unreachable
  } catch (err) {
    await store.close();
    throw wrap(err, `datastore ${url}`);
  }
  return store;
}
