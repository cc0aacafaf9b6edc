import type { EngineDb, Migration } from '../db.js';
import { WharfError, notFound, conflict } from '../../core/errors.js';
import type { ContainerRecord } from './types.js';

// Containers in SQLite (engine DB, module 'containers'), mirrored in memory: list and
// inspect are served from the map, never by spawning anything.

export const CONTAINER_MIGRATIONS: Migration[] = [
  {
    name: 'containers',
    up: (db) =>
      db.exec(`CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        record TEXT NOT NULL
      )`),
  },
];

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(private readonly db: EngineDb) {
    db.migrate('containers', CONTAINER_MIGRATIONS);
    for (const row of db.sql.prepare('SELECT record FROM containers').all() as { record: string }[]) {
      const r = JSON.parse(row.record) as ContainerRecord;
      this.byId.set(r.id, r);
      this.byName.set(r.name, r.id);
    }
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  }

  nameTaken(name: string): boolean {
    return this.byName.has(name);
  }

  /** By full ID, name, or unique ID prefix (Docker's lookup order). */
  find(ref: string): ContainerRecord {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const byName = this.byName.get(ref.replace(/^\//, ''));
    if (byName) return this.byId.get(byName)!;
    if (/^[a-f0-9]{1,64}$/.test(ref)) {
      const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (matches.length === 1) return this.byId.get(matches[0]!)!;
      if (matches.length > 1) throw new WharfError('InvalidArgument', `multiple IDs found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  insert(r: ContainerRecord): void {
    if (this.byName.has(r.name)) {
      throw conflict(`Conflict. The container name "/${r.name}" is already in use by container "${this.byName.get(r.name)}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.db.sql.prepare('INSERT INTO containers (id, name, image_id, created_at, record) VALUES (?, ?, ?, ?, ?)').run(r.id, r.name, r.imageId, r.createdAt, JSON.stringify(r));
    this.byId.set(r.id, r);
    this.byName.set(r.name, r.id);
  }

  /** Persists a changed record (state, name). */
  save(r: ContainerRecord): void {
    const old = this.byId.get(r.id);
    if (!old) throw notFound(`No such container: ${r.id}`);
    this.db.sql.prepare('UPDATE containers SET name = ?, record = ? WHERE id = ?').run(r.name, JSON.stringify(r), r.id);
    if (old.name !== r.name) this.byName.delete(old.name);
    this.byId.set(r.id, r);
    this.byName.set(r.name, r.id);
  }

  rename(id: string, name: string): ContainerRecord {
    const r = this.find(id);
    if (r.name === name) return r;
    if (this.byName.has(name)) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${this.byName.get(name)}".`);
    const next = { ...r, name };
    this.save(next);
    return next;
  }

  delete(id: string): void {
    const r = this.byId.get(id);
    if (!r) return;
    this.db.sql.prepare('DELETE FROM containers WHERE id = ?').run(id);
    this.byId.delete(id);
    this.byName.delete(r.name);
  }
}
