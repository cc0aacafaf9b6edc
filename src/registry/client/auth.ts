import { WharfError } from '../../core/errors.js';

// Registry credentials and the WWW-Authenticate challenge (RFC 7235 as registries use it).

/** What the docker CLI sends in X-Registry-Auth (base64url JSON) and stores after `docker login`. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth refresh token from a previous login (sent as refresh_token to the token endpoint). */
  identitytoken?: string;
  /** A bearer token to use as is. */
  registrytoken?: string;
  serveraddress?: string;
}

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (several challenges may be comma-joined). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    // Split before each scheme token (a word followed by a space and a key=, or at the end).
    const starts: { scheme: string; at: number }[] = [];
    const sre = /(?:^|,)\s*(Bearer|Basic)(?=\s|$)/gi;
    let m: RegExpExecArray | null;
    while ((m = sre.exec(v)) !== null) starts.push({ scheme: m[1]!.toLowerCase(), at: m.index + m[0].length });
    starts.forEach((s, i) => {
      const seg = v.slice(s.at, i + 1 < starts.length ? starts[i + 1]!.at - starts[i + 1]!.scheme.length : undefined);
      const params: Record<string, string> = {};
      const pre = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = pre.exec(seg)) !== null) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
      out.push({ scheme: s.scheme as Challenge['scheme'], params });
    });
  }
  return out;
}

/** Decodes X-Registry-Auth: base64url (or standard base64) JSON; empty or `{}` means anonymous. */
export function decodeRegistryAuth(header: string | undefined): RegistryCredentials {
  if (header === undefined || header.trim() === '') return {};
  let json: unknown;
  try {
    const b64 = header.trim().replace(/-/g, '+').replace(/_/g, '/');
    json = JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
  } catch {
    throw new WharfError('InvalidArgument', 'X-Registry-Auth: not base64-encoded JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WharfError('InvalidArgument', 'X-Registry-Auth: not a JSON object');
  const o = json as Record<string, unknown>;
  const creds: RegistryCredentials = {};
  for (const k of ['username', 'password', 'identitytoken', 'registrytoken', 'serveraddress'] as const) {
    if (typeof o[k] === 'string' && o[k] !== '') creds[k] = o[k];
  }
  return creds;
}

export function encodeRegistryAuth(c: RegistryCredentials): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function basicHeader(c: RegistryCredentials): string | undefined {
  if (c.username === undefined || c.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
