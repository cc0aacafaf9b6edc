import { WharfError } from '../core/errors.js';

// `.dockerignore` as moby's patternmatcher reads it: one pattern a line, `#` comments, `!` for
// exceptions, paths cleaned and made relative to the context root, Go filepath.Match syntax
// (`*`, `?`, `[a-z]`, `\` escapes) plus `**` for any number of directories. A path is excluded
// when the last pattern that matches it (or one of its parent directories) is not an exception.

export interface IgnorePattern {
  pattern: string;
  exclusion: boolean;
  re: RegExp;
}

export function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length && parts[parts.length - 1] !== '..') parts.pop();
      else parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  return parts.join('/') || '.';
}

function toRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` matches zero or more directories; a trailing `**` matches everything below
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new WharfError('InvalidArgument', `.dockerignore: syntax error in pattern ${JSON.stringify(pattern)}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

export function parseDockerignore(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let exclusion = false;
    if (line.startsWith('!')) {
      exclusion = true;
      line = line.slice(1).trim();
    }
    if (line === '') continue;
    let p = cleanPath(line);
    if (p.startsWith('/')) p = p.slice(1);
    if (p === '.' || p === '') continue;
    out.push({ pattern: p, exclusion, re: toRegExp(p) });
  }
  return out;
}

/** True if `rel` (a clean path relative to the context root) is excluded by the patterns. */
export function isIgnored(patterns: readonly IgnorePattern[], rel: string): boolean {
  if (patterns.length === 0) return false;
  const parents: string[] = [];
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let matched = false;
  for (const p of patterns) {
    const hit = p.re.test(rel) || parents.some((d) => p.re.test(d));
    if (hit) matched = !p.exclusion;
  }
  return matched;
}

/** True when some exception pattern could re-include something below `dir` (then the walk must descend). */
export function hasExceptionsBelow(patterns: readonly IgnorePattern[], dir: string): boolean {
  return patterns.some((p) => p.exclusion && (p.pattern.startsWith(`${dir}/`) || p.pattern.includes('*')));
}
