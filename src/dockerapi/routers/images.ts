import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WharfError, errorMessage } from '../../core/errors.js';
import type {
  ImageDeleteItem,
  ImageDetail,
  ImageHistoryItem,
  ImageListFilters,
  ImageSummary,
  ImportOptions,
  LoadResult,
  ProgressFn,
  PruneOptions,
  PruneResult,
  RemoveOptions,
  ImageUse,
} from '../../engine/images/types.js';
import { boolFilter, parseFilters, parseTimestamp } from '../filters.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';
import { decodeRegistryAuth, type RegistryCredentials } from '../../registry/client/auth.js';
import type { DistributionProgress, DistributionProgressFn } from '../../engine/images/distribution.js';
import { progressBar } from './image-json.js';
import { historyJson, imageInspectJson, imageSummaryJson, progressJson } from './image-json.js';

/** What the image routes need from the engine (ImageService implements it). */
export interface ImagesBackend {
  list(filters?: ImageListFilters): Promise<ImageSummary[]>;
  inspect(ref: string): Promise<ImageDetail>;
  history(ref: string): Promise<ImageHistoryItem[]>;
  tag(ref: string, repo: string, tag?: string): Promise<void>;
  remove(ref: string, opts?: RemoveOptions): Promise<ImageDeleteItem[]>;
  prune(opts?: PruneOptions): Promise<PruneResult>;
  load(stream: Readable, onProgress?: ProgressFn, opts?: { signal?: AbortSignal }): Promise<LoadResult>;
  save(refs: string[], opts?: { signal?: AbortSignal }): Promise<Readable>;
  importRootfs(stream: Readable, opts?: ImportOptions): Promise<{ id: string }>;
}

/** Pull, push and login (ImageDistribution implements it). */
export interface DistributionBackend {
  pull(ref: string, opts: { creds?: RegistryCredentials; onProgress?: DistributionProgressFn; signal?: AbortSignal }): Promise<{ id: string; ref: string }>;
  push(name: string, tag: string | undefined, opts: { creds?: RegistryCredentials; onProgress?: DistributionProgressFn; signal?: AbortSignal }): Promise<void>;
  login(server: string, creds: RegistryCredentials, signal?: AbortSignal): Promise<void>;
}

/** Called after each change, so an events stream can report it later (type, action, id/ref). */
export type ImageEventSink = (action: 'load' | 'import' | 'tag' | 'untag' | 'delete' | 'save' | 'pull' | 'push', ref: string) => void;

const LIST_FILTERS = ['dangling', 'reference', 'label', 'before', 'since', 'until'] as const;
const PRUNE_FILTERS = ['dangling', 'label', 'label!', 'until'] as const;

export class ImagesRouter implements Router {
  constructor(
    private readonly backend: ImagesBackend,
    private readonly opts: { now?: () => number; onEvent?: ImageEventSink; inUse?: (imageId: string) => ImageUse; distribution?: DistributionBackend } = {},
  ) {}

