import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EngineDb } from './db.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('EngineDb', () => {
  it('opens wharf.db in WAL mode and applies migrations once, in order', () => {
    const root = mkdtempSync('/var/tmp/wharf-test-db-');
    dirs.push(root);
    const steps = [
      { name: 'a', up: (s: EngineDb['sql']) => s.exec('CREATE TABLE t1 (x INTEGER)') },
      { name: 'b', up: (s: EngineDb['sql']) => s.exec('ALTER TABLE t1 ADD COLUMN y TEXT') },
    ];
    const db = EngineDb.open({ dataRoot: root });
    expect(db.path).toBe(join(root, 'wharf.db'));
    expect(db.sql.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.migrate('m', steps.slice(0, 1))).toBe(1);
    expect(db.migrate('m', steps)).toBe(1);
    expect(db.migrate('m', steps)).toBe(0);
    db.sql.prepare('INSERT INTO t1 (x, y) VALUES (1, ?)').run('z');
    db.close();
    const again = EngineDb.open({ dataRoot: root });
    expect(again.migrate('m', steps)).toBe(0);
    expect(again.sql.prepare('SELECT y FROM t1').get()).toEqual({ y: 'z' });
    expect(() => again.migrate('m', steps.slice(0, 1))).toThrow(/newer than this program/);
    again.close();
  });

  it('rolls back a failing migration step', () => {
    const db = EngineDb.open({ dataRoot: '/nonexistent', path: ':memory:' });
    const bad = [{ name: 'bad', up: (s: EngineDb['sql']) => { s.exec('CREATE TABLE t (x)'); throw new Error('boom'); } }];
    expect(() => db.migrate('n', bad)).toThrow('boom');
    expect(db.sql.prepare("SELECT name FROM sqlite_master WHERE name = 't'").get()).toBeUndefined();
    db.close();
  });
});
