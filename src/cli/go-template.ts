import { WharfError } from '../core/errors.js';
import { formatTable } from './output.js';

// The subset of Go's text/template that `docker … --format` users write, with Docker's
// template functions (json, join, split, lower, upper, title, truncate, pad, println, …)
// and Docker's `table` directive (a header row and tabwriter-aligned columns).
//
// Supported: {{.A.B}}, {{$}}, {{$v.X}}, pipelines (`{{.X | json}}`), function calls with
// arguments ("str", `raw`, numbers, true/false, (sub pipelines)), methods on the data
// (`{{.Label "k"}}`), {{if}}/{{else if}}/{{else}}/{{end}}, {{range}} (with `$i, $v :=`),
// {{with}}, variables (`{{$x := .Y}}`), trim markers `{{-` / `-}}`, comments `{{/* */}}`.

type Value = unknown;

type Node =
  | { t: 'text'; v: string }
  | { t: 'action'; pipe: Pipeline }
  | { t: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { t: 'range'; pipe: Pipeline; keyVar?: string; valVar?: string; body: Node[]; else: Node[] };

interface Pipeline {
  decl?: string[];
  cmds: Term[][];
}

type Term =
  | { t: 'field'; base: 'dot' | string; path: string[] }
  | { t: 'ident'; name: string }
  | { t: 'lit'; v: Value }
  | { t: 'pipe'; p: Pipeline };

const bad = (tpl: string, msg: string) => new WharfError('InvalidArgument', `template parsing error: template: ${tpl}: ${msg}`);

// ---- lexing: text and actions

function splitActions(tpl: string): { text: boolean; v: string }[] {
  const out: { text: boolean; v: string }[] = [];
  let i = 0;
  let trimNext = false;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    let text = open < 0 ? tpl.slice(i) : tpl.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) out.push({ text: true, v: text });
      break;
    }
    let inner = tpl.slice(open + 2);
    const close = findClose(inner);
    if (close < 0) throw bad(tpl, 'unclosed action');
    inner = inner.slice(0, close);
    if (inner.startsWith('- ') || inner === '-') {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (inner.endsWith(' -')) {
      trimNext = true;
      inner = inner.slice(0, -1);
    }
    if (text) out.push({ text: true, v: text });
    const a = inner.trim();
    if (!(a.startsWith('/*') && a.endsWith('*/'))) out.push({ text: false, v: a });
    i = open + 2 + close + 2;
  }
  return out;
}

/** Index of the closing `}}`, skipping quoted strings. */
function findClose(s: string): number {
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = undefined;
    } else if (c === '"' || c === '`') q = c;
    else if (c === '}' && s[i + 1] === '}') return i;
  }
  return -1;
}

type Tok = { k: 'str' | 'num' | 'word' | 'sym'; v: string };

function lexAction(src: string, tpl: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s+|"(?:[^"\\]|\\.)*"|`[^`]*`|-?\d+(?:\.\d+)?|:=|[|(),=]|[$.A-Za-z_][$.\w]*/y;
  let pos = 0;
  while (pos < src.length) {
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw bad(tpl, `unexpected "${src.slice(pos, pos + 10)}" in command`);
    pos = re.lastIndex;
    const v = m[0];
    if (/^\s+$/.test(v)) continue;
    if (v.startsWith('"')) toks.push({ k: 'str', v: JSON.parse(v) as string });
    else if (v.startsWith('`')) toks.push({ k: 'str', v: v.slice(1, -1) });
    else if (/^-?\d/.test(v)) toks.push({ k: 'num', v });
    else if (/^[|(),=]$|^:=$/.test(v)) toks.push({ k: 'sym', v });
    else toks.push({ k: 'word', v });
  }
  return toks;
}

function parsePipeline(toks: Tok[], tpl: string): Pipeline {
  let i = 0;
  const p: Pipeline = { cmds: [] };
  // Variable declaration: `$x :=` or `$i, $v :=`
  const declEnd = toks.findIndex((t) => t.k === 'sym' && t.v === ':=');
  if (declEnd > 0) {
    p.decl = toks.slice(0, declEnd).filter((t) => t.k === 'word').map((t) => t.v);
    i = declEnd + 1;
  }
  const parseTerms = (stopParen: boolean): Term[][] => {
    const cmds: Term[][] = [[]];
    while (i < toks.length) {
      const t = toks[i++]!;
      if (t.k === 'sym' && t.v === ')') {
        if (!stopParen) throw bad(tpl, 'unexpected ")"');
        return cmds;
      }
      if (t.k === 'sym' && t.v === '|') {
        cmds.push([]);
        continue;
      }
      const cur = cmds[cmds.length - 1]!;
      if (t.k === 'sym' && t.v === '(') {
        cur.push({ t: 'pipe', p: { cmds: parseTerms(true) } });
        continue;
      }
      if (t.k === 'str') cur.push({ t: 'lit', v: t.v });
      else if (t.k === 'num') cur.push({ t: 'lit', v: Number(t.v) });
      else if (t.k === 'word') cur.push(wordTerm(t.v));
      else throw bad(tpl, `unexpected "${t.v}"`);
    }
    if (stopParen) throw bad(tpl, 'unclosed "("');
    return cmds;
  };
  p.cmds = parseTerms(false);
  if (p.cmds.some((c) => c.length === 0)) throw bad(tpl, 'missing value for command');
  return p;
}

