import { WharfError } from '../../core/errors.js';

// A Dockerfile parser with the classic builder's rules (moby/buildkit frontend/dockerfile/parser):
// parser directives at the top (`# escape=`), comments, line continuations with the escape
// character, `--flag=value` options, JSON (exec) forms, and heredocs (`<<EOF`, `<<-EOF`,
// quoted delimiters) for RUN, COPY and ADD. Pure: no I/O, no variable expansion (expand.ts does
// that per instruction, because which instructions expand, and with which variables, is the
// builder's business).

export const INSTRUCTIONS = [
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER',
  'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
] as const;
export type InstructionName = (typeof INSTRUCTIONS)[number];

export interface Heredoc {
  name: string;
  content: string;
  /** True when the delimiter was quoted: no variable expansion in the content. */
  quoted: boolean;
  /** `<<-`: leading tabs stripped. */
  chomp: boolean;
}

export interface Instruction {
  name: InstructionName;
  /** Line number (1-based) where the instruction starts. */
  line: number;
  /** The instruction as written, continuation lines joined (for messages and cache keys). */
  original: string;
  /** `--name=value` flags before the arguments, in order. */
  flags: { name: string; value: string | undefined }[];
  /** The arguments after the flags, unexpanded. */
  args: string;
  /** Set when the arguments are a JSON array of strings (exec form). */
  json?: string[];
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: string;
  instructions: Instruction[];
}

const bad = (line: number, msg: string) => new WharfError('InvalidArgument', `Dockerfile parse error on line ${line}: ${msg}`);

const JSON_FORMS = new Set<InstructionName>(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'COPY', 'ADD', 'VOLUME']);
const FLAG_FORMS = new Set<InstructionName>(['FROM', 'RUN', 'COPY', 'ADD', 'HEALTHCHECK']);
const HEREDOC_FORMS = new Set<InstructionName>(['RUN', 'COPY', 'ADD']);

/** Parses `[ "a", "b" ]` (strings only); undefined when it is not such an array. */
export function parseJsonArray(s: string): string[] | undefined {
  const t = s.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* shell form */
  }
  return undefined;
}

function parseDirectives(lines: string[]): { escape: string; start: number } {
  let escape = '\\';
  const seen = new Set<string>();
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (seen.has(key)) throw bad(i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw bad(i + 1, `invalid escape token '${m[2]}' does not match ` + '` or \\');
      escape = m[2]!;
    }
    // `syntax` and `check` are accepted and ignored (no BuildKit frontends here).
  }
  return { escape, start: i };
}

const HEREDOC_RE = /<<(-?)\s*(["']?)([a-zA-Z_][a-zA-Z0-9_]*)\2/g;

export function parseDockerfile(text: string): Dockerfile {
  if (text.includes('\0')) throw new WharfError('InvalidArgument', 'Dockerfile parse error: the file contains NUL bytes (not a text file)');
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const { escape, start } = parseDirectives(lines);
  const out: Instruction[] = [];
  let i = start;
  while (i < lines.length) {
    const first = lines[i]!;
    const trimmed = first.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i++;
      continue;
    }
    const startLine = i + 1;
    // Join continuation lines: comment lines and empty lines inside a continuation are dropped.
    let joined = '';
    let cur = first;
    for (;;) {
      const t = cur.replace(/\s+$/, '');
      if (t.endsWith(escape)) {
        joined += t.slice(0, -1);
        i++;
        while (i < lines.length && (lines[i]!.trim() === '' || lines[i]!.trim().startsWith('#'))) i++;
        if (i >= lines.length) break;
        cur = lines[i]!;
        continue;
      }
      joined += cur;
      i++;
      break;
    }
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(joined)!;
    const word = m[1]!.toUpperCase();
    if (!(INSTRUCTIONS as readonly string[]).includes(word)) throw bad(startLine, `unknown instruction: ${m[1]!.toUpperCase()}`);
    const name = word as InstructionName;
    let rest = m[2]!.trim();
    const flags: Instruction['flags'] = [];
    if (FLAG_FORMS.has(name)) {
      for (;;) {
        const f = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
        if (!f) break;
        flags.push({ name: f[1]!, value: f[2] });
        rest = rest.slice(f[0].length);
      }
    }
    const heredocs: Heredoc[] = [];
    if (HEREDOC_FORMS.has(name) && !rest.startsWith('[')) {
      const names = [...rest.matchAll(HEREDOC_RE)];
      for (const h of names) {
        const chomp = h[1] === '-';
        const delim = h[3]!;
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const l = lines[i++]!;
          if ((chomp ? l.replace(/^\t+/, '') : l) === delim) {
            closed = true;
            break;
          }
          body.push(chomp ? l.replace(/^\t+/, '') : l);
        }
        if (!closed) throw bad(startLine, `unterminated heredoc ${delim}`);
        heredocs.push({ name: delim, content: body.length ? `${body.join('\n')}\n` : '', quoted: h[2] !== '', chomp });
      }
    }
    const instr: Instruction = { name, line: startLine, original: joined.trim(), flags, args: rest, heredocs };
    if (JSON_FORMS.has(name)) {
      const j = parseJsonArray(rest);
      if (j) instr.json = j;
    }
    out.push(instr);
  }
  return { escape, instructions: out };
}

/** Splits a shell-form argument list at unquoted whitespace, keeping quotes and escapes (expand.ts removes them). */
export function splitWords(s: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === escape && quote !== "'" && i + 1 < s.length) {
      cur += c + s[i + 1]!;
      i++;
      inWord = true;
      continue;
    }
    if (quote) {
      if (c === quote) quote = undefined;
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      cur += c;
      inWord = true;
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (inWord) out.push(cur);
  return out;
}