  routes(): readonly Route[] {
    return [
      { method: 'GET', path: '/images/json', handler: (q, r) => this.list(q, r) },
      { method: 'POST', path: '/images/load', handler: (q, r) => this.load(q, r) },
      { method: 'GET', path: '/images/get', handler: (q, r) => this.save(q, r, q.query.getAll('names')) },
      { method: 'POST', path: '/images/create', handler: (q, r) => this.create(q, r) },
      { method: 'POST', path: '/images/prune', handler: (q, r) => this.prune(q, r) },
      { method: 'GET', path: '/images/search', handler: () => unsupported('searching a registry (docker search)') },
      { method: 'GET', path: '/images/*name/json', handler: (q, r) => this.inspect(q, r) },
      { method: 'GET', path: '/images/*name/history', handler: (q, r) => this.history(q, r) },
      { method: 'GET', path: '/images/*name/get', handler: (q, r) => this.save(q, r, [q.params.name!]) },
      { method: 'POST', path: '/images/*name/tag', handler: (q, r) => this.tag(q, r) },
      { method: 'POST', path: '/images/*name/push', handler: (q, r) => this.push(q, r) },
      { method: 'POST', path: '/auth', handler: (q, r) => this.auth(q, r) },
      { method: 'DELETE', path: '/images/*name', handler: (q, r) => this.remove(q, r) },
    ];
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private async list(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), LIST_FILTERS);
    const filters: ImageListFilters = {};
    if (boolParam(req.query, 'all')) filters.all = true;
    const dangling = boolFilter(f, 'dangling');
    if (dangling !== undefined) filters.dangling = dangling;
    if (f.get('reference')?.length) filters.reference = f.get('reference')!;
    if (f.get('label')?.length) filters.label = f.get('label')!;
    const before = single(f, 'before');
    if (before !== undefined) filters.before = before;
    const since = single(f, 'since');
    if (since !== undefined) filters.since = since;
    const until = single(f, 'until');
    if (until !== undefined) filters.until = parseTimestamp(until, this.now());
    const images = await this.backend.list(filters);
    res.json(
      200,
      images.map((i) => imageSummaryJson(i, req.version)),
    );
  }

  private async inspect(req: ApiRequest, res: ApiResponse): Promise<void> {
    res.json(200, imageInspectJson(await this.backend.inspect(req.params.name!), req.version));
  }

  private async history(req: ApiRequest, res: ApiResponse): Promise<void> {
    res.json(200, (await this.backend.history(req.params.name!)).map(historyJson));
  }

  private async tag(req: ApiRequest, res: ApiResponse): Promise<void> {
    const repo = req.query.get('repo') ?? '';
    const tag = req.query.get('tag') ?? '';
    if (repo === '') throw new WharfError('InvalidArgument', 'repository name must have at least one component');
    await this.backend.tag(req.params.name!, repo, tag === '' ? undefined : tag);
    this.opts.onEvent?.('tag', familiar(`${repo}:${tag || 'latest'}`));
    res.empty(201);
  }

  private async remove(req: ApiRequest, res: ApiResponse): Promise<void> {
    const items = await this.backend.remove(req.params.name!, {
      force: boolParam(req.query, 'force'),
      noprune: boolParam(req.query, 'noprune'),
      ...(this.opts.inUse ? { inUse: this.opts.inUse } : {}),
    });
    for (const i of items) this.opts.onEvent?.('Untagged' in i ? 'untag' : 'delete', 'Untagged' in i ? i.Untagged : i.Deleted);
    res.json(200, items);
  }

  private async prune(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), PRUNE_FILTERS);
    const opts: PruneOptions = { dangling: boolFilter(f, 'dangling') ?? true };
    const filters: NonNullable<PruneOptions['filters']> = {};
    if (f.get('label')?.length) filters.label = f.get('label')!;
    if (f.get('label!')?.length) filters.labelNot = f.get('label!')!;
    const until = single(f, 'until');
    if (until !== undefined) filters.until = parseTimestamp(until, this.now());
    opts.filters = filters;
    if (this.opts.inUse) opts.inUse = this.opts.inUse;
    const r = await this.backend.prune(opts);
    for (const i of r.imagesDeleted) this.opts.onEvent?.('Untagged' in i ? 'untag' : 'delete', 'Untagged' in i ? i.Untagged : i.Deleted);
    res.json(200, { ImagesDeleted: r.imagesDeleted.length ? r.imagesDeleted : null, SpaceReclaimed: r.spaceReclaimed });
  }

  /**
   * POST /images/load. Errors before the first byte of output are plain HTTP errors (400, 413…);
   * after that they become Docker's `{"errorDetail":…,"error":…}` line, which clients print.
   */
  private async load(req: ApiRequest, res: ApiResponse): Promise<void> {
    const quiet = boolParam(req.query, 'quiet');
    const lines = new JsonLines(res);
    // The store may report its "Loaded image: …" lines as progress too: send each line once.
    const sent = new Set<string>();
    const onProgress: ProgressFn | undefined = quiet
      ? undefined
      : (p) => {
          if (p.kind === 'message') sent.add(p.message.trim());
          lines.write(progressJson(p));
        };
    let result: LoadResult;
    try {
      result = await this.backend.load(req.body, onProgress, { signal: req.signal });
    } catch (err) {
      if (!lines.started) throw err;
      lines.error(err);
      return;
    }
    for (const i of result.images) this.opts.onEvent?.('load', i.ref ?? i.id);
    for (const m of result.messages) if (!sent.has(m.trim())) lines.write({ stream: `${m}\n` });
    lines.end();
  }

  private async save(req: ApiRequest, res: ApiResponse, names: string[]): Promise<void> {
    if (names.length === 0) throw new WharfError('InvalidArgument', 'no image names given (names=…)');
    const tar = await this.backend.save(names, { signal: req.signal });
    const out = res.stream(200, 'application/x-tar');
    try {
      await pipeline(tar, out);
    } catch (err) {
      // The client sees a truncated tar; nothing else can be said mid-body.
      out.destroy(err as Error);
    }
    for (const n of names) this.opts.onEvent?.('save', n);
  }

  private distribution(what: string): DistributionBackend {
    if (!this.opts.distribution) throw new WharfError('Unsupported', `${what} is not available in this server`);
    return this.opts.distribution;
  }

  /** POST /images/{name}/push?tag=: Docker's push progress as JSON lines. */
  private async push(req: ApiRequest, res: ApiResponse): Promise<void> {
    const dist = this.distribution('pushing images to a registry');
    const creds = decodeRegistryAuth(headerOf(req, 'x-registry-auth'));
    const tag = req.query.get('tag') ?? undefined;
    const lines = new JsonLines(res);
    try {
      await dist.push(req.params.name!, tag || undefined, { creds, onProgress: (p) => lines.write(distributionJson(p)), signal: req.signal });
      this.opts.onEvent?.('push', familiar(`${req.params.name!}${tag ? `:${tag}` : ''}`));
    } catch (err) {
      if (!lines.started) throw err;
      lines.error(err);
      return;
    }
    lines.end();
  }

  /** POST /auth (docker login): checks the credentials against the registry. */
  private async auth(req: ApiRequest, res: ApiResponse): Promise<void> {
    const dist = this.distribution('logging in to a registry');
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req.body) {
      n += (c as Buffer).length;
      if (n > 64 * 1024) throw new WharfError('TooLarge', 'auth body over 64 KiB');
      chunks.push(c as Buffer);
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      throw new WharfError('InvalidArgument', 'auth: body is not JSON');
    }
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const creds: RegistryCredentials = {};
    const u = str('username');
    const p = str('password');
    if (u !== undefined) creds.username = u;
    if (p !== undefined) creds.password = p;
    await dist.login(str('serveraddress') ?? '', creds, req.signal);
    res.json(200, { Status: 'Login Succeeded', IdentityToken: '' });
  }

  private async create(req: ApiRequest, res: ApiResponse): Promise<void> {
    const fromImage = req.query.get('fromImage');
    const fromSrc = req.query.get('fromSrc');
    if (fromImage) {
      const tag = req.query.get('tag');
      const ref = !tag || fromImage.includes('@') ? fromImage : tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
      if (req.query.get('platform')) {
        const p = req.query.get('platform')!;
        if (p !== 'linux/amd64' && p !== 'linux') throw new WharfError('Unsupported', `pulling for platform ${p} is not supported (only linux/amd64)`);
      }
      const dist = this.distribution('pulling images from a registry');
      const creds = decodeRegistryAuth(headerOf(req, 'x-registry-auth'));
      const lines = new JsonLines(res);
      try {
        const r = await dist.pull(ref, { creds, onProgress: (p) => lines.write(distributionJson(p)), signal: req.signal });
        this.opts.onEvent?.('pull', r.ref);
      } catch (err) {
        if (!lines.started) throw err;
        lines.error(err);
        return;
      }
      lines.end();
      return;
    }
    if (fromSrc === null) throw new WharfError('InvalidArgument', 'either fromImage or fromSrc is required');
    if (fromSrc !== '-') throw new WharfError('Unsupported', `importing from a URL is not implemented yet (${fromSrc}); send the tar as the body with fromSrc=-`);
    const repo = req.query.get('repo') ?? '';
    const tag = req.query.get('tag') ?? '';
    if (repo === '' && tag !== '') throw new WharfError('InvalidArgument', 'tag given without a repository');
    const opts: ImportOptions = { changes: req.query.getAll('changes'), signal: req.signal };
    if (repo !== '') opts.ref = tag ? `${repo}:${tag}` : repo;
    const message = req.query.get('message');
    if (message) opts.message = message;
    const platform = req.query.get('platform');
    if (platform) {
      const [os, architecture, variant] = platform.split('/');
      opts.platform = { ...(os ? { os } : {}), ...(architecture ? { architecture } : {}), ...(variant ? { variant } : {}) };
    }
    const lines = new JsonLines(res);
    let id: string;
    try {
      ({ id } = await this.backend.importRootfs(req.body, opts));
    } catch (err) {
      if (!lines.started) throw err;
      lines.error(err);
      return;
    }
    this.opts.onEvent?.('import', opts.ref ?? id);
    lines.write({ status: id });
    lines.end();
  }
}

