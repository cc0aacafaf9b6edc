import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../core/errors.js';

// The engine's metadata DB: DATA_ROOT/wharf.db (SQLite, WAL). Each engine module owns a
// named list of migrations; `migrate(module, steps)` applies the ones not yet applied, each
// in its own transaction, and records them in `schema_migrations`. Steps are append-only:
// never edit or reorder a released step, add a new one.

export type EngineDatabase = Database.Database;

export interface Migration {
  /** Short description, stored for humans. */
  name: string;
  up: (db: EngineDatabase) => void;
}

export class EngineDb {
  readonly sql: EngineDatabase;
  readonly path: string;

  private constructor(sql: EngineDatabase, path: string) {
    this.sql = sql;
    this.path = path;
  }

  /** Opens (creating if needed) DATA_ROOT/wharf.db. `path: ':memory:'` is for unit tests. */
  static open(opts: { dataRoot: string; path?: string }): EngineDb {
    const path = opts.path ?? join(opts.dataRoot, 'wharf.db');
    if (path !== ':memory:') mkdirSync(opts.dataRoot, { recursive: true, mode: 0o711 });
    let sql: EngineDatabase;
    try {
      sql = new Database(path);
    } catch (err) {
      throw new WharfError('Internal', `open engine database ${path}: ${(err as Error).message}`, { cause: err });
    }
    sql.pragma('journal_mode = WAL');
    sql.pragma('synchronous = NORMAL');
    sql.pragma('foreign_keys = ON');
    sql.pragma('busy_timeout = 5000');
    sql.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      module TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL,
      PRIMARY KEY (module, version))`);
    return new EngineDb(sql, path);
  }

  /** Applies the not-yet-applied steps of `module` in order. Returns how many were applied. */
  migrate(module: string, steps: readonly Migration[]): number {
    const row = this.sql
      .prepare('SELECT MAX(version) AS v FROM schema_migrations WHERE module = ?')
      .get(module) as { v: number | null };
    const current = row.v ?? 0;
    if (current > steps.length) {
      throw new WharfError(
        'Internal',
        `database schema of ${module} is at version ${current}, newer than this program knows (${steps.length}); refusing to run an older wharf on a newer data root`,
      );
    }
    let applied = 0;
    for (let v = current + 1; v <= steps.length; v++) {
      const step = steps[v - 1]!;
      this.sql.transaction(() => {
        step.up(this.sql);
        this.sql
          .prepare('INSERT INTO schema_migrations (module, version, name, applied_at) VALUES (?, ?, ?, ?)')
          .run(module, v, step.name, Date.now());
      })();
      applied++;
    }
    return applied;
  }

  /** Runs fn in one transaction (rolled back if it throws). */
  tx<T>(fn: () => T): T {
    return this.sql.transaction(fn)();
  }

  close(): void {
    if (this.sql.open) this.sql.close();
  }
}
