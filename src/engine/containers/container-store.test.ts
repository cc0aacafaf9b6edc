import { describe, expect, it } from 'vitest';
import { EngineDb } from '../db.js';
import { isWharfError } from '../../core/errors.js';
import { ContainerStore } from './container-store.js';
import { normalizeName, randomName } from './names.js';
import type { ContainerRecord } from './types.js';

const rec = (id: string, name: string, createdAt = '2026-11-26T00:00:00.000Z'): ContainerRecord => ({
  id, name, image: 'busybox', imageId: 'sha256:x', createdAt, request: { image: 'busybox', options: {} }, imageConfig: {},
  state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '', startedAt: '', finishedAt: '', restartCount: 0 },
  logPath: '/l',
});

describe('container store', () => {
  it('finds by id, name, /name and unique prefix; ambiguous prefix and unknown are errors', () => {
    const s = new ContainerStore(EngineDb.open({ dataRoot: '/nonexistent', path: ':memory:' }));
    s.insert(rec('abc111', 'web'));
    s.insert(rec('abc222', 'db'));
    expect(s.find('abc111').name).toBe('web');
    expect(s.find('/db').id).toBe('abc222');
    expect(s.find('abc2').id).toBe('abc222');
    expect(() => s.find('abc')).toThrow(/multiple IDs/);
    expect(() => s.find('nope')).toThrow('No such container: nope');
  });
  it('names are unique (Conflict), rename moves the name, records survive a reopen', () => {
    const db = EngineDb.open({ dataRoot: '/nonexistent', path: ':memory:' });
    const s = new ContainerStore(db);
    s.insert(rec('a1', 'one'));
    let err: unknown;
    try {
      s.insert(rec('a2', 'one'));
    } catch (e) {
      err = e;
    }
    expect(isWharfError(err, 'Conflict')).toBe(true);
    s.insert(rec('a2', 'two'));
    expect(() => s.rename('a2', 'one')).toThrow(/already in use/);
    s.rename('a2', 'three');
    expect(s.nameTaken('two')).toBe(false);
    const again = new ContainerStore(db);
    expect(again.find('three').id).toBe('a2');
    again.delete('a1');
    expect(again.list().map((r) => r.id)).toEqual(['a2']);
  });
  it('validates and generates names', () => {
    expect(normalizeName('/web-1')).toBe('web-1');
    expect(() => normalizeName('a')).toThrow(/Invalid container name/);
    expect(() => normalizeName('x y')).toThrow(/Invalid container name/);
    expect(randomName(() => false)).toMatch(/^[a-z]+_[a-z]+$/);
  });
});
