import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { WharfError, errorMessage, type ErrorKind } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { basicHeader, parseChallenges, type Challenge, type RegistryCredentials } from './auth.js';

// The distribution protocol as Docker speaks it, over undici: /v2/ ping and endpoint choice
// (HTTPS with a CA, or plain HTTP for loopback and --insecure-registry hosts), Bearer/Basic
// auth from the WWW-Authenticate challenge with a token cache per scope, manifests with Accept
// negotiation and digest checks, blobs streamed with digest/size checks and Range resume,
// retries with backoff, bounded redirects, stalled-body timeouts; uploads (HEAD, mount,
// monolithic or chunked PATCH, PUT ?digest=) and manifest PUT.

export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
];

export interface RegistryClientOptions {
  logger: Logger;
  /** Hosts (`host` or `host:port`) reached over plain HTTP (after trying HTTPS without verification), like dockerd's --insecure-registry. */
  insecureRegistries?: string[];
  /** A CA bundle trusted for every registry (--registry-ca). */
  caFile?: string;
  /** Docker's per-registry CA directory: `<certsDir>/<host[:port]>/ca.crt`. */
  certsDir?: string;
  maxManifestBytes?: number;
  /** Attempts after the first on connection errors, 5xx and 429 (default 4). */
  retries?: number;
  /** First backoff delay, doubled each retry (default 250 ms). */
  backoffMs?: number;
  /** A body that sends nothing for this long is abandoned (and resumed): default 30 s. */
  bodyTimeoutMs?: number;
  headersTimeoutMs?: number;
  maxRedirects?: number;
  userAgent?: string;
}

export interface FetchedManifest {
  body: Buffer;
  digest: string;
  mediaType: string;
}

export interface BlobTarget {
  digest: string;
  size: number;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function isLoopbackHost(hostPort: string): boolean {
  const host = stripPort(hostPort);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function stripPort(hostPort: string): string {
  if (hostPort.startsWith('[')) return hostPort.slice(1, hostPort.indexOf(']'));
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}

/** docker.io is served by registry-1.docker.io, as in Docker. */
export function registryHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

interface Endpoint {
  base: string;
  dispatcher: Dispatcher;
}

/** A retryable transport problem (connection refused/reset, timeout, 5xx): the caller may try again. */
export class TransientError extends WharfError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super('Unavailable', message);
  }
}

/** Shared by every pull/push of a daemon: TLS agents and settings. Sessions are per registry host and credentials. */
export class RegistryClient {
  private readonly agents = new Map<string, Agent>();
  readonly log: Logger;

  constructor(readonly opts: RegistryClientOptions) {
    this.log = opts.logger.child({ component: 'registry-client' });
  }

  private readonly chosen = new Map<string, string>();

  /** The endpoint base that answered last time for a host (tried first next time). */
  knownEndpoint(host: string): string | undefined {
    return this.chosen.get(host);
  }

  rememberEndpoint(host: string, base: string): void {
    this.chosen.set(host, base);
  }

  session(host: string, creds: RegistryCredentials = {}): RegistrySession {
    return new RegistrySession(this, registryHost(host), creds);
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
  }

  isInsecure(host: string): boolean {
    return isLoopbackHost(host) || (this.opts.insecureRegistries ?? []).some((h) => h === host || h === stripPort(host));
  }

  /** certs.d/<host>/ca.crt (Docker's layout), else the global --registry-ca, else undefined (system CAs). */
  caFor(host: string): { ca?: string; perHost: boolean } {
    if (this.opts.certsDir) {
      const f = join(this.opts.certsDir, host.replace(/:/g, ':'), 'ca.crt');
      if (existsSync(f)) return { ca: readFileSync(f, 'utf8'), perHost: true };
    }
    if (this.opts.caFile) return { ca: readFileSync(this.opts.caFile, 'utf8'), perHost: false };
    return { perHost: false };
  }

