import { WharfError } from '../../core/errors.js';
import type { ImageRuntimeConfig } from './types.js';

// `docker import --change` instructions: CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, LABEL, USER,
// VOLUME, STOPSIGNAL. JSON (exec) form or shell form, like a Dockerfile.

const bad = (msg: string) => new WharfError('InvalidArgument', `invalid change: ${msg}`);

function jsonArray(arg: string): string[] | undefined {
  if (!arg.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(arg) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* not JSON: shell form */
  }
  return undefined;
}

/** Splits `a=b "c d"=e f='g h'` into words, honouring quotes and backslashes. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw bad(`unterminated quote in ${JSON.stringify(s)}`);
  if (has || cur) out.push(cur);
  return out;
}

function keyValues(arg: string, what: string): [string, string][] {
  const w = words(arg);
  if (w.length === 0) throw bad(`${what} needs an argument`);
  if (!w[0]!.includes('=')) {
    // legacy form: `ENV key value with spaces`
    const sp = arg.trim().search(/\s/);
    if (sp < 0) throw bad(`${what} ${arg}: needs key=value`);
    return [[arg.trim().slice(0, sp), arg.trim().slice(sp).trim()]];
  }
  return w.map((x) => {
    const eq = x.indexOf('=');
    if (eq <= 0) throw bad(`${what}: ${JSON.stringify(x)} is not key=value`);
    return [x.slice(0, eq), x.slice(eq + 1)];
  });
}

export function parseChanges(changes: string[], base: ImageRuntimeConfig = {}): ImageRuntimeConfig {
  const cfg: ImageRuntimeConfig = { ...base };
  for (const raw of changes) {
    for (const line of raw.split('\n')) {
      const t = line.trim();
      if (t === '') continue;
      const m = /^(\S+)\s*(.*)$/s.exec(t)!;
      const instr = m[1]!.toUpperCase();
      const arg = m[2]!.trim();
      switch (instr) {
        case 'CMD':
        case 'ENTRYPOINT': {
          const v = jsonArray(arg) ?? ['/bin/sh', '-c', arg];
          if (arg === '') throw bad(`${instr} needs an argument`);
          if (instr === 'CMD') cfg.Cmd = v;
          else {
            cfg.Entrypoint = v;
            if (base.Cmd === cfg.Cmd) cfg.Cmd = null;
          }
          break;
        }
        case 'ENV': {
          const env = [...(cfg.Env ?? [])];
          for (const [k, v] of keyValues(arg, 'ENV')) {
            const i = env.findIndex((e) => e.startsWith(`${k}=`));
            if (i >= 0) env[i] = `${k}=${v}`;
            else env.push(`${k}=${v}`);
          }
          cfg.Env = env;
          break;
        }
        case 'LABEL': {
          cfg.Labels = { ...(cfg.Labels ?? {}) };
          for (const [k, v] of keyValues(arg, 'LABEL')) cfg.Labels[k] = v;
          break;
        }
        case 'WORKDIR':
          if (arg === '') throw bad('WORKDIR needs a path');
          cfg.WorkingDir = arg.startsWith('/') ? arg : `${cfg.WorkingDir ?? '/'}${(cfg.WorkingDir ?? '/').endsWith('/') ? '' : '/'}${arg}`;
          break;
        case 'USER':
          if (arg === '') throw bad('USER needs a name');
          cfg.User = arg;
          break;
        case 'STOPSIGNAL':
          cfg.StopSignal = arg;
          break;
        case 'EXPOSE': {
          cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
          for (const p of words(arg)) {
            if (!/^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/i.test(p)) throw bad(`EXPOSE: bad port ${JSON.stringify(p)}`);
            cfg.ExposedPorts[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
          }
          break;
        }
        case 'VOLUME': {
          cfg.Volumes = { ...(cfg.Volumes ?? {}) };
          for (const v of jsonArray(arg) ?? words(arg)) cfg.Volumes[v] = {};
          break;
        }
        default:
          throw bad(`${instr} is not supported (supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)`);
      }
    }
  }
  return cfg;
}