function wordTerm(w: string): Term {
  if (w === 'true' || w === 'false') return { t: 'lit', v: w === 'true' };
  if (w === 'nil') return { t: 'lit', v: null };
  if (w.startsWith('.')) return { t: 'field', base: 'dot', path: w === '.' ? [] : w.slice(1).split('.') };
  if (w.startsWith('$')) {
    const [name, ...path] = w.split('.');
    return { t: 'field', base: name!, path };
  }
  return { t: 'ident', name: w };
}

function parse(tpl: string): Node[] {
  const parts = splitActions(tpl);
  let i = 0;
  /** Nodes until one of `enders`; returns which ender stopped it (and the rest of an `else …`). */
  const block = (enders: string[]): { nodes: Node[]; ender: string; rest: string } => {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const p = parts[i++]!;
      if (p.text) {
        nodes.push({ t: 'text', v: p.v });
        continue;
      }
      const kw = /^(if|range|with|else|end)\b\s*([\s\S]*)$/.exec(p.v);
      if (!kw) {
        nodes.push({ t: 'action', pipe: parsePipeline(lexAction(p.v, tpl), tpl) });
        continue;
      }
      const word = kw[1]!;
      const rest = kw[2]!;
      if (word === 'end' || word === 'else') {
        if (!enders.includes(word)) throw bad(tpl, `unexpected {{${word}}}`);
        return { nodes, ender: word, rest };
      }
      nodes.push(control(word, rest));
    }
    if (enders.length) throw bad(tpl, 'unexpected EOF');
    return { nodes, ender: '', rest: '' };
  };
  /** An if/range/with node, consuming through its {{end}} (an `else if` chain shares it). */
  const control = (word: string, rest: string): Node => {
    const pipe = parsePipeline(lexAction(rest, tpl), tpl);
    const body = block(['else', 'end']);
    let elseNodes: Node[] = [];
    if (body.ender === 'else') {
      const m = /^(if|with)\b\s*([\s\S]*)$/.exec(body.rest);
      elseNodes = m ? [control(m[1]!, m[2]!)] : block(['end']).nodes;
    }
    if (word === 'range') {
      const n: Node = { t: 'range', pipe, body: body.nodes, else: elseNodes };
      if (pipe.decl?.length === 2) {
        n.keyVar = pipe.decl[0]!;
        n.valVar = pipe.decl[1]!;
      } else if (pipe.decl?.length === 1) n.valVar = pipe.decl[0]!;
      delete pipe.decl;
      return n;
    }
    return { t: word as 'if' | 'with', pipe, then: body.nodes, else: elseNodes };
  };
  return block([]).nodes;
}

// ---- evaluation