  agent(key: string, connect: { ca?: string; rejectUnauthorized?: boolean }): Agent {
    let a = this.agents.get(key);
    if (!a) {
      a = new Agent({
        connect: { ...connect, timeout: 10_000 },
        headersTimeout: this.opts.headersTimeoutMs ?? 30_000,
        bodyTimeout: this.opts.bodyTimeoutMs ?? 30_000,
        keepAliveTimeout: 4_000,
        connections: 16,
      });
      this.agents.set(key, a);
    }
    return a;
  }

  /** Endpoints to try, in order, for a host. */
  endpoints(host: string): Endpoint[] {
    const { ca, perHost } = this.caFor(host);
    const https = (verify: boolean): Endpoint => ({
      base: `https://${host}`,
      dispatcher: this.agent(`https|${verify}|${ca ?? ''}`, verify ? (ca ? { ca } : {}) : { rejectUnauthorized: false }),
    });
    if (perHost) return [https(true)];
    if (this.isInsecure(host)) return [https(false), { base: `http://${host}`, dispatcher: this.agent('http', {}) }];
    return [https(true)];
  }
}

interface SendOptions {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the endpoint (`/v2/...`) or an absolute URL (upload locations). */
  url: string;
  headers?: Record<string, string>;
  /** A body factory (called again on a retry), or undefined. */
  body?: () => Buffer | Readable;
  /** Token scopes this request needs. */
  scopes: string[];
  signal?: AbortSignal;
  /** Retry transient failures (default: GET/HEAD only). */
  retry?: boolean;
  /** Follow redirects (GET/HEAD). */
  redirects?: boolean;
}

type Response = Dispatcher.ResponseData;

/** One registry host with one set of credentials: endpoint, challenge and tokens are cached here. */
export class RegistrySession {
  private endpoint: Endpoint | undefined;
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  private readonly log: Logger;

  constructor(
    readonly client: RegistryClient,
    readonly host: string,
    private readonly creds: RegistryCredentials,
  ) {
    this.log = client.log.child({ registry: host });
  }

  private get o() {
    return this.client.opts;
  }

  /** GET /v2/ on each candidate endpoint; the first that answers 200 or 401 is used from then on. */
  async ping(signal?: AbortSignal): Promise<void> {
    if (this.endpoint) return;
    const errors: string[] = [];
    const candidates = this.client.endpoints(this.host);
    const known = this.client.knownEndpoint(this.host);
    const ordered = known ? [...candidates.filter((c) => c.base === known), ...candidates.filter((c) => c.base !== known)] : candidates;
    for (const [i, ep] of ordered.entries()) {
      let res: Response;
      try {
        // An HTTPS probe that has a plain-HTTP fallback is tried once (Docker's rule for insecure registries).
        res = await this.withRetries('GET /v2/', signal, true, i < ordered.length - 1 ? 0 : 1, () =>
          request(`${ep.base}/v2/`, { method: 'GET', dispatcher: ep.dispatcher, headers: this.baseHeaders(), ...(signal ? { signal } : {}) }),
        );
      } catch (err) {
        errors.push(`${ep.base}: ${errorMessage(err)}`);
        continue;
      }
      await res.body.dump().catch(() => undefined);
      if (res.statusCode === 200 || res.statusCode === 401) {
        this.endpoint = ep;
        this.client.rememberEndpoint(this.host, ep.base);
        if (res.statusCode === 401) this.challenge = pickChallenge(res.headers['www-authenticate']);
        return;
      }
      errors.push(`${ep.base}/v2/: HTTP ${res.statusCode} (not a v2 registry)`);
    }
    throw new WharfError('Unavailable', `cannot reach registry ${this.host}: ${errors.join('; ')}`);
  }

