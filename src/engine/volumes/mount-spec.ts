import { posix } from 'node:path';
import { invalid } from '../../core/errors.js';

// Docker's `-v` and `--mount` syntax parsed into mount requests (pure), and requests turned into
// OCI mount entries once the source is known. No I/O here: the volume service resolves sources.

export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';
const PROPAGATIONS: readonly string[] = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];

export interface BindRequest {
  type: 'bind';
  source: string;
  target: string;
  readOnly: boolean;
  propagation?: Propagation;
  /** SELinux relabel: z (shared) or Z (private). Recorded; a no-op on hosts without SELinux. */
  relabel?: 'z' | 'Z';
  nonRecursive?: boolean;
  /** `-v` creates a missing host directory; `--mount` refuses it. */
  createSource: boolean;
}

export interface VolumeRequest {
  type: 'volume';
  /** Empty for an anonymous volume. */
  name: string;
  target: string;
  readOnly: boolean;
  noCopy: boolean;
  subpath?: string;
  labels?: Record<string, string>;
  driver?: string;
  driverOptions?: Record<string, string>;
}

export interface TmpfsRequest {
  type: 'tmpfs';
  target: string;
  readOnly: boolean;
  sizeBytes?: number;
  mode?: number;
}

export type MountRequest = BindRequest | VolumeRequest | TmpfsRequest;

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw invalid(`invalid volume name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`);
  }
  return name;
}

function target(t: string, spec: string): string {
  if (!t) throw invalid(`invalid mount config ${JSON.stringify(spec)}: missing container path`);
  if (!t.startsWith('/')) throw invalid(`invalid mount config ${JSON.stringify(spec)}: container path ${JSON.stringify(t)} must be absolute`);
  const n = posix.normalize(t);
  if (n === '/') throw invalid(`invalid mount config ${JSON.stringify(spec)}: cannot mount over /`);
  return n.replace(/\/$/, '');
}

/** `-v [source:]target[:options]` (Linux syntax). */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && !(i === 2))) throw invalid(`invalid volume specification ${JSON.stringify(spec)}`);
  let source = '';
  let tgt: string;
  let opts = '';
  if (parts.length === 1) tgt = parts[0]!;
  else if (parts.length === 2) {
    // "/ctr:ro" is not a thing in Docker: two parts are always source:target.
    source = parts[0]!;
    tgt = parts[1]!;
  } else {
    source = parts[0]!;
    tgt = parts[1]!;
    opts = parts[2]!;
  }
  let readOnly = false;
  let propagation: Propagation | undefined;
  let relabel: 'z' | 'Z' | undefined;
  let noCopy = false;
  for (const o of opts ? opts.split(',') : []) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'z' || o === 'Z') relabel = o;
    else if (PROPAGATIONS.includes(o)) propagation = o as Propagation;
    else if (o === 'nocopy') noCopy = true;
    else if (o === 'consistent' || o === 'cached' || o === 'delegated') continue;
    else throw invalid(`invalid mode ${JSON.stringify(o)} in volume specification ${JSON.stringify(spec)}`);
  }
  const t = target(tgt, spec);
  if (source.startsWith('/') || source.startsWith('.')) {
    if (!source.startsWith('/')) throw invalid(`invalid volume specification ${JSON.stringify(spec)}: bind source must be an absolute path`);
    if (noCopy) throw invalid(`invalid volume specification ${JSON.stringify(spec)}: nocopy applies to volumes only`);
    return {
      type: 'bind',
      source: posix.normalize(source),
      target: t,
      readOnly,
      createSource: true,
      ...(propagation ? { propagation } : {}),
      ...(relabel ? { relabel } : {}),
    };
  }
  if (propagation) throw invalid(`invalid volume specification ${JSON.stringify(spec)}: propagation applies to bind mounts only`);
  if (source) checkVolumeName(source);
  return { type: 'volume', name: source, target: t, readOnly, noCopy };
}

