import { WharfError } from '../core/errors.js';

// Docker's reference grammar (distribution/reference) and its normalisation:
// `busybox` → `docker.io/library/busybox:latest`; `localhost:5000/x` keeps its domain;
// `name@sha256:<hex>` is a digested reference; familiar names drop `docker.io/` and `library/`.

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const DEFAULT_TAG = 'latest';

const ALNUM = '[a-z0-9]+';
const SEP = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEP}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;

export interface Reference {
  /** `docker.io` or a registry host[:port]. */
  domain: string;
  /** Repository path inside the domain: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

function invalid(ref: string, why: string): WharfError {
  return new WharfError('InvalidArgument', `invalid reference format: ${why}: ${JSON.stringify(ref)}`);
}

/** Splits `name[:tag][@digest]` without normalising; throws InvalidArgument on a bad reference. */
export function parseReference(ref: string): Reference {
  if (ref.length === 0) throw invalid(ref, 'empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(ref, 'bad digest');
    if (digest.startsWith('sha256:') && !SHA256_RE.test(digest)) throw invalid(ref, 'bad sha256 digest');
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) throw invalid(ref, 'bad tag');
  }
  if (rest.length === 0) throw invalid(ref, 'empty name');
  if (rest.length > NAME_TOTAL_MAX) throw invalid(ref, `repository name longer than ${NAME_TOTAL_MAX} characters`);
  // Split domain the way Docker does: the first component is a domain if it contains '.' or ':',
  // is 'localhost', or has upper-case letters.
  const slash = rest.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN_RE.test(domain)) throw invalid(ref, 'bad registry host');
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (/[A-Z]/.test(path)) throw invalid(ref, 'repository name must be lowercase');
  if (!PATH_RE.test(path)) throw invalid(ref, 'bad repository name');
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  const r: Reference = { domain, path };
  if (tag !== undefined) r.tag = tag;
  if (digest !== undefined) r.digest = digest;
  return r;
}

/** Parses a user reference into a normalised one: a name without tag or digest gets `:latest`. */
export function parseNormalizedNamed(ref: string): Reference {
  if (HEX64_RE.test(ref)) throw invalid(ref, 'cannot specify 64-byte hexadecimal strings');
  const r = parseReference(ref);
  if (r.tag === undefined && r.digest === undefined) r.tag = DEFAULT_TAG;
  return r;
}

/** `docker.io/library/busybox` */
export function repoName(r: Pick<Reference, 'domain' | 'path'>): string {
  return `${r.domain}/${r.path}`;
}

/** Full string form: `docker.io/library/busybox:latest`, `docker.io/library/busybox@sha256:…`. */
export function formatReference(r: Reference): string {
  return `${repoName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Familiar form, as Docker displays it: `busybox:latest`, `user/app:1`, `localhost:5000/x:y`. */
export function familiarString(r: Reference): string {
  return `${familiarName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

export function familiarName(r: Pick<Reference, 'domain' | 'path'>): string {
  if (r.domain !== DEFAULT_DOMAIN) return `${r.domain}/${r.path}`;
  return r.path.startsWith('library/') && r.path.indexOf('/', 8) < 0 ? r.path.slice(8) : r.path;
}

/** Normalises a stored full name string back into familiar form (`docker.io/library/a:b` → `a:b`). */
export function familiarize(full: string): string {
  return familiarString(parseReference(full));
}

/** A tag reference `repo:tag` from a `repo` (familiar or fully normalised) and an optional tag. */
export function tagReference(repo: string, tag?: string): Reference {
  const r = parseReference(repo);
  if (r.digest !== undefined) throw invalid(repo, 'refusing to create a tag with a digest reference');
  if (tag !== undefined && tag !== '') {
    if (r.tag !== undefined) throw invalid(`${repo}:${tag}`, 'tag given twice');
    if (!TAG_RE.test(tag)) throw invalid(tag, 'bad tag');
    r.tag = tag;
  }
  if (r.tag === undefined) r.tag = DEFAULT_TAG;
  if (HEX64_RE.test(r.path.replace(/^library\//, ''))) throw invalid(repo, 'cannot specify 64-byte hexadecimal strings');
  return r;
}

export function isFullImageId(s: string): boolean {
  return SHA256_RE.test(s) || HEX64_RE.test(s);
}

/** `sha256:abc…` or `abc…` (hex, 1–64 chars) → the hex prefix, else undefined. */
export function idPrefix(s: string): string | undefined {
  const hex = s.startsWith('sha256:') ? s.slice(7) : s;
  return /^[a-f0-9]{1,64}$/.test(hex) ? hex : undefined;
}

/**
 * Docker's reference filter (`reference=busybox`, `reference=busybox:*`, `reference=*\/x:1.*`):
 * a glob over the familiar name (and name:tag), path.Match semantics where `*` does not cross '/'.
 */
export function matchReferenceFilter(pattern: string, full: Reference): boolean {
  const re = globToRegExp(pattern);
  const fam = familiarName(full);
  const candidates = [fam, repoName(full)];
  if (full.tag !== undefined) candidates.push(`${fam}:${full.tag}`, `${repoName(full)}:${full.tag}`);
  if (full.digest !== undefined) candidates.push(`${fam}@${full.digest}`, `${repoName(full)}@${full.digest}`);
  return candidates.some((c) => re.test(c));
}

function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
