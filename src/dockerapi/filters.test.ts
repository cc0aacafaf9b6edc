import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isWharfError } from '../core/errors.js';
import { boolFilter, parseFilters, parseTimestamp } from './filters.js';
import { checkVersion, splitVersion } from './api-version.js';

describe('filters and versions (untrusted query input)', () => {
  it('parses both Docker filter syntaxes', () => {
    expect([...parseFilters('{"dangling":{"true":true},"label":["a=b","c"]}', ['dangling', 'label'])]).toEqual([
      ['dangling', ['true']],
      ['label', ['a=b', 'c']],
    ]);
    expect(boolFilter(parseFilters('{"dangling":["1"]}', ['dangling']), 'dangling')).toBe(true);
    expect(() => boolFilter(parseFilters('{"dangling":["true","false"]}', ['dangling']), 'dangling')).toThrow(/conflicting/);
  });

  it('accepts unix seconds, RFC 3339 and Go durations as timestamps', () => {
    expect(parseTimestamp('1700000000.5', 0)).toBe(1700000000.5);
    expect(parseTimestamp('2023-11-14T22:13:20Z', 0)).toBe(1700000000);
    expect(parseTimestamp('90m', 10_000_000)).toBe(10_000 - 5400);
    expect(() => parseTimestamp('yesterday', 0)).toThrow(/invalid timestamp/);
  });

  it('never fails with anything but an InvalidArgument WharfError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (raw) => {
        try {
          const f = parseFilters(raw, ['dangling', 'label']);
          boolFilter(f, 'dangling');
        } catch (e) {
          expect(isWharfError(e, 'InvalidArgument')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('splits version prefixes and bounds them', () => {
    expect(splitVersion('/v1.41/images/json')).toEqual({ version: '1.41', path: '/images/json', explicit: true });
    expect(splitVersion('/images/json')).toMatchObject({ version: '1.47', explicit: false });
    expect(() => checkVersion('1.24')).not.toThrow();
    expect(() => checkVersion('1.9')).toThrow(/too old/);
    expect(() => checkVersion('1.48')).toThrow(/too new/);
    expect(() => checkVersion('2.0')).toThrow(/too new/);
  });
});