function headerOf(req: ApiRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Docker's JSON-lines progress object for one distribution message. */
export function distributionJson(p: DistributionProgress): Record<string, unknown> {
  if (p.aux) return { progressDetail: {}, aux: p.aux };
  const o: Record<string, unknown> = { status: p.status };
  if (p.current !== undefined && p.total !== undefined) {
    o.progressDetail = { current: p.current, total: p.total };
    o.progress = progressBar(p.current, p.total);
  } else if (p.id !== undefined) o.progressDetail = {};
  if (p.id !== undefined) o.id = p.id;
  return o;
}

function single(f: Map<string, string[]>, key: string): string | undefined {
  const v = f.get(key);
  if (!v || v.length === 0) return undefined;
  if (v.length > 1) throw new WharfError('InvalidArgument', `invalid filter '${key}': only one value allowed`);
  return v[0];
}

/** Docker's familiar form for display: `docker.io/library/busybox:1` → `busybox:1`. */
export function familiar(ref: string): string {
  return ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

function unsupported(what: string): never {
  throw new WharfError('Unsupported', `${what} is not implemented yet`);
}

/** A JSON-lines (application/json) response whose headers go out with the first line. */
export class JsonLines {
  private out: Writable | undefined;

  constructor(private readonly res: ApiResponse) {}

  get started(): boolean {
    return this.out !== undefined;
  }

  write(obj: unknown): void {
    this.out ??= this.res.stream(200, 'application/json');
    this.out.write(`${JSON.stringify(obj)}\n`);
  }

  error(err: unknown): void {
    const message = errorMessage(err);
    this.write({ errorDetail: { message }, error: message });
    this.end();
  }

  end(): void {
    this.out ??= this.res.stream(200, 'application/json');
    this.out.end();
  }
}
