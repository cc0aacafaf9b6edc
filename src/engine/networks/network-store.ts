import type { EngineDb, Migration } from '../db.js';
import type { IpamStore } from './ipam.js';
import type { EndpointRecord, NetworkRecord } from './types.js';
import { alreadyExists } from '../../core/errors.js';

// Persistence port of the networks engine: network records, endpoints and address reservations.
// `SqliteNetworkStore` writes to the engine DB (DATA_ROOT/wharf.db); `MemoryNetworkStore` is for
// unit tests. Both implement IpamStore so the allocator shares the transaction boundary.

export interface NetworkStore extends IpamStore {
  listNetworks(): NetworkRecord[];
  putNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;
  listEndpoints(networkId?: string): EndpointRecord[];
  putEndpoint(e: EndpointRecord): void;
  deleteEndpoint(id: string): void;
}

export class MemoryNetworkStore implements NetworkStore {
  private readonly nets = new Map<string, NetworkRecord>();
  private readonly eps = new Map<string, EndpointRecord>();
  private readonly ipam = new Map<string, Map<string, string>>();

  listNetworks(): NetworkRecord[] {
    return [...this.nets.values()].map((n) => structuredClone(n));
  }
  putNetwork(n: NetworkRecord): void {
    for (const o of this.nets.values()) if (o.name === n.name && o.id !== n.id) throw alreadyExists(`network ${n.name} exists`);
    this.nets.set(n.id, structuredClone(n));
  }
  deleteNetwork(id: string): void {
    this.nets.delete(id);
  }
  listEndpoints(networkId?: string): EndpointRecord[] {
    return [...this.eps.values()].filter((e) => !networkId || e.networkId === networkId).map((e) => structuredClone(e));
  }
  putEndpoint(e: EndpointRecord): void {
    this.eps.set(e.id, structuredClone(e));
  }
  deleteEndpoint(id: string): void {
    this.eps.delete(id);
  }
  reserve(networkId: string, ip: string, owner: string): boolean {
    let m = this.ipam.get(networkId);
    if (!m) this.ipam.set(networkId, (m = new Map()));
    if (m.has(ip)) return false;
    m.set(ip, owner);
    return true;
  }
  release(networkId: string, ip: string): void {
    this.ipam.get(networkId)?.delete(ip);
  }
  reserved(networkId: string): Map<string, string> {
    return new Map(this.ipam.get(networkId) ?? []);
  }
  releaseNetwork(networkId: string): void {
    this.ipam.delete(networkId);
  }
}

export const NETWORK_MIGRATIONS: readonly Migration[] = [
  {
    name: 'networks, endpoints, ipam',
    up: (db) => {
      db.exec(`
        CREATE TABLE net_networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
        CREATE TABLE net_endpoints (id TEXT PRIMARY KEY, network_id TEXT NOT NULL, container_id TEXT NOT NULL,
          record TEXT NOT NULL, UNIQUE (network_id, container_id));
        CREATE TABLE net_ipam (network_id TEXT NOT NULL, ip TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (network_id, ip));
      `);
    },
  },
];

export class SqliteNetworkStore implements NetworkStore {
  constructor(private readonly db: EngineDb) {
    db.migrate('networks', NETWORK_MIGRATIONS);
  }

  listNetworks(): NetworkRecord[] {
    const rows = this.db.sql.prepare('SELECT record FROM net_networks ORDER BY name').all() as Array<{ record: string }>;
    return rows.map((r) => JSON.parse(r.record) as NetworkRecord);
  }
  putNetwork(n: NetworkRecord): void {
    try {
      this.db.sql
        .prepare('INSERT INTO net_networks (id, name, record) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, record = excluded.record')
        .run(n.id, n.name, JSON.stringify(n));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw alreadyExists(`network ${n.name} exists`);
      throw err;
    }
  }
  deleteNetwork(id: string): void {
    this.db.tx(() => {
      this.db.sql.prepare('DELETE FROM net_networks WHERE id = ?').run(id);
      this.db.sql.prepare('DELETE FROM net_ipam WHERE network_id = ?').run(id);
    });
  }
  listEndpoints(networkId?: string): EndpointRecord[] {
    const rows = (
      networkId
        ? this.db.sql.prepare('SELECT record FROM net_endpoints WHERE network_id = ?').all(networkId)
        : this.db.sql.prepare('SELECT record FROM net_endpoints').all()
    ) as Array<{ record: string }>;
    return rows.map((r) => JSON.parse(r.record) as EndpointRecord);
  }
  putEndpoint(e: EndpointRecord): void {
    this.db.sql
      .prepare('INSERT INTO net_endpoints (id, network_id, container_id, record) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record')
      .run(e.id, e.networkId, e.containerId, JSON.stringify(e));
  }
  deleteEndpoint(id: string): void {
    this.db.sql.prepare('DELETE FROM net_endpoints WHERE id = ?').run(id);
  }
  reserve(networkId: string, ip: string, owner: string): boolean {
    const r = this.db.sql.prepare('INSERT OR IGNORE INTO net_ipam (network_id, ip, owner) VALUES (?, ?, ?)').run(networkId, ip, owner);
    return r.changes === 1;
  }
  release(networkId: string, ip: string): void {
    this.db.sql.prepare('DELETE FROM net_ipam WHERE network_id = ? AND ip = ?').run(networkId, ip);
  }
  reserved(networkId: string): Map<string, string> {
    const rows = this.db.sql.prepare('SELECT ip, owner FROM net_ipam WHERE network_id = ?').all(networkId) as Array<{ ip: string; owner: string }>;
    return new Map(rows.map((r) => [r.ip, r.owner]));
  }
  releaseNetwork(networkId: string): void {
    this.db.sql.prepare('DELETE FROM net_ipam WHERE network_id = ?').run(networkId);
  }
}
