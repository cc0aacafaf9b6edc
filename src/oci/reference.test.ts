import { describe, it, expect } from 'vitest';
import { isWharfError } from '../core/errors.js';
import { familiarString, formatReference, matchReferenceFilter, parseNormalizedNamed, parseReference, tagReference } from './reference.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('Docker reference normalisation', () => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/library/busybox:t1', 'docker.io/library/busybox:t1', 'busybox:t1'],
    ['index.docker.io/user/app', 'docker.io/user/app:latest', 'user/app:latest'],
    ['user/app:v2', 'docker.io/user/app:v2', 'user/app:v2'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['localhost/x:y', 'localhost/x:y', 'localhost/x:y'],
    ['example.com/a/b/c:1', 'example.com/a/b/c:1', 'example.com/a/b/c:1'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    ['[::1]:5000/x:1', '[::1]:5000/x:1', '[::1]:5000/x:1'],
    ['a__b-c/d_e.f', 'docker.io/a__b-c/d_e.f:latest', 'a__b-c/d_e.f:latest'],
  ];
  for (const [input, full, fam] of cases) {
    it(`${input} → ${full}`, () => {
      const r = parseNormalizedNamed(input);
      expect(formatReference(r)).toBe(full);
      expect(familiarString(r)).toBe(fam);
    });
  }

  for (const bad of ['', 'UPPER', 'a b', 'busybox:', ':tag', 'a//b', '-a', 'a:' + 'x'.repeat(200), 'x@sha256:abc', 'a'.repeat(64), 'a/../b', 'ex ample.com/a', 'a__b.c/x']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      let err: unknown;
      try {
        parseNormalizedNamed(bad);
      } catch (e) {
        err = e;
      }
      expect(isWharfError(err, 'InvalidArgument')).toBe(true);
    });
  }

  it('treats an upper-case first component as a registry host', () => {
    expect(parseReference('Example.com/x').domain).toBe('Example.com');
  });

  it('builds tag references from a repo and a tag, fully normalised or not', () => {
    expect(formatReference(tagReference('docker.io/library/busybox', 't1'))).toBe('docker.io/library/busybox:t1');
    expect(formatReference(tagReference('myrepo'))).toBe('docker.io/library/myrepo:latest');
    expect(() => tagReference(`busybox@${D}`)).toThrow(/digest/);
    expect(() => tagReference('busybox:1', '2')).toThrow(/twice/);
  });

  it('matches Docker reference filters', () => {
    const r = parseNormalizedNamed('busybox:1.36');
    expect(matchReferenceFilter('busybox', r)).toBe(true);
    expect(matchReferenceFilter('busybox:*', r)).toBe(true);
    expect(matchReferenceFilter('busy*:1.*', r)).toBe(true);
    expect(matchReferenceFilter('busybox:2', r)).toBe(false);
    expect(matchReferenceFilter('*', parseNormalizedNamed('user/app'))).toBe(false);
    expect(matchReferenceFilter('*/*', parseNormalizedNamed('user/app'))).toBe(true);
  });
});
