import { createHash, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { WharfError } from '../../core/errors.js';

// Users, permissions and tokens. A users file (YAML):
//   anonymous: ["public/*: pull"]          # optional: what clients without credentials may do
//   users:
//     - name: alice
//       password: "scrypt$16384$8$1$<salt b64>$<hash b64>"   # `wharf registry passwd`
//       admin: true                          # may call the GC API
//       access: ["*: push", "secret/*: pull"]
// A rule is `repo-glob: actions`; actions are pull, push (implies pull) and delete (implies both),
// joined with `|` or `,`; `*` in a glob matches any characters, `/` included.

export type Action = 'pull' | 'push' | 'delete';

export interface Rule {
  glob: RegExp;
  actions: Set<Action>;
}

export interface User {
  name: string;
  passwordHash: string;
  admin: boolean;
  rules: Rule[];
}

export interface AuthConfig {
  anonymous: Rule[];
  users: Map<string, User>;
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export function hashPassword(password: string, salt = randomBytes(16)): string {
  const N = 16384;
  const hash = scryptSync(password, salt, 32, { N, r: 8, p: 1 });
  return `scrypt$${N}$8$1$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const want = Buffer.from(parts[5]!, 'base64');
  const got = scryptSync(password, salt, want.length, { N, r, p, maxmem: 256 * N * r });
  return got.length === want.length && timingSafeEqual(got, want);
}

function globToRe(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

export function parseRule(s: string): Rule {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new WharfError('InvalidArgument', `access rule ${JSON.stringify(s)}: want "repo-glob: pull|push|delete"`);
  const actions = new Set<Action>();
  for (const a of s.slice(i + 1).split(/[|,]/).map((x) => x.trim())) {
    if (a === 'pull') actions.add('pull');
    else if (a === 'push') actions.add('pull').add('push');
    else if (a === 'delete' || a === '*') actions.add('pull').add('push').add('delete');
    else throw new WharfError('InvalidArgument', `access rule ${JSON.stringify(s)}: unknown action ${JSON.stringify(a)}`);
  }
  return { glob: globToRe(s.slice(0, i).trim()), actions };
}

export function parseUsersFile(text: string): AuthConfig {
  const doc = parseYaml(text) as { anonymous?: unknown; users?: unknown } | null;
  const strings = (v: unknown, what: string): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new WharfError('InvalidArgument', `users file: ${what} must be a list of strings`);
    return v as string[];
  };
  const cfg: AuthConfig = { anonymous: strings(doc?.anonymous, 'anonymous').map(parseRule), users: new Map() };
  const users = doc?.users ?? [];
  if (!Array.isArray(users)) throw new WharfError('InvalidArgument', 'users file: users must be a list');
  for (const u of users as Record<string, unknown>[]) {
    if (typeof u?.name !== 'string' || typeof u.password !== 'string' || !u.password.startsWith('scrypt$')) {
      throw new WharfError('InvalidArgument', `users file: each user needs a name and a scrypt password hash (wharf registry passwd)`);
    }
    cfg.users.set(u.name, { name: u.name, passwordHash: u.password, admin: u.admin === true, rules: strings(u.access, `${u.name}.access`).map(parseRule) });
  }
  return cfg;
}

export function allowedActions(rules: readonly Rule[], repo: string): Set<Action> {
  const out = new Set<Action>();
  for (const r of rules) if (r.glob.test(repo)) for (const a of r.actions) out.add(a);
  return out;
}

/** HMAC-SHA256 JWTs (header.payload.signature, base64url) with Docker's `access` claim. */
export class TokenIssuer {
  private readonly secret: Buffer;

  constructor(
    secretFile: string,
    readonly service: string,
    private readonly ttlSeconds = 300,
  ) {
    if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    this.secret = Buffer.from(readFileSync(secretFile, 'utf8').trim(), 'hex');
  }

  issue(sub: string, access: Access[], now = Date.now()): { token: string; expiresIn: number; issuedAt: string } {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const iat = Math.floor(now / 1000);
    const payload = { iss: 'wharf-registry', sub, aud: this.service, iat, nbf: iat - 5, exp: iat + this.ttlSeconds, jti: randomBytes(8).toString('hex'), access };
    const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
    const sig = createHmac('sha256', this.secret).update(head).digest('base64url');
    return { token: `${head}.${sig}`, expiresIn: this.ttlSeconds, issuedAt: new Date(iat * 1000).toISOString() };
  }

  /** The claims of a valid, unexpired token; undefined otherwise. */
  verify(token: string, now = Date.now()): { sub: string; access: Access[] } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const want = createHmac('sha256', this.secret).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2]!, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
    try {
      const p = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { sub: string; exp: number; aud: string; access: Access[] };
      if (p.aud !== this.service || p.exp * 1000 < now) return undefined;
      return { sub: p.sub, access: Array.isArray(p.access) ? p.access : [] };
    } catch {
      return undefined;
    }
  }
}

/** Caches successful password checks (scrypt costs ~50 ms) for basic auth on every request. */
export class PasswordCache {
  private readonly ok = new Map<string, number>();
  check(user: User, password: string, now = Date.now()): boolean {
    const key = createHash('sha256').update(`${user.name}\0${user.passwordHash}\0${password}`).digest('hex');
    const t = this.ok.get(key);
    if (t !== undefined && now - t < 300_000) return true;
    if (!verifyPassword(password, user.passwordHash)) return false;
    if (this.ok.size > 1000) this.ok.clear();
    this.ok.set(key, now);
    return true;
  }
}
