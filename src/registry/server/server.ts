import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import { MT, selectPlatform, parseManifestOrIndex } from '../../oci/manifest.js';
import { isDigest } from '../../oci/content-store.js';
import { allowedActions, PasswordCache, TokenIssuer, type Access, type Action, type AuthConfig } from './auth.js';
import { regErr, statusAndCode } from './errors.js';
import { MAX_MANIFEST_SIZE, RegistryStorage, validName } from './storage.js';

// Wharf's registry: the OCI distribution spec over node:http. Routing is a short list of regexes
// over the path because repository names contain slashes (`/v2/a/b/c/manifests/tag`).

export interface RegistryServerOptions {
  dataRoot: string;
  logger: Logger;
  /** Users and rules; without it, every client may pull and push. */
  auth?: AuthConfig;
  /** The token realm URL; default http://<Host header>/token. */
  realm?: string;
  service?: string;
  /** GC grace period for unreferenced blobs (ms). */
  gcGraceMs?: number;
  /** Serve HTTPS with this certificate chain and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

type Need = { kind: 'ping' } | { kind: 'catalog' } | { kind: 'admin' } | { kind: 'repo'; name: string; actions: Action[] };

interface Identity {
  sub: string | undefined;
  /** When from a token: the granted access; otherwise the user's rules decide. */
  tokenAccess?: Access[];
}

const MANIFEST_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList];

export class RegistryServer {
  readonly storage: RegistryStorage;
  private server: Server | undefined;
  private readonly log: Logger;
  private readonly tokens: TokenIssuer | undefined;
  private readonly passwords = new PasswordCache();
  private readonly service: string;

