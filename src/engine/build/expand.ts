import { WharfError } from '../../core/errors.js';
import { splitWords } from './dockerfile.js';

// Variable expansion and quote removal for Dockerfile words, as moby's shell lexer does it
// (frontend/dockerfile/shell/lex.go): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`,
// `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`; single quotes are literal; in
// double quotes the escape character only escapes `"`, `$` and itself.

export type Lookup = (name: string) => string | undefined;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/** Expands one word; `used` collects the names that were looked up (for the build cache). */
export function processWord(word: string, lookup: Lookup, escape = '\\', used?: Set<string>): string {
  let i = 0;
  const s = word;
  const get = (name: string) => {
    used?.add(name);
    return lookup(name);
  };

  const dollar = (): string => {
    // s[i] === '$'
    i++;
    if (i >= s.length) return '$';
    const c = s[i]!;
    if (c === '{') {
      i++;
      let name = '';
      while (i < s.length && NAME_CHAR.test(s[i]!)) name += s[i++];
      if (name === '') throw new WharfError('InvalidArgument', `bad substitution in ${JSON.stringify(word)}`);
      if (s[i] === '}') {
        i++;
        return get(name) ?? '';
      }
      let op = s[i]!;
      i++;
      if (op === ':') {
        op = `:${s[i] ?? ''}`;
        i++;
      }
      // the modifier word runs to the matching '}'
      let depth = 1;
      let raw = '';
      while (i < s.length) {
        const ch = s[i]!;
        if (ch === escape && i + 1 < s.length) {
          raw += ch + s[i + 1]!;
          i += 2;
          continue;
        }
        if (ch === '{') depth++;
        if (ch === '}' && --depth === 0) break;
        raw += ch;
        i++;
      }
      if (s[i] !== '}') throw new WharfError('InvalidArgument', `missing '}' in ${JSON.stringify(word)}`);
      i++;
      const v = get(name);
      const sub = () => processWord(raw, lookup, escape, used);
      switch (op) {
        case ':-':
          return v === undefined || v === '' ? sub() : v;
        case '-':
          return v === undefined ? sub() : v;
        case ':+':
          return v === undefined || v === '' ? '' : sub();
        case '+':
          return v === undefined ? '' : sub();
        case ':?':
          if (v === undefined || v === '') throw new WharfError('InvalidArgument', `${name}: ${sub() || 'is not allowed to be unset'}`);
          return v;
        case '?':
          if (v === undefined) throw new WharfError('InvalidArgument', `${name}: ${sub() || 'is not allowed to be unset'}`);
          return v;
        default:
          throw new WharfError('InvalidArgument', `unsupported modifier (${op}) in substitution ${JSON.stringify(word)}`);
      }
    }
    if (!NAME_START.test(c)) return '$';
    let name = '';
    while (i < s.length && NAME_CHAR.test(s[i]!)) name += s[i++];
    return get(name) ?? '';
  };

  let out = '';
  while (i < s.length) {
    const c = s[i]!;
    if (c === escape) {
      if (i + 1 < s.length) out += s[i + 1];
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new WharfError('InvalidArgument', `unexpected end of statement while looking for matching single-quote in ${JSON.stringify(word)}`);
      out += s.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i]!;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === escape && i + 1 < s.length && ['"', '$', escape].includes(s[i + 1]!)) {
          out += s[i + 1];
          i += 2;
          continue;
        }
        if (d === '$') {
          out += dollar();
          continue;
        }
        out += d;
        i++;
      }
      if (!closed) throw new WharfError('InvalidArgument', `unexpected end of statement while looking for matching double-quote in ${JSON.stringify(word)}`);
      continue;
    }
    if (c === '$') {
      out += dollar();
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Splits at unquoted whitespace, then expands each word (FROM, COPY, EXPOSE, VOLUME, USER, …). */
export function processWords(args: string, lookup: Lookup, escape = '\\', used?: Set<string>): string[] {
  return splitWords(args, escape).map((w) => processWord(w, lookup, escape, used));
}

/**
 * `ENV`/`LABEL`/`ARG` arguments: `k=v k2="v 2"` or the legacy `k value with spaces` (ENV, LABEL).
 * Values are expanded; for ARG a name without `=` has no default (value undefined).
 */
export function parseKeyValues(
  args: string,
  what: 'ENV' | 'LABEL' | 'ARG',
  lookup: Lookup,
  escape = '\\',
  used?: Set<string>,
): { key: string; value: string | undefined }[] {
  const words = splitWords(args, escape);
  if (words.length === 0) throw new WharfError('InvalidArgument', `${what} requires at least one argument`);
  if (what !== 'ARG' && !words[0]!.includes('=')) {
    // legacy `ENV key value`
    const t = args.trim();
    const sp = t.search(/\s/);
    if (sp < 0) throw new WharfError('InvalidArgument', `${what} ${t}: needs key=value (or the legacy "key value")`);
    return [{ key: processWord(t.slice(0, sp), lookup, escape, used), value: processWord(t.slice(sp).trim(), lookup, escape, used) }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) {
      if (what !== 'ARG') throw new WharfError('InvalidArgument', `${what}: ${JSON.stringify(w)} is not key=value`);
      return { key: w, value: undefined };
    }
    const key = processWord(w.slice(0, eq), lookup, escape, used);
    if (key === '') throw new WharfError('InvalidArgument', `${what} names can not be blank`);
    return { key, value: processWord(w.slice(eq + 1), lookup, escape, used) };
  });
}

/** `KEY=value` list → lookup (last one wins). */
export function envLookup(env: readonly string[]): Lookup {
  const m = new Map<string, string>();
  for (const e of env) {
    const eq = e.indexOf('=');
    if (eq > 0) m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return (n) => m.get(n);
}

/** Sets `key=value` in a Docker env list, replacing an existing entry in place. */
export function setEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((e) => e.startsWith(`${key}=`));
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}
