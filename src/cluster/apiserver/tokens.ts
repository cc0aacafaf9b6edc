import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { WharfError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';

// Bearer tokens, kept in one file (DATA_ROOT/tokens.json, mode 0600) that `wharf token create|revoke`
// edits and the server re-reads when it changes (checked at most every 500 ms): revocation takes
// effect without a restart. Only SHA-256 hashes of the tokens are stored.

export type Role = 'admin' | 'node';
export const ROLES: readonly Role[] = ['admin', 'node'];

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  sha256: string;
  created: string;
}

export interface Principal {
  id: string;
  name: string;
  role: Role;
}

interface TokenFile {
  tokens: TokenRecord[];
}

const hash = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');

export class TokenFileStore {
  private cache: { mtimeMs: number; size: number; byHash: Map<string, TokenRecord> } | undefined;
  private lastCheck = 0;

  constructor(
    readonly path: string,
    private readonly clock: Clock,
  ) {}

  private read(): TokenFile {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { tokens: [] };
      throw e;
    }
    const f = JSON.parse(text) as TokenFile;
    if (!f || !Array.isArray(f.tokens)) throw new WharfError('Internal', `${this.path}: not a token file`);
    return f;
  }

  private writeFile(f: TokenFile): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.cache = undefined;
  }

  list(): TokenRecord[] {
    return this.read().tokens;
  }

  /** Creates a token; returns the secret (shown once) and its record. */
  create(name: string, role: Role): { token: string; record: TokenRecord } {
    if (!ROLES.includes(role)) throw new WharfError('InvalidArgument', `unknown role ${JSON.stringify(role)} (want ${ROLES.join(' or ')})`);
    if (!/^[a-z0-9][-a-z0-9.]*$/.test(name)) throw new WharfError('InvalidArgument', `token name ${JSON.stringify(name)}: use lower-case letters, digits, '-' and '.'`);
    const f = this.read();
    if (f.tokens.some((t) => t.name === name)) throw new WharfError('AlreadyExists', `a token named ${name} already exists`);
    const id = randomBytes(4).toString('hex');
    const token = `${id}.${randomBytes(24).toString('base64url')}`;
    const record: TokenRecord = { id, name, role, sha256: hash(token), created: new Date(this.clock.now()).toISOString() };
    f.tokens.push(record);
    this.writeFile(f);
    return { token, record };
  }

  /** Revokes by id or name. */
  revoke(idOrName: string): TokenRecord {
    const f = this.read();
    const t = f.tokens.find((x) => x.id === idOrName || x.name === idOrName);
    if (!t) throw new WharfError('NotFound', `no token with id or name ${JSON.stringify(idOrName)}`);
    f.tokens = f.tokens.filter((x) => x !== t);
    this.writeFile(f);
    return t;
  }

  /** The principal for a bearer token, or undefined. Re-reads the file when it changed. */
  authenticate(token: string): Principal | undefined {
    const now = this.clock.now();
    if (!this.cache || now - this.lastCheck >= 500) {
      this.lastCheck = now;
      let st: { mtimeMs: number; size: number } = { mtimeMs: -1, size: -1 };
      try {
        st = statSync(this.path);
      } catch {
        /* no file: no tokens */
      }
      if (!this.cache || st.mtimeMs !== this.cache.mtimeMs || st.size !== this.cache.size) {
        this.cache = { mtimeMs: st.mtimeMs, size: st.size, byHash: new Map(this.read().tokens.map((t) => [t.sha256, t])) };
      }
    }
    const rec = this.cache.byHash.get(hash(token));
    return rec ? { id: rec.id, name: rec.name, role: rec.role } : undefined;
  }
}

export interface AccessRequest {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  fieldSelector?: string;
}

const READ = ['get', 'list', 'watch'];

/**
 * A simple role check. admin: everything. node (the node-join token, for agents): register and
 * update Nodes and their status, heartbeat Leases in kube-node-lease, read pods by spec.nodeName,
 * update pod status, finish pod deletion, write Events, read the ConfigMaps/Secrets/Services
 * and PersistentVolumeClaims/PersistentVolumes their pods use.
 */
export function authorize(p: Principal, a: AccessRequest): string | undefined {
  if (p.role === 'admin') return undefined;
  const ok = ((): boolean => {
    if (a.group === '' && a.resource === 'nodes') return [...READ, 'create', 'update', 'patch'].includes(a.verb);
    if (a.group === 'coordination.k8s.io' && a.resource === 'leases') {
      return a.namespace === 'kube-node-lease' && [...READ, 'create', 'update', 'patch'].includes(a.verb);
    }
    if (a.group === '' && a.resource === 'pods') {
      if (a.subresource === 'status') return ['get', 'update', 'patch'].includes(a.verb);
      if (a.subresource) return false;
      if (a.verb === 'get' || a.verb === 'delete') return true;
      if (a.verb === 'list' || a.verb === 'watch') return /(^|,)\s*spec\.nodeName\s*==?/.test(a.fieldSelector ?? '');
      return false;
    }
    if (a.group === '' && a.resource === 'events') return ['create', 'update', 'patch', ...READ].includes(a.verb);
    if (a.group === '' && ['configmaps', 'secrets'].includes(a.resource)) return a.verb === 'get';
    if (a.group === '' && a.resource === 'persistentvolumeclaims') return a.verb === 'get';
    // PVs: read, and update to drop the local-path finalizer once the node removed the directory.
    if (a.group === '' && a.resource === 'persistentvolumes') return [...READ, 'update', 'patch'].includes(a.verb) && !a.subresource;
    if (a.group === '' && ['services', 'namespaces'].includes(a.resource)) return READ.includes(a.verb);
    return false;
  })();
  if (ok) return undefined;
  const res = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}`;
  return `User "system:node:${p.name}" cannot ${a.verb} resource "${res}" in API group "${a.group}"${a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope'}`;
}
