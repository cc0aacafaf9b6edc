import { describe, it, expect } from 'vitest';
import { mergePatch, jsonPatch, strategicMergePatch, patchTypeOf } from './patch.js';
import { isWharfError } from '../../core/errors.js';

describe('patches', () => {
  it('merge patch (RFC 7386): null deletes, objects merge, arrays replace', () => {
    const doc = { a: 1, b: { c: 2, d: 3 }, l: [1, 2] };
    expect(mergePatch(doc, { a: null, b: { c: 9 }, l: [3] })).toEqual({ b: { c: 9, d: 3 }, l: [3] });
    expect(doc).toEqual({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] });
  });

  it('JSON patch (RFC 6902): every op, and test failures leave the input alone', () => {
    const doc = { a: { b: [1, 2, 3] }, c: 'x' };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/a/b/1', value: 9 },
      { op: 'add', path: '/a/b/-', value: 4 },
      { op: 'remove', path: '/a/b/0' },
      { op: 'replace', path: '/c', value: 'y' },
      { op: 'copy', from: '/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e~1f' },
      { op: 'test', path: '/c', value: 'y' },
    ]);
    expect(out).toEqual({ a: { b: [9, 2, 3, 4] }, c: 'y', 'e/f': 'y' });
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/c', value: 'nope' }])).toThrow(/test operation 0 failed/);
    expect(() => jsonPatch(doc, [{ op: 'replace', path: '/missing', value: 1 }])).toThrow(/does not exist/);
    expect(() => jsonPatch(doc, [{ op: 'frob', path: '/c' }])).toThrow(/unknown op/);
    expect(() => jsonPatch(doc, { op: 'add' })).toThrow(/array/);
    expect(doc).toEqual({ a: { b: [1, 2, 3] }, c: 'x' });
  });

  it('strategic merge patch is a merge patch without directives', () => {
    expect(strategicMergePatch({ a: [1] }, { a: [2] })).toEqual({ a: [2] });
    expect(() => strategicMergePatch({}, { spec: { containers: [{ $patch: 'delete' }] } })).toThrow(/not supported/);
  });

  it('maps content types and refuses server-side apply', () => {
    expect(patchTypeOf('application/merge-patch+json; charset=utf-8')).toBe('merge');
    expect(patchTypeOf('application/json-patch+json')).toBe('json');
    expect(patchTypeOf('application/strategic-merge-patch+json')).toBe('strategic');
    for (const ct of ['application/apply-patch+yaml', 'text/plain', undefined]) {
      try {
        patchTypeOf(ct);
        throw new Error('expected failure');
      } catch (e) {
        expect(isWharfError(e, 'Unsupported')).toBe(true);
      }
    }
  });
});