/** Go's fmt %v for the JSON-like values Docker templates see. */
export function goString(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function') return goString((v as () => unknown)());
  if (Array.isArray(v)) return `[${v.map((x) => (x === null ? '<nil>' : goString(x))).join(' ')}]`;
  if (v instanceof Date) return v.toISOString();
  const o = v as Record<string, unknown>;
  if (typeof o.toString === 'function' && o.toString !== Object.prototype.toString) return o.toString();
  return `map[${Object.keys(o)
    .sort()
    .map((k) => `${k}:${o[k] === null ? '<nil>' : goString(o[k])}`)
    .join(' ')}]`;
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const FUNCS: Record<string, (...a: Value[]) => Value> = {
  json: (v) => JSON.stringify(v === undefined ? null : v),
  join: (a, sep) => (Array.isArray(a) ? a.map(goString).join(String(sep)) : goString(a)),
  split: (s, sep) => String(s).split(String(sep)),
  lower: (s) => goString(s).toLowerCase(),
  upper: (s) => goString(s).toUpperCase(),
  title: (s) => goString(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  truncate: (s, n) => [...goString(s)].slice(0, Number(n)).join(''),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${goString(s)}${' '.repeat(Number(r))}`,
  println: (...a) => `${a.map(goString).join(' ')}\n`,
  print: (...a) => a.map(goString).join(''),
  printf: (f, ...a) => sprintf(String(f), a),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => keys.reduce<Value>((cur, k) => (cur && typeof cur === 'object' ? (cur as Record<string, Value>)[String(k)] : undefined), v),
  not: (v) => !truthy(v),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
};

function sprintf(f: string, args: Value[]): string {
  let i = 0;
  return f.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([vsdqfxt%])/g, (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    let s: string;
    if (verb === 'q') s = JSON.stringify(goString(a));
    else if (verb === 'd') s = String(Math.trunc(Number(a)));
    else if (verb === 'f') s = Number(a).toFixed(prec ? Number(prec) : 6);
    else if (verb === 'x') s = typeof a === 'number' ? a.toString(16) : Buffer.from(goString(a)).toString('hex');
    else s = goString(a);
    const w = Number(width || 0);
    return flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && verb !== 's' ? '0' : ' ');
  });
}

type Scope = { dot: Value; vars: Map<string, Value> };

function field(base: Value, path: string[], args: Value[] | undefined): Value {
  let cur = base;
  for (let k = 0; k < path.length; k++) {
    const name = path[k]!;
    if (cur === undefined || cur === null) return undefined;
    if (typeof cur !== 'object') throw new WharfError('InvalidArgument', `template: can't evaluate field ${name} in type ${typeof cur}`);
    let v = (cur as Record<string, Value>)[name];
    if (typeof v === 'function') v = (v as (...a: Value[]) => Value).call(cur, ...(k === path.length - 1 && args ? args : []));
    cur = v;
  }
  return cur;
}

function evalTerm(t: Term, s: Scope, args: Value[] | undefined, final: Value | typeof NONE): Value {
  switch (t.t) {
    case 'lit':
      return t.v;
    case 'pipe':
      return evalPipe(t.p, s);
    case 'field': {
      const base = t.base === 'dot' ? s.dot : t.base === '$' ? s.vars.get('$') : s.vars.get(t.base);
      if (t.base !== 'dot' && !s.vars.has(t.base)) throw new WharfError('InvalidArgument', `template: undefined variable "${t.base}"`);
      const all = final === NONE ? args : [...(args ?? []), final];
      return field(base, t.path, all);
    }
    case 'ident': {
      const fn = FUNCS[t.name];
      if (!fn) throw new WharfError('InvalidArgument', `template: function "${t.name}" not defined`);
      const all = [...(args ?? [])];
      if (final !== NONE) all.push(final);
      return fn(...all);
    }
  }
}

const NONE = Symbol('none');

function evalPipe(p: Pipeline, s: Scope): Value {
  let prev: Value | typeof NONE = NONE;
  for (const cmd of p.cmds) {
    const [head, ...rest] = cmd;
    const args = rest.map((a) => evalTerm(a, s, undefined, NONE));
    prev = evalTerm(head!, s, args.length ? args : undefined, prev);
  }
  const v = prev === NONE ? undefined : prev;
  if (p.decl?.length === 1) s.vars.set(p.decl[0]!, v);
  return v;
}

function exec(nodes: Node[], s: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case 'text':
        out.push(n.v);
        break;
      case 'action': {
        const v = evalPipe(n.pipe, s);
        if (!n.pipe.decl) out.push(goString(v));
        break;
      }
      case 'if': {
        const v = evalPipe(n.pipe, s);
        exec(truthy(v) ? n.then : n.else, s, out);
        break;
      }
      case 'with': {
        const v = evalPipe(n.pipe, s);
        if (truthy(v)) exec(n.then, { dot: v, vars: s.vars }, out);
        else exec(n.else, s, out);
        break;
      }
      case 'range': {
        const v = evalPipe(n.pipe, s);
        const entries: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === 'object'
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
            : typeof v === 'number'
              ? Array.from({ length: v }, (_, i) => [i, i])
              : [];
        if (!entries.length) exec(n.else, s, out);
        for (const [k, x] of entries) {
          const vars = new Map(s.vars);
          if (n.keyVar) vars.set(n.keyVar, k);
          if (n.valVar) vars.set(n.valVar, x);
          exec(n.body, { dot: x, vars }, out);
        }
        break;
      }
    }
  }
}

/** A parsed template, reusable for many rows. */
export class GoTemplate {
  private readonly nodes: Node[];
  constructor(readonly source: string) {
    this.nodes = parse(source);
  }
  render(data: Value): string {
    const out: string[] = [];
    exec(this.nodes, { dot: data, vars: new Map([['$', data]]) }, out);
    return out.join('');
  }
}

/** Docker's `--format` with optional `table` directive: returns the whole output (with newlines). */
export function formatRows(format: string, rows: readonly Value[], headers: Record<string, string>): string {
  const isTable = /^table(\s|$)/.test(format);
  let src = isTable ? format.slice(5).trimStart() : format;
  src = src.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const t = new GoTemplate(src);
  const lines = rows.map((r) => t.render(r));
  if (!isTable) return lines.map((l) => `${l}\n`).join('');
  const header = t.render(headerContext(headers));
  const split = (l: string) => l.split('\t');
  const rowsCells = lines.map(split);
  return formatTable(split(header), rowsCells);
}

/** A context whose every field renders as its column header (Docker's header rendering). */
function headerContext(headers: Record<string, string>): Value {
  return new Proxy(
    {},
    {
      get: (_t, k) => {
        if (typeof k !== 'string') return undefined;
        const h = headers[k] ?? k.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
        return () => h;
      },
    },
  );
}

/** Renders a `--format` for a single object (inspect -f): output plus newline. */
export function formatOne(format: string, data: Value): string {
  return `${new GoTemplate(format).render(data)}\n`;
}