  constructor(private readonly opts: RegistryServerOptions) {
    this.storage = new RegistryStorage(opts.dataRoot);
    this.log = opts.logger.child({ component: 'registry' });
    this.service = opts.service ?? 'wharf-registry';
    if (opts.auth) this.tokens = new TokenIssuer(join(opts.dataRoot, 'token.key'), this.service);
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const httpOpts = { requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 };
    const server: Server = this.opts.tls ? createHttpsServer({ ...httpOpts, cert: this.opts.tls.cert, key: this.opts.tls.key }) : createServer(httpOpts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  gc(graceMs = this.opts.gcGraceMs ?? 3_600_000) {
    return this.storage.gc({ graceMs });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const url = new URL(req.url ?? '/', 'http://registry');
    try {
      await this.route(req, res, url);
    } catch (err) {
      const { status, code, message, detail } = statusAndCode(err);
      if (status >= 500) this.log.error({ err, method: req.method, url: req.url }, 'request failed');
      else this.log.debug({ code, message, method: req.method, url: req.url }, 'request refused');
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 401 && !res.hasHeader('WWW-Authenticate')) this.challenge(req, res, undefined);
      const body = JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (path === '/token' && method === 'GET') return this.token(req, res, url);
    if (path === '/wharf/v1/gc' && method === 'POST') {
      await this.authorize(req, res, { kind: 'admin' });
      const grace = url.searchParams.get('graceSeconds');
      return json(res, 200, this.gc(grace === null ? undefined : Number(grace) * 1000));
    }
    if (path === '/v2/' || path === '/v2') {
      if (method !== 'GET' && method !== 'HEAD') throw regErr('UNSUPPORTED', `${method} ${path} is not supported`);
      await this.authorize(req, res, { kind: 'ping' });
      return json(res, 200, {});
    }
    if (path === '/v2/_catalog' && method === 'GET') {
      const id = await this.authorize(req, res, { kind: 'catalog' });
      const repos = this.storage.repositories().filter((r) => this.can(id, r, 'pull'));
      return this.paginate(res, url, '/v2/_catalog', 'repositories', repos, {});
    }
    if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path)) && method === 'GET') {
      const name = validName(m[1]!);
      await this.authorize(req, res, { kind: 'repo', name, actions: ['pull'] });
      return this.paginate(res, url, `/v2/${name}/tags/list`, 'tags', this.storage.tags(name), { name });
    }
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) {
      const name = validName(m[1]!);
      const ref = decodeURIComponent(m[2]!);
      if (method === 'GET' || method === 'HEAD') {
        await this.authorize(req, res, { kind: 'repo', name, actions: ['pull'] });
        return this.getManifest(req, res, name, ref);
      }
      if (method === 'PUT') {
        await this.authorize(req, res, { kind: 'repo', name, actions: ['pull', 'push'] });
        const body = await readBody(req, MAX_MANIFEST_SIZE);
        const { digest, subject } = await this.storage.putManifest(name, ref, body, req.headers['content-type']);
        const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' };
        if (subject) headers['OCI-Subject'] = subject;
        res.writeHead(201, headers).end();
        return;
      }
      if (method === 'DELETE') {
        await this.authorize(req, res, { kind: 'repo', name, actions: ['delete'] });
        this.storage.deleteManifest(name, ref);
        res.writeHead(202, { 'Content-Length': '0' }).end();
        return;
      }
    }
    if ((m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path)) && method === 'GET') {
      const name = validName(m[1]!);
      await this.authorize(req, res, { kind: 'repo', name, actions: ['pull'] });
      let manifests = this.storage.referrers(name, m[2]!);
      const headers: Record<string, string> = {};
      const at = url.searchParams.get('artifactType');
      if (at !== null) {
        manifests = manifests.filter((d) => d.artifactType === at);
        headers['OCI-Filters-Applied'] = 'artifactType';
      }
      return json(res, 200, { schemaVersion: 2, mediaType: MT.ociIndex, manifests }, MT.ociIndex, headers);
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path)) && method === 'POST') {
      const name = validName(m[1]!);
      await this.authorize(req, res, { kind: 'repo', name, actions: ['pull', 'push'] });
      return this.startUpload(req, res, url, name);
    }
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) {
      const name = validName(m[1]!);
      const uuid = m[2]!;
      await this.authorize(req, res, { kind: 'repo', name, actions: ['pull', 'push'] });
      return this.upload(req, res, url, name, uuid);
    }
    if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) {
      const name = validName(m[1]!);
      const digest = m[2]!;
      if (method === 'GET' || method === 'HEAD') {
        await this.authorize(req, res, { kind: 'repo', name, actions: ['pull'] });
        return this.getBlob(req, res, name, digest);
      }
      if (method === 'DELETE') {
        await this.authorize(req, res, { kind: 'repo', name, actions: ['delete'] });
        this.storage.unlinkBlob(name, digest);
        res.writeHead(202, { 'Content-Length': '0' }).end();
        return;
      }
    }
    if (path.startsWith('/v2/')) throw regErr('UNSUPPORTED', `${method} ${path} is not supported`);
    throw regErr('NAME_UNKNOWN', `no route for ${method} ${path}`);
  }

  // --- auth ------------------------------------------------------------------------------------

  private can(id: Identity, repo: string, action: Action): boolean {
    const auth = this.opts.auth;
    if (!auth) return true;
    if (id.tokenAccess) return id.tokenAccess.some((a) => a.type === 'repository' && a.name === repo && a.actions.includes(action));
    const rules = id.sub === undefined ? auth.anonymous : (auth.users.get(id.sub)?.rules ?? []);
    return allowedActions(rules, repo).has(action);
  }

  private identify(req: IncomingMessage): Identity | undefined {
    const h = req.headers.authorization;
    if (!h) return { sub: undefined };
    const [scheme, cred] = h.split(' ', 2) as [string, string | undefined];
    if (/^bearer$/i.test(scheme) && cred && this.tokens) {
      const claims = this.tokens.verify(cred);
      return claims ? { sub: claims.sub || undefined, tokenAccess: claims.access } : undefined;
    }
    if (/^basic$/i.test(scheme) && cred) return this.basic(cred);
    return undefined;
  }

  private basic(cred: string): Identity | undefined {
    const s = Buffer.from(cred, 'base64').toString('utf8');
    const i = s.indexOf(':');
    const user = this.opts.auth?.users.get(s.slice(0, i));
    if (i < 0 || !user || !this.passwords.check(user, s.slice(i + 1))) return undefined;
    return { sub: user.name };
  }

  private async authorize(req: IncomingMessage, res: ServerResponse, need: Need): Promise<Identity> {
    await Promise.resolve();
    const auth = this.opts.auth;
    if (!auth) return { sub: undefined };
    const id = this.identify(req);
    if (!id) {
      this.challenge(req, res, need);
      throw regErr('UNAUTHORIZED', 'authentication required: bad credentials or an invalid token');
    }
    const anonymousNoToken = id.sub === undefined && !id.tokenAccess;
    if (need.kind === 'ping' || need.kind === 'catalog') {
      if (anonymousNoToken && (need.kind === 'ping' || auth.anonymous.length === 0)) {
        this.challenge(req, res, need);
        throw regErr('UNAUTHORIZED', 'authentication required');
      }
      return id;
    }
    if (need.kind === 'admin') {
      const u = id.sub === undefined ? undefined : auth.users.get(id.sub);
      if (!u) {
        this.challenge(req, res, need);
        throw regErr('UNAUTHORIZED', 'authentication required');
      }
      if (!u.admin) throw regErr('DENIED', `user ${u.name} is not an administrator`);
      return id;
    }
    if (need.actions.every((a) => this.can(id, need.name, a))) return id;
    // The user's own rules decide between "get a token with more scope" (401) and "never" (403).
    const rules = id.sub === undefined ? auth.anonymous : (auth.users.get(id.sub)?.rules ?? []);
    const possible = allowedActions(rules, need.name);
    // Anonymous clients (with or without an anonymous token) get 401: credentials might help.
    if (need.actions.every((a) => possible.has(a)) || id.sub === undefined) {
      this.challenge(req, res, need);
      throw regErr('UNAUTHORIZED', `authentication required to ${need.actions.join(',')} ${need.name}`);
    }
    throw regErr('DENIED', `requested access to the resource is denied: ${id.sub ?? 'anonymous'} may not ${need.actions.join(',')} ${need.name}`);
  }

  private challenge(req: IncomingMessage, res: ServerResponse, need: Need | undefined): void {
    if (!this.opts.auth) return;
    const realm = this.opts.realm ?? `${this.opts.tls ? 'https' : 'http'}://${req.headers.host ?? '127.0.0.1'}/token`;
    let v = `Bearer realm="${realm}",service="${this.service}"`;
    if (need?.kind === 'repo') v += `,scope="repository:${need.name}:${need.actions.join(',')}"`;
    if (need?.kind === 'catalog') v += `,scope="registry:catalog:*"`;
    res.setHeader('WWW-Authenticate', v);
  }

  private token(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const auth = this.opts.auth;
    if (!auth || !this.tokens) throw regErr('UNSUPPORTED', 'this registry has no authentication configured');
    const h = req.headers.authorization;
    let sub: string | undefined;
    if (h) {
      const [scheme, cred] = h.split(' ', 2) as [string, string | undefined];
      const id = /^basic$/i.test(scheme) && cred ? this.basic(cred) : undefined;
      if (!id) {
        res.setHeader('WWW-Authenticate', `Basic realm="${this.service}"`);
        throw regErr('UNAUTHORIZED', 'bad username or password');
      }
      sub = id.sub;
    }
    const rules = sub === undefined ? auth.anonymous : (auth.users.get(sub)?.rules ?? []);
    const access: Access[] = [];
    for (const scope of url.searchParams.getAll('scope').flatMap((s) => s.split(' '))) {
      const parts = scope.split(':');
      if (parts.length < 3) continue;
      const type = parts[0]!;
      const actions = parts[parts.length - 1]!.split(',');
      const name = parts.slice(1, -1).join(':');
      if (type === 'repository') {
        const ok = allowedActions(rules, name);
        const granted = actions.filter((a) => ok.has(a as Action));
        if (granted.length > 0) access.push({ type, name, actions: granted });
      } else if (type === 'registry' && name === 'catalog' && (sub !== undefined || auth.anonymous.length > 0)) {
        access.push({ type, name, actions: ['*'] });
      }
    }
    const t = this.tokens.issue(sub ?? '', access);
    json(res, 200, { token: t.token, access_token: t.token, expires_in: t.expiresIn, issued_at: t.issuedAt });
  }

  // --- handlers --------------------------------------------------------------------------------

  private paginate(res: ServerResponse, url: URL, base: string, key: string, all: string[], extra: Record<string, string>): void {
    const last = url.searchParams.get('last');
    const nParam = url.searchParams.get('n');
    let items = last ? all.filter((x) => x > last) : all;
    const headers: Record<string, string> = {};
    if (nParam !== null) {
      const n = Number(nParam);
      if (!Number.isSafeInteger(n) || n < 0) throw regErr('UNSUPPORTED', `invalid n=${nParam}`);
      if (items.length > n) {
        items = items.slice(0, n);
        if (n > 0) headers.Link = `<${base}?last=${encodeURIComponent(items[items.length - 1]!)}&n=${n}>; rel="next"`;
      }
    }
    json(res, 200, { ...extra, [key]: items }, 'application/json', headers);
  }

  private getManifest(req: IncomingMessage, res: ServerResponse, name: string, ref: string): void {
    let m = this.storage.getManifest(name, ref);
    const accept = (req.headers.accept ?? '')
      .split(',')
      .map((s) => s.split(';')[0]!.trim())
      .filter(Boolean);
    const acceptable = (mt: string) => accept.length === 0 || accept.includes(mt) || accept.includes('*/*') || accept.includes('application/*');
    if (!acceptable(m.mediaType)) {
      // A client that does not take indexes gets the linux/amd64 image of a tagged index, as Docker's registry does.
      let picked = false;
      if ((m.mediaType === MT.ociIndex || m.mediaType === MT.dockerList) && !isDigest(ref)) {
        const idx = parseManifestOrIndex(m.body, 'index', m.mediaType).index;
        const d = idx ? selectPlatform(idx) : undefined;
        if (d) {
          const child = this.storage.getManifest(name, d.digest);
          if (acceptable(child.mediaType)) {
            m = child;
            picked = true;
          }
        }
      }
      // A client that lists only manifest types it knows gets a clear 404 rather than bytes it cannot parse.
      const onlyManifestTypes = accept.every((a) => (MANIFEST_TYPES as readonly string[]).includes(a) || a === 'application/json');
      if (!picked && onlyManifestTypes) {
        throw regErr('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is a ${m.mediaType}, which the client does not accept (${accept.join(', ')})`);
      }
    }
    res.writeHead(200, {
      'Content-Type': m.mediaType,
      'Content-Length': m.body.length,
      'Docker-Content-Digest': m.digest,
      ETag: `"${m.digest}"`,
    });
    res.end(req.method === 'HEAD' ? undefined : m.body);
  }

  private getBlob(req: IncomingMessage, res: ServerResponse, name: string, digest: string): void {
    const size = this.storage.blobSize(name, digest);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range && req.method === 'GET') {
      const r = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (r && (r[1] !== '' || r[2] !== '')) {
        if (r[1] === '') {
          start = Math.max(0, size - Number(r[2]));
        } else {
          start = Number(r[1]);
          if (r[2] !== '') end = Math.min(end, Number(r[2]));
        }
        if (start > end || start >= size) {
          res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 }).end();
          return;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    headers['Content-Length'] = size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    const stream = createReadStream(this.storage.blobPath(digest), { start, end, highWaterMark: 1 << 20 });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, url: URL, name: string): Promise<void> {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount !== null && from !== null) {
      const id = this.identify(req) ?? { sub: undefined };
      if (isDigest(mount) && this.can(id, from, 'pull') && this.storage.mount(name, from, mount)) {
        req.resume();
        res.writeHead(201, { Location: `/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount, 'Content-Length': '0' }).end();
        return;
      }
    }
    const digest = url.searchParams.get('digest');
    if (digest !== null) {
      await this.storage.putBlob(name, req, digest);
      res.writeHead(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).end();
      return;
    }
    req.resume();
    const uuid = this.storage.startUpload(name);
    res.writeHead(202, { Location: `/v2/${name}/blobs/uploads/${uuid}`, 'Docker-Upload-UUID': uuid, Range: '0-0', 'Content-Length': '0' }).end();
  }

  private async upload(req: IncomingMessage, res: ServerResponse, url: URL, name: string, uuid: string): Promise<void> {
    const method = req.method;
    const location = `/v2/${name}/blobs/uploads/${uuid}`;
    const rangeHeader = (size: number) => `0-${size > 0 ? size - 1 : 0}`;
    if (method === 'GET') {
      const size = this.storage.uploadSize(name, uuid);
      res.writeHead(204, { Location: location, Range: rangeHeader(size), 'Docker-Upload-UUID': uuid, 'Content-Length': '0' }).end();
      return;
    }
    if (method === 'DELETE') {
      this.storage.cancelUpload(name, uuid);
      res.writeHead(204, { 'Content-Length': '0' }).end();
      return;
    }
    if (method === 'PATCH' || method === 'PUT') {
      const cr = req.headers['content-range'];
      let start: number | undefined;
      if (cr !== undefined) {
        const r = /^(?:bytes )?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(cr.trim());
        if (!r) throw regErr('RANGE_INVALID', `invalid Content-Range ${JSON.stringify(cr)}`);
        start = Number(r[1]);
      }
      const hasBody = method === 'PATCH' || Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
      let size = this.storage.uploadSize(name, uuid);
      if (hasBody) size = await this.storage.appendUpload(name, uuid, req, start);
      else req.resume();
      if (method === 'PATCH') {
        res.writeHead(202, { Location: location, Range: rangeHeader(size), 'Docker-Upload-UUID': uuid, 'Content-Length': '0' }).end();
        return;
      }
      const digest = url.searchParams.get('digest');
      if (digest === null) throw regErr('DIGEST_INVALID', 'completing an upload needs ?digest=');
      await this.storage.completeUpload(name, uuid, digest);
      res.writeHead(201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': '0' }).end();
      return;
    }
    throw regErr('UNSUPPORTED', `${method} on an upload is not supported`);
  }
}

function json(res: ServerResponse, status: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw regErr('TOO_LARGE', `manifest is ${declared} bytes, over the limit of ${limit}`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw regErr('TOO_LARGE', `manifest is over the limit of ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