  /**
   * Checks the credentials the way `docker login` does: ping, then (Bearer) a token request with the
   * credentials and no scope, or (Basic) GET /v2/ with them. Resolves when the registry accepts them.
   */
  async login(signal?: AbortSignal): Promise<void> {
    await this.ping(signal);
    if (!this.challenge) return; // no authentication on this registry
    if (this.creds.username === undefined) throw new WharfError('Unauthorized', `${this.host}: username and password required`);
    if (this.challenge.scheme === 'bearer') {
      await this.fetchToken([], signal, true);
      return;
    }
    const res = await request(`${this.endpoint!.base}/v2/`, {
      method: 'GET',
      dispatcher: this.endpoint!.dispatcher,
      headers: { ...this.baseHeaders(), authorization: basicHeader(this.creds)! },
      ...(signal ? { signal } : {}),
    });
    const text = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode !== 200) throw registryError(res.statusCode, text, `login to ${this.host}`);
  }

  private baseHeaders(): Record<string, string> {
    return { 'user-agent': this.o.userAgent ?? 'wharf/0.1 (docker-compatible)' };
  }

  private async authHeader(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    if (this.creds.registrytoken) return `Bearer ${this.creds.registrytoken}`;
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') return basicHeader(this.creds);
    return `Bearer ${await this.fetchToken(scopes, signal, false)}`;
  }

  private async fetchToken(scopes: string[], signal: AbortSignal | undefined, loginCheck: boolean): Promise<string> {
    const key = [...scopes].sort().join(' ');
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now() + 5_000) return cached.token;
    const realm = this.challenge!.params.realm;
    if (!realm) throw new WharfError('Unavailable', `${this.host}: Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new WharfError('Unavailable', `${this.host}: bad token realm ${JSON.stringify(realm)}`);
    }
    if (this.challenge!.params.service) url.searchParams.set('service', this.challenge!.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (this.creds.username) url.searchParams.set('account', this.creds.username);
    const headers: Record<string, string> = this.baseHeaders();
    const basic = basicHeader(this.creds);
    if (basic) headers.authorization = basic;
    const dispatcher = url.protocol === 'https:' ? this.client.endpoints(url.host)[0]!.dispatcher : this.client.agent('http', {});
    const res = await this.withRetries(`token ${url.host}`, signal, true, undefined, () =>
      request(url, { method: 'GET', headers, dispatcher, ...(signal ? { signal } : {}) }),
    );
    const body = await readCapped(res, 1024 * 1024);
    if (res.statusCode !== 200) {
      const e = registryError(res.statusCode, body, loginCheck ? `login to ${this.host}` : `token from ${url.host}`);
      throw res.statusCode === 401 || res.statusCode === 403 ? new WharfError('Unauthorized', e.message) : e;
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new WharfError('Unavailable', `${this.host}: the token endpoint did not answer JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : '';
    if (!token) throw new WharfError('Unavailable', `${this.host}: the token endpoint answered no token`);
    const ttl = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.tokens.set(key, { token, expires: Date.now() + ttl * 1000 });
    return token;
  }

  /** Runs `fn` with retries on transport errors and retryable statuses (5xx, 429). */
  private async withRetries(
    what: string,
    signal: AbortSignal | undefined,
    retry: boolean,
    maxRetries: number | undefined,
    fn: () => Promise<Response>,
  ): Promise<Response> {
    const max = retry ? Math.min(maxRetries ?? Infinity, this.o.retries ?? 4) : 0;
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      let err: unknown;
      try {
        res = await fn();
      } catch (e) {
        err = e;
      }
      if (signal?.aborted) throw signal.reason as Error;
      const transient = res === undefined || res.statusCode >= 500 || res.statusCode === 429;
      if (!transient) return res!;
      if (attempt >= max) {
        if (res) return res;
        throw new TransientError(`${what}: ${errorMessage(err).trim()}`);
      }
      if (res) await res.body.dump().catch(() => undefined);
      const delay = (this.o.backoffMs ?? 250) * 2 ** attempt;
      this.log.warn({ what, attempt: attempt + 1, status: res?.statusCode, err: err ? errorMessage(err) : undefined, delay }, 'registry request failed; retrying');
      await sleep(delay, signal);
    }
  }

  /** One request with auth (re-challenged once on 401), redirects and retries. The caller reads or dumps the body. */
  async send(o: SendOptions): Promise<Response> {
    await this.ping(o.signal);
    const ep = this.endpoint!;
    let url = new URL(o.url, ep.base);
    let redirects = 0;
    let authRetried = false;
    for (;;) {
      const sameHost = url.host === new URL(ep.base).host;
      const headers: Record<string, string> = { ...this.baseHeaders(), ...o.headers };
      if (sameHost) {
        const auth = await this.authHeader(o.scopes, o.signal);
        if (auth) headers.authorization = auth;
      }
      const dispatcher = sameHost ? ep.dispatcher : url.protocol === 'https:' ? this.client.endpoints(url.host)[0]!.dispatcher : this.client.agent('http', {});
      const target = url;
      const res = await this.withRetries(`${o.method} ${target.pathname}`, o.signal, o.retry ?? (o.method === 'GET' || o.method === 'HEAD'), undefined, () =>
        request(target, {
          method: o.method,
          headers,
          dispatcher,
          ...(o.body ? { body: o.body() } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        }),
      );
      if (res.statusCode === 401 && sameHost && !authRetried && !this.creds.registrytoken) {
        const ch = pickChallenge(res.headers['www-authenticate']);
        if (ch) {
          await res.body.dump().catch(() => undefined);
          authRetried = true;
          this.challenge = ch;
          this.tokens.clear();
          continue;
        }
      }
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && (o.redirects ?? (o.method === 'GET' || o.method === 'HEAD'))) {
        await res.body.dump().catch(() => undefined);
        const loc = header(res, 'location');
        if (!loc) throw new WharfError('Unavailable', `${this.host}: redirect without a Location`);
        if (++redirects > (this.o.maxRedirects ?? 5)) {
          throw new WharfError('Unavailable', `${this.host}: too many redirects (more than ${this.o.maxRedirects ?? 5}) for ${o.url}`);
        }
        url = new URL(loc, url);
        continue;
      }
      return res;
    }
  }

  // ---------- pull ----------

  async getManifest(repo: string, ref: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.send({
      method: 'GET',
      url: `/v2/${repo}/manifests/${ref}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [`repository:${repo}:pull`],
      ...(signal ? { signal } : {}),
    });
    const max = this.o.maxManifestBytes ?? MAX_MANIFEST_BYTES;
    const declared = Number(header(res, 'content-length') ?? -1);
    if (res.statusCode === 200 && declared > max) {
      await res.body.dump().catch(() => undefined);
      throw new WharfError('TooLarge', `manifest ${repo}:${ref} from ${this.host} is ${declared} bytes, over the limit of ${max}`);
    }
    let body: Buffer;
    try {
      body = await readCapped(res, max, `manifest ${repo}:${ref} from ${this.host}`);
    } catch (err) {
      throw err instanceof WharfError ? err : new WharfError('Unavailable', `reading manifest ${repo}:${ref} from ${this.host}: ${errorMessage(err)}`);
    }
    if (res.statusCode !== 200) throw manifestError(res.statusCode, body, `${this.host}/${repo}:${ref}`);
    const digest = `sha256:${sha256Hex(body)}`;
    if (ref.includes(':') && ref.startsWith('sha256:') && ref !== digest) {
      throw new WharfError('InvalidArgument', `manifest verification failed for digest ${ref}: the registry sent content with digest ${digest}`);
    }
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new WharfError('InvalidArgument', `manifest ${repo}:${ref}: digest mismatch: the registry says ${claimed}, the content is ${digest}`);
    }
    let mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    try {
      const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mt === 'string') mediaType = mt;
    } catch {
      /* parsed (and rejected) by the caller */
    }
    return { body, digest, mediaType };
  }

  /** Reads a small blob (an image config) fully, verified. */
  async getBlobBuffer(repo: string, desc: BlobTarget, max: number, signal?: AbortSignal): Promise<Buffer> {
    if (desc.size > max) throw new WharfError('TooLarge', `blob ${desc.digest} is ${desc.size} bytes, over the limit of ${max}`);
    const chunks: Buffer[] = [];
    await this.fetchBlob(repo, desc, { onData: (c) => void chunks.push(c), ...(signal ? { signal } : {}) });
    return Buffer.concat(chunks);
  }

  /**
   * Streams a blob to `onData` (awaited: backpressure), verifying size and digest. A dropped or
   * stalled connection, or a body cut short, is resumed with `Range: bytes=N-` (bytes already
   * delivered are skipped if the server answers 200); after the retries, a clear error.
   */
  async fetchBlob(
    repo: string,
    desc: BlobTarget,
    o: { onData: (chunk: Buffer) => void | Promise<void>; onProgress?: (current: number) => void; signal?: AbortSignal },
  ): Promise<void> {
    const hash = createHash('sha256');
    let got = 0;
    const max = this.o.retries ?? 4;
    let failures = 0;
    for (;;) {
      o.signal?.throwIfAborted();
      let res: Response;
      try {
        res = await this.send({
          method: 'GET',
          url: `/v2/${repo}/blobs/${desc.digest}`,
          headers: got > 0 ? { range: `bytes=${got}-` } : {},
          scopes: [`repository:${repo}:pull`],
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        if (err instanceof TransientError) throw new WharfError('Unavailable', `downloading ${desc.digest} from ${this.host}: ${err.message}`);
        throw err;
      }
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        const body = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
        if (res.statusCode >= 500 || res.statusCode === 429) {
          throw new WharfError('Unavailable', `downloading ${desc.digest} from ${this.host}: HTTP ${res.statusCode} after ${max + 1} attempts`);
        }
        throw registryError(res.statusCode, body, `blob ${desc.digest} of ${repo}`);
      }
      let skip = 0;
      if (got > 0) {
        const start = res.statusCode === 206 ? Number(/^bytes (\d+)-/.exec(header(res, 'content-range') ?? '')?.[1] ?? NaN) : 0;
        if (!Number.isSafeInteger(start) || start > got) {
          await res.body.dump().catch(() => undefined);
          throw new WharfError('Unavailable', `resuming ${desc.digest}: the registry answered an unusable range`);
        }
        skip = got - start;
      }
      try {
        for await (const raw of res.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (got + chunk.length > desc.size) {
            res.body.destroy();
            throw new WharfError('InvalidArgument', `blob ${desc.digest}: the registry sent more than the ${desc.size} bytes the manifest declares`);
          }
          got += chunk.length;
          hash.update(chunk);
          await o.onData(chunk);
          o.onProgress?.(got);
        }
      } catch (err) {
        if (err instanceof WharfError || o.signal?.aborted) throw err;
        if (++failures > max) throw new WharfError('Unavailable', `downloading ${desc.digest} from ${this.host}: ${errorMessage(err)} (after ${max + 1} attempts)`);
        this.log.warn({ digest: desc.digest, got, err: errorMessage(err) }, 'blob download interrupted; resuming');
        await sleep((this.o.backoffMs ?? 250) * 2 ** (failures - 1), o.signal);
        continue;
      }
      if (got < desc.size) {
        if (++failures > max) {
          throw new WharfError('InvalidArgument', `blob ${desc.digest}: the registry sent ${got} of the ${desc.size} bytes the manifest declares (after ${max + 1} attempts)`);
        }
        this.log.warn({ digest: desc.digest, got, size: desc.size }, 'blob body ended early; resuming');
        await sleep((this.o.backoffMs ?? 250) * 2 ** (failures - 1), o.signal);
        continue;
      }
      break;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (digest !== desc.digest) {
      throw new WharfError('InvalidArgument', `filesystem layer verification failed for digest ${desc.digest}: the content has digest ${digest}`);
    }
  }

  // ---------- push ----------

  async blobExists(repo: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, scopes: [`repository:${repo}:pull,push`], ...(signal ? { signal } : {}) });
    await res.body.dump().catch(() => undefined);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw registryError(res.statusCode, Buffer.alloc(0), `checking blob ${digest} in ${repo}`);
  }

  /** Cross-repository mount; true when mounted (201), false when the registry started a plain upload instead (which is cancelled). */
  async mountBlob(repo: string, digest: string, from: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.send({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scopes: [`repository:${repo}:pull,push`, `repository:${from}:pull`],
      retry: true,
      ...(signal ? { signal } : {}),
    });
    const body = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode === 201) return true;
    if (res.statusCode === 202) {
      const loc = header(res, 'location');
      if (loc) await this.send({ method: 'DELETE', url: loc, scopes: [`repository:${repo}:pull,push`] }).then((r) => r.body.dump()).catch(() => undefined);
      return false;
    }
    throw registryError(res.statusCode, body, `mounting ${digest} from ${from} into ${repo}`);
  }

  /**
   * Uploads a blob: POST (start), then one streamed PATCH (monolithic) or PATCHes of `chunkSize`
   * with Content-Range (chunked), then PUT ?digest=. A failed attempt starts over (the source is re-opened).
   */
  async uploadBlob(
    repo: string,
    blob: BlobTarget,
    open: () => Readable,
    o: { chunkSize?: number; onProgress?: (sent: number) => void; signal?: AbortSignal } = {},
  ): Promise<void> {
    const scopes = [`repository:${repo}:pull,push`];
    const max = this.o.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.uploadOnce(repo, blob, open, scopes, o);
        return;
      } catch (err) {
        if (!(err instanceof TransientError) || attempt >= max || o.signal?.aborted) {
          if (err instanceof TransientError) throw new WharfError('Unavailable', `uploading ${blob.digest} to ${this.host}/${repo}: ${err.message}`);
          throw err;
        }
        this.log.warn({ digest: blob.digest, err: errorMessage(err) }, 'upload failed; starting it again');
        await sleep((this.o.backoffMs ?? 250) * 2 ** attempt, o.signal);
      }
    }
  }

  private async uploadOnce(
    repo: string,
    blob: BlobTarget,
    open: () => Readable,
    scopes: string[],
    o: { chunkSize?: number; onProgress?: (sent: number) => void; signal?: AbortSignal },
  ): Promise<void> {
    const sig = o.signal ? { signal: o.signal } : {};
    const start = await this.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, scopes, retry: true, ...sig });
    const startBody = await readCapped(start, 64 * 1024).catch(() => Buffer.alloc(0));
    if (start.statusCode >= 500) throw new TransientError(`starting upload: HTTP ${start.statusCode}`, start.statusCode);
    if (start.statusCode !== 202) throw registryError(start.statusCode, startBody, `starting an upload to ${repo}`);
    let location = header(start, 'location');
    if (!location) throw new WharfError('Unavailable', `${this.host}: upload started without a Location`);
    let sent = 0;
    const patch = async (body: Buffer | Readable, range?: string) => {
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (range) headers['content-range'] = range;
      if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
      let res: Response;
      try {
        res = await this.send({ method: 'PATCH', url: location!, headers, body: () => body, scopes, retry: false, ...sig });
      } catch (err) {
        throw new TransientError(errorMessage(err));
      }
      const text = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
      if (res.statusCode >= 500) throw new TransientError(`PATCH: HTTP ${res.statusCode}`, res.statusCode);
      if (res.statusCode !== 202 && res.statusCode !== 204) throw registryError(res.statusCode, text, `uploading ${blob.digest} to ${repo}`);
      location = header(res, 'location') ?? location;
    };
    const source = open();
    if (o.chunkSize && o.chunkSize > 0) {
      let buf: Buffer[] = [];
      let buffered = 0;
      const flush = async () => {
        const chunk = Buffer.concat(buf);
        buf = [];
        buffered = 0;
        await patch(chunk, `${sent}-${sent + chunk.length - 1}`);
        sent += chunk.length;
        o.onProgress?.(sent);
      };
      for await (const c of source) {
        buf.push(c as Buffer);
        buffered += (c as Buffer).length;
        if (buffered >= o.chunkSize) await flush();
      }
      if (buffered > 0) await flush();
    } else {
      const counted = new Transform({
        transform(c: Buffer, _e, cb) {
          sent += c.length;
          o.onProgress?.(sent);
          cb(null, c);
        },
      });
      source.on('error', (err) => counted.destroy(err));
      await patch(source.pipe(counted));
    }
    const put = new URL(location, 'http://x');
    put.searchParams.set('digest', blob.digest);
    const putUrl = /^https?:\/\//.test(location) ? put.toString() : `${put.pathname}${put.search}`;
    let res: Response;
    try {
      res = await this.send({ method: 'PUT', url: putUrl, headers: { 'content-length': '0' }, scopes, retry: false, ...sig });
    } catch (err) {
      throw new TransientError(errorMessage(err));
    }
    const text = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode >= 500) throw new TransientError(`PUT: HTTP ${res.statusCode}`, res.statusCode);
    if (res.statusCode !== 201 && res.statusCode !== 204) throw registryError(res.statusCode, text, `completing upload of ${blob.digest} to ${repo}`);
  }

  async putManifest(repo: string, ref: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string> {
    const res = await this.send({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${ref}`,
      headers: { 'content-type': mediaType },
      body: () => body,
      scopes: [`repository:${repo}:pull,push`],
      retry: true,
      ...(signal ? { signal } : {}),
    });
    const text = await readCapped(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode !== 201 && res.statusCode !== 200 && res.statusCode !== 202) throw registryError(res.statusCode, text, `pushing manifest ${repo}:${ref}`);
    return `sha256:${sha256Hex(body)}`;
  }
}

