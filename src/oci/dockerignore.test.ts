import { describe, expect, it } from 'vitest';
import { cleanPath, hasExceptionsBelow, isIgnored, parseDockerignore } from './dockerignore.js';

describe('.dockerignore', () => {
  const p = parseDockerignore(['# comment', '*.log', '/build', 'docs/**/*.md', '!docs/keep/README.md', 'tmp?', '', 'secrets', '!secrets/public.pem'].join('\n'));

  it('matches like moby patternmatcher: last match wins, parents exclude children, ** spans directories', () => {
    expect(isIgnored(p, 'a.log')).toBe(true);
    expect(isIgnored(p, 'sub/a.log')).toBe(false); // `*` does not cross a slash
    expect(isIgnored(p, 'build/out/x')).toBe(true);
    expect(isIgnored(p, 'docs/a.md')).toBe(true);
    expect(isIgnored(p, 'docs/x/y/z.md')).toBe(true);
    expect(isIgnored(p, 'docs/keep/README.md')).toBe(false);
    expect(isIgnored(p, 'tmp1')).toBe(true);
    expect(isIgnored(p, 'tmp12')).toBe(false);
    expect(isIgnored(p, 'secrets/private.key')).toBe(true);
    expect(isIgnored(p, 'secrets/public.pem')).toBe(false);
    expect(isIgnored(p, 'src/main.ts')).toBe(false);
  });

  it('knows when an excluded directory must still be walked (an exception below it)', () => {
    expect(hasExceptionsBelow(p, 'secrets')).toBe(true);
    expect(hasExceptionsBelow(parseDockerignore('build\n'), 'build')).toBe(false);
  });

  it('cleans paths', () => {
    expect(cleanPath('./a//b/../c/')).toBe('a/c');
    expect(cleanPath('../x')).toBe('../x');
    expect(cleanPath('.')).toBe('.');
    expect(parseDockerignore('!\n.\n/\n')).toEqual([]);
  });
});