function bool(v: string | undefined, key: string): boolean {
  if (v === undefined || v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(`invalid value for ${key}: ${JSON.stringify(v)}`);
}

/** Splits a CSV field respecting double quotes (Docker's --mount is CSV). */
function csv(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (const ch of s) {
    if (ch === '"') q = !q;
    else if (ch === ',' && !q) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (q) throw invalid(`invalid --mount ${JSON.stringify(s)}: unbalanced quote`);
  out.push(cur);
  return out;
}

/** `--mount type=bind|volume|tmpfs,src=…,dst=…,readonly,…` */
export function parseMountFlag(spec: string): MountRequest {
  let type = 'volume';
  let src = '';
  let dst = '';
  let readOnly = false;
  let propagation: Propagation | undefined;
  let nonRecursive = false;
  let noCopy = false;
  let subpath: string | undefined;
  let sizeBytes: number | undefined;
  let mode: number | undefined;
  let relabel: 'z' | 'Z' | undefined;
  const labels: Record<string, string> = {};
  const driverOptions: Record<string, string> = {};
  let driver: string | undefined;
  for (const field of csv(spec)) {
    if (!field) continue;
    const i = field.indexOf('=');
    const k = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? undefined : field.slice(i + 1);
    switch (k) {
      case 'type':
        type = v ?? '';
        break;
      case 'source':
      case 'src':
        src = v ?? '';
        break;
      case 'target':
      case 'destination':
      case 'dst':
        dst = v ?? '';
        break;
      case 'readonly':
      case 'ro':
        readOnly = bool(v, k);
        break;
      case 'bind-propagation':
        if (!v || !PROPAGATIONS.includes(v)) throw invalid(`invalid bind-propagation ${JSON.stringify(v)}`);
        propagation = v as Propagation;
        break;
      case 'bind-nonrecursive':
        nonRecursive = bool(v, k);
        break;
      case 'volume-nocopy':
        noCopy = bool(v, k);
        break;
      case 'volume-subpath':
        subpath = v;
        break;
      case 'volume-driver':
        driver = v;
        break;
      case 'volume-label': {
        const j = (v ?? '').indexOf('=');
        if (!v || j <= 0) throw invalid(`invalid volume-label ${JSON.stringify(v)}`);
        labels[v.slice(0, j)] = v.slice(j + 1);
        break;
      }
      case 'volume-opt': {
        const j = (v ?? '').indexOf('=');
        if (!v || j <= 0) throw invalid(`invalid volume-opt ${JSON.stringify(v)}`);
        driverOptions[v.slice(0, j)] = v.slice(j + 1);
        break;
      }
      case 'tmpfs-size': {
        sizeBytes = parseSize(v ?? '');
        break;
      }
      case 'tmpfs-mode': {
        if (!v || !/^[0-7]{1,4}$/.test(v)) throw invalid(`invalid tmpfs-mode ${JSON.stringify(v)}`);
        mode = parseInt(v, 8);
        break;
      }
      case 'consistency':
        break;
      case 'z':
      case 'relabel':
        relabel = v === 'private' ? 'Z' : 'z';
        break;
      default:
        throw invalid(`unexpected key ${JSON.stringify(k)} in --mount ${JSON.stringify(spec)}`);
    }
  }
  const t = target(dst, spec);
  if (type === 'bind') {
    if (!src) throw invalid(`invalid --mount ${JSON.stringify(spec)}: bind needs a source`);
    if (!src.startsWith('/')) throw invalid(`invalid --mount ${JSON.stringify(spec)}: bind source ${JSON.stringify(src)} must be an absolute path`);
    return {
      type: 'bind',
      source: posix.normalize(src),
      target: t,
      readOnly,
      createSource: false,
      ...(propagation ? { propagation } : {}),
      ...(nonRecursive ? { nonRecursive } : {}),
      ...(relabel ? { relabel } : {}),
    };
  }
  if (type === 'volume') {
    if (propagation || nonRecursive) throw invalid(`invalid --mount ${JSON.stringify(spec)}: bind options on a volume`);
    if (src) checkVolumeName(src);
    if (subpath !== undefined && (subpath.startsWith('/') || subpath.split('/').includes('..'))) throw invalid(`invalid volume-subpath ${JSON.stringify(subpath)}`);
    return {
      type: 'volume',
      name: src,
      target: t,
      readOnly,
      noCopy,
      ...(subpath ? { subpath } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
      ...(driver ? { driver } : {}),
      ...(Object.keys(driverOptions).length ? { driverOptions } : {}),
    };
  }
  if (type === 'tmpfs') {
    if (src) throw invalid(`invalid --mount ${JSON.stringify(spec)}: tmpfs takes no source`);
    return { type: 'tmpfs', target: t, readOnly, ...(sizeBytes !== undefined ? { sizeBytes } : {}), ...(mode !== undefined ? { mode } : {}) };
  }
  throw invalid(`invalid mount type ${JSON.stringify(type)}: bind, volume or tmpfs`);
}

/** "64m", "1g", "1024" → bytes. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw invalid(`invalid size ${JSON.stringify(s)}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * mult);
}

/** Checks that no two mounts share a target (Docker: "Duplicate mount point"). */
export function checkDuplicates(reqs: readonly MountRequest[]): void {
  const seen = new Set<string>();
  for (const r of reqs) {
    if (seen.has(r.target)) throw invalid(`Duplicate mount point: ${r.target}`);
    seen.add(r.target);
  }
}

/** The OCI mount entry for a request whose host source is known (volume: its _data dir). */
export function toOciMount(req: MountRequest, hostSource?: string): OciMount {
  if (req.type === 'tmpfs') {
    const options = ['nosuid', 'nodev', 'noexec'];
    if (req.sizeBytes !== undefined) options.push(`size=${req.sizeBytes}`);
    options.push(`mode=${(req.mode ?? 0o1777).toString(8)}`);
    if (req.readOnly) options.push('ro');
    return { destination: req.target, type: 'tmpfs', source: 'tmpfs', options };
  }
  const source = hostSource ?? (req.type === 'bind' ? req.source : '');
  if (!source) throw invalid(`mount at ${req.target}: no host source resolved`);
  const options = [req.type === 'bind' && req.nonRecursive ? 'bind' : 'rbind'];
  options.push(req.readOnly ? 'ro' : 'rw');
  options.push(req.type === 'bind' ? (req.propagation ?? 'rprivate') : 'rprivate');
  return { destination: req.target, type: 'bind', source, options };
}

export interface VolumesFromRequest {
  /** Container name or ID. */
  container: string;
  /** Override of the source mounts' mode; undefined keeps each mount's own. */
  mode?: 'ro' | 'rw';
}

/** `--volumes-from name[:ro|rw]`. */
export function parseVolumesFrom(spec: string): VolumesFromRequest {
  const i = spec.lastIndexOf(':');
  const container = i < 0 ? spec : spec.slice(0, i);
  const mode = i < 0 ? undefined : spec.slice(i + 1);
  if (!container) throw invalid(`invalid --volumes-from ${JSON.stringify(spec)}: missing container`);
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw invalid(`invalid mode for volumes-from: ${mode}`);
  return { container, ...(mode ? { mode } : {}) };
}