function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function pickChallenge(h: string | string[] | undefined): Challenge | undefined {
  const all = parseChallenges(h);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

/** Reads a response body up to `max` bytes (TooLarge beyond). */
export async function readCapped(res: Response, max: number, what = 'response'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) {
      res.body.destroy();
      throw new WharfError('TooLarge', `${what} is larger than the limit of ${max} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The registry's `{"errors":[{code,message}]}` as text: `denied: requested access to the resource is denied`. */
export function registryErrorText(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string; detail?: unknown }[]; details?: string };
    if (Array.isArray(j.errors) && j.errors.length) {
      return j.errors.map((e) => `${(e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`).join(', ');
    }
    if (typeof j.details === 'string') return j.details;
  } catch {
    /* not JSON */
  }
  const t = body.toString('utf8').trim();
  return t ? t.slice(0, 200) : undefined;
}

function kindFor(status: number): ErrorKind {
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'Forbidden';
  if (status === 404) return 'NotFound';
  if (status === 413) return 'TooLarge';
  if (status >= 500 || status === 429) return 'Unavailable';
  return 'InvalidArgument';
}

export function registryError(status: number, body: Buffer, what: string): WharfError {
  const text = registryErrorText(body) ?? (status === 401 ? 'unauthorized: authentication required' : status === 403 ? 'denied: requested access to the resource is denied' : `HTTP ${status}`);
  return new WharfError(kindFor(status), `${what}: ${text}`);
}

function manifestError(status: number, body: Buffer, ref: string): WharfError {
  const text = registryErrorText(body) ?? `HTTP ${status}`;
  if (status === 404) return new WharfError('NotFound', `manifest for ${ref} not found: ${text}`);
  if (status === 401 || status === 403) {
    return new WharfError(kindFor(status), `pull access denied for ${ref}, repository does not exist or may require 'docker login': ${text}`);
  }
  return new WharfError(kindFor(status), `manifest ${ref}: ${text}`);
}
