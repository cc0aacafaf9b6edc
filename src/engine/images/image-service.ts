import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../../core/log.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { WharfError, wrap } from '../../core/errors.js';
import { shortId } from '../../core/ids.js';
import type { EngineDb } from '../db.js';
import { ContentStore, syncFiles, type BlobWriter } from '../../oci/content-store.js';
import { LayerStore, chainIds as computeChainIds, type LayerInfo } from '../snapshots/layer-store.js';
import { diffIdOf, detectCompression, uncompressed, type UnpackLimits } from '../snapshots/unpack.js';
import { readArchive, type ArchiveLimits, type StagedArchive, type StagedFile } from './archive-reader.js';
import { buildBusyboxLayer, busyboxConfig } from './busybox.js';
import { parseChanges } from './changes.js';
import {
  DEFAULT_PLATFORM,
  MT,
  parseImageConfig,
  parseJson,
  parseManifestOrIndex,
  selectPlatform,
  type Descriptor,
  type Manifest,
  type Platform,
} from '../../oci/manifest.js';
import {
  familiarString,
  formatReference,
  idPrefix,
  isFullImageId,
  matchReferenceFilter,
  parseNormalizedNamed,
  parseReference,
  repoName,
  tagReference,
  type Reference,
} from '../../oci/reference.js';
import { IMAGE_MIGRATIONS } from './schema.js';
import { padding, tarHeader, TAR_TRAILER } from '../../oci/tar-writer.js';
import type {
  ImageConfigDoc,
  ImageDeleteItem,
  ImageDetail,
  ImageDiskUsage,
  ImageHistoryItem,
  ImageListFilters,
  ImageSummary,
  ImportOptions,
  LoadResult,
  ProgressFn,
  PruneOptions,
  PruneResult,
  RemoveOptions,
  ResolvedImage,
} from './types.js';

export type * from './types.js';

export interface ImageServiceOptions {
  dataRoot: string;
  db: EngineDb;
  logger: Logger;
  clock?: Clock;
  /** Platform picked from indexes / manifest lists (default linux/amd64). */
  platform?: Platform;
  limits?: { archive?: Partial<ArchiveLimits>; unpack?: Partial<UnpackLimits> };
}

interface ImageRow {
  id: string;
  manifest_digest: string;
  manifest_media_type: string;
  has_repo_digest: number;
  created: number;
  created_iso: string;
  size: number;
  parent: string;
  chain_ids: string;
  layer_blobs: string;
  labels: string;
  loaded_at: number;
  last_tag_time: number;
}

/** A pulled image ready to commit (see commitPulled). */
export interface PulledImage {
  config: { buf: Buffer; digest: string; file?: StagedFile };
  manifest: { digest: string; mediaType: string; file?: StagedFile };
  /** Bottom first; `unpacked` when this pull unpacked it, else the layer must already be unpacked. */
  layers: { digest: string; mediaType: string; size: number; file?: StagedFile; unpacked?: { tmp: string; result: { diffId: string; size: number; tarSize: number } } }[];
  tag?: Reference;
  /** `registry/repo@sha256:…` (the digest the user pulled: an index's or the manifest's). */
  digestName: string;
  source: { registry: string; repository: string };
}

export interface LayerBlob {
  digest: string;
  mediaType: string;
  size: number;
}

/** One image found in an archive (or built locally), before it is committed. */
interface Candidate {
  config: StagedFile;
  configBuf: Buffer;
  layers: { file: StagedFile; mediaType?: string }[];
  manifest?: { file: StagedFile; digest: string; mediaType: string };
  names: Reference[];
}

const noSuchImage = (ref: string) => new WharfError('NotFound', `No such image: ${ref}`);


/**
 * The image store facade: the one thing other engine code and the Docker API use.
 * Errors are WharfErrors: NotFound ("No such image: X"), Conflict (in use, several tags),
 * InvalidArgument (bad reference, bad archive), TooLarge, Internal.
 */
export class ImageService {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(readonly opts: ImageServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'images' });
    opts.db.migrate('images', IMAGE_MIGRATIONS);
    this.content = new ContentStore({ dataRoot: opts.dataRoot });
    this.layers = new LayerStore({ dataRoot: opts.dataRoot, db: opts.db, ...(opts.limits?.unpack ? { limits: opts.limits.unpack } : {}) });
    this.recover();
  }

  private get sql() {
    return this.opts.db.sql;
  }

  /** Start-up: drop staging dirs and temp files of interrupted loads, and half-made layers. */
  private recover(): void {
    for (const n of readdirSync(this.content.ingestDir)) rmSync(join(this.content.ingestDir, n), { recursive: true, force: true });
    const removed = this.layers.recover();
    if (removed.length) this.log.info({ removed }, 'removed incomplete layers left by an interrupted load');
  }

  /** Serialises mutations (load, import, tag, remove, prune). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  // ---------- queries ----------

  private rows(): ImageRow[] {
    return this.sql.prepare('SELECT * FROM images').all() as ImageRow[];
  }

  private row(id: string): ImageRow | undefined {
    return this.sql.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
  }

  private refsOf(id: string): { name: string; kind: 'tag' | 'digest' }[] {
    return this.sql.prepare('SELECT name, kind FROM image_refs WHERE image_id = ? ORDER BY name').all(id) as { name: string; kind: 'tag' | 'digest' }[];
  }

  private summary(r: ImageRow, refs = this.refsOf(r.id)): ImageSummary {
    const tags = refs.filter((x) => x.kind === 'tag').map((x) => parseReference(x.name));
    const digests = refs.filter((x) => x.kind === 'digest').map((x) => parseReference(x.name));
    return {
      id: r.id,
      parentId: r.parent,
      repoTags: tags.map(familiarString),
      repoDigests: digests.map(familiarString),
      created: r.created,
      size: r.size,
      labels: JSON.parse(r.labels) as Record<string, string>,
    };
  }

  /** Chain IDs of an image's layers, bottom first (for the snapshotter). */
  chainIds(imageId: string): string[] {
    const r = this.row(imageId);
    if (!r) throw noSuchImage(imageId);
    return JSON.parse(r.chain_ids) as string[];
  }

  async resolve(ref: string): Promise<ResolvedImage> {
    return this.resolveSync(ref);
  }

  private resolveSync(ref: string): ResolvedImage {
    if (typeof ref !== 'string' || ref === '') throw new WharfError('InvalidArgument', 'empty image reference');
    if (isFullImageId(ref)) {
      const id = ref.startsWith('sha256:') ? ref : `sha256:${ref}`;
      if (this.row(id)) return { id };
      throw noSuchImage(ref);
    }
    let named: Reference | undefined;
    try {
      named = parseNormalizedNamed(ref);
    } catch {
      named = undefined;
    }
    if (named) {
      if (named.digest !== undefined) {
        const full = `${repoName(named)}@${named.digest}`;
        const hit = this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(full) as { image_id: string } | undefined;
        if (hit) return { id: hit.image_id, name: full, digest: named.digest };
        const byManifest = this.sql.prepare('SELECT id FROM images WHERE manifest_digest = ?').all(named.digest) as { id: string }[];
        if (byManifest.length === 1) return { id: byManifest[0]!.id, name: full, digest: named.digest };
      } else {
        const full = formatReference(named);
        const hit = this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(full) as { image_id: string } | undefined;
        if (hit) return { id: hit.image_id, name: full };
      }
    }
    const prefix = idPrefix(ref);
    if (prefix !== undefined) {
      const hits = this.sql.prepare("SELECT id FROM images WHERE id LIKE ? LIMIT 2").all(`sha256:${prefix}%`) as { id: string }[];
      if (hits.length === 1) return { id: hits[0]!.id };
      if (hits.length > 1) throw new WharfError('InvalidArgument', `image ID prefix ${ref} is ambiguous`);
    }
    if (!named) parseNormalizedNamed(ref); // a bad reference that is no ID either: report it as such
    throw noSuchImage(ref);
  }

  async list(filters: ImageListFilters = {}): Promise<ImageSummary[]> {
    let rows = this.rows();
    const allRefs = this.sql.prepare('SELECT name, kind, image_id FROM image_refs ORDER BY name').all() as {
      name: string;
      kind: 'tag' | 'digest';
      image_id: string;
    }[];
    const refsBy = new Map<string, { name: string; kind: 'tag' | 'digest' }[]>();
    for (const r of allRefs) {
      let l = refsBy.get(r.image_id);
      if (!l) refsBy.set(r.image_id, (l = []));
      l.push(r);
    }
    const createdOf = (ref: string) => this.row(this.resolveSync(ref).id)!.created;
    if (filters.before !== undefined) {
      const t = createdOf(filters.before);
      rows = rows.filter((r) => r.created < t);
    }
    if (filters.since !== undefined) {
      const t = createdOf(filters.since);
      rows = rows.filter((r) => r.created > t);
    }
    if (filters.until !== undefined) rows = rows.filter((r) => r.created < filters.until!);
    if (!filters.all) {
      // Like Docker: untagged intermediate images (parents of other images, made by builds) are hidden.
      const parents = new Set(rows.map((r) => r.parent).filter((p) => p !== ''));
      rows = rows.filter((r) => !parents.has(r.id) || refsBy.has(r.id));
    }
    let out = rows.map((r) => this.summary(r, refsBy.get(r.id) ?? []));
    if (filters.dangling !== undefined) out = out.filter((s) => (s.repoTags.length === 0) === filters.dangling);
    if (filters.label?.length) out = out.filter((s) => filters.label!.every((l) => labelMatch(s.labels, l)));
    if (filters.labelNot?.length) out = out.filter((s) => !filters.labelNot!.some((l) => labelMatch(s.labels, l)));
    if (filters.reference?.length) {
      out = out.filter((s) => {
        const refs = (refsBy.get(s.id) ?? []).map((r) => parseReference(r.name));
        const ok = refs.filter((r) => filters.reference!.some((p) => matchReferenceFilter(p, r)));
        if (ok.length === 0) return false;
        // Like Docker: only the matching tags are shown.
        s.repoTags = ok.filter((r) => r.tag !== undefined).map(familiarString);
        return true;
      });
    }
    return out.sort((a, b) => b.created - a.created || a.id.localeCompare(b.id));
  }

  private configOf(id: string): ImageConfigDoc {
    return parseImageConfig(this.content.readBuffer(id), `image config ${id}`);
  }

  async inspect(ref: string): Promise<ImageDetail> {
    const { id } = this.resolveSync(ref);
    const r = this.row(id)!;
    const cfg = this.configOf(id);
    const d: ImageDetail = {
      ...this.summary(r),
      createdIso: r.created_iso,
      architecture: cfg.architecture,
      os: cfg.os,
      author: cfg.author ?? '',
      comment: cfg.comment ?? '',
      dockerVersion: cfg.docker_version ?? '',
      config: cfg.config ?? {},
      rootFS: { type: 'layers', layers: cfg.rootfs.diff_ids },
      manifestDigest: r.manifest_digest,
      manifestMediaType: r.manifest_media_type,
      chainIds: JSON.parse(r.chain_ids) as string[],
      lastTagTime: new Date(r.last_tag_time).toISOString(),
    };
    if (cfg.variant !== undefined) d.variant = cfg.variant;
    return d;
  }

  async history(ref: string): Promise<ImageHistoryItem[]> {
    const { id } = this.resolveSync(ref);
    const r = this.row(id)!;
    const cfg = this.configOf(id);
    const chains = JSON.parse(r.chain_ids) as string[];
    const sizes = chains.map((c) => this.layers.get(c)?.size ?? 0);
    const hist = cfg.history?.length ? cfg.history : cfg.rootfs.diff_ids.map(() => ({}) as NonNullable<ImageConfigDoc['history']>[number]);
    let layer = 0;
    const items: ImageHistoryItem[] = hist.map((h) => {
      const empty = h.empty_layer === true;
      const size = empty ? 0 : (sizes[layer++] ?? 0);
      return {
        id: '<missing>',
        created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        createdBy: h.created_by ?? '',
        tags: [],
        size,
        comment: h.comment ?? '',
      };
    });
    items.reverse();
    if (items[0]) {
      items[0].id = id;
      items[0].tags = this.summary(r).repoTags;
    }
    return items;
  }

  async diskUsage(): Promise<ImageDiskUsage> {
    const rows = this.rows();
    const uses = new Map<string, number>();
    for (const r of rows) for (const c of JSON.parse(r.chain_ids) as string[]) uses.set(c, (uses.get(c) ?? 0) + 1);
    const sizeOf = new Map(this.layers.all().map((l) => [l.chainId, l.size]));
    const images = rows.map((r) => {
      const chains = JSON.parse(r.chain_ids) as string[];
      let shared = 0;
      for (const c of chains) if ((uses.get(c) ?? 0) > 1) shared += sizeOf.get(c) ?? 0;
      return { ...this.summary(r), sharedSize: shared, uniqueSize: r.size - shared };
    });
    let layersSize = 0;
    for (const s of sizeOf.values()) layersSize += s;
    return { images, layersSize };
  }

  // ---------- tags and removal ----------

  async tag(ref: string, repo: string, tag?: string): Promise<void> {
    return this.exclusive(async () => {
      const { id } = this.resolveSync(ref);
      const target = tagReference(repo, tag);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        this.sql.prepare("INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, 'tag', ?)").run(formatReference(target), id, now);
        this.sql.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(now, id);
      });
    });
  }

  async remove(ref: string, opts: RemoveOptions = {}): Promise<ImageDeleteItem[]> {
    return this.exclusive(async () => this.removeLocked(ref, opts));
  }

  private removeLocked(ref: string, opts: RemoveOptions): ImageDeleteItem[] {
    const resolved = this.resolveSync(ref);
    const id = resolved.id;
    const refs = this.refsOf(id);
    const useRaw = opts.inUse?.(id) ?? false;
    const use = typeof useRaw === 'object' ? useRaw.state : useRaw;
    const usedBy = typeof useRaw === 'object' ? useRaw.container : undefined;
    const running = use === 'running';
    const out: ImageDeleteItem[] = [];
    const untag = (name: string) => {
      this.sql.prepare('DELETE FROM image_refs WHERE name = ?').run(name);
      out.push({ Untagged: familiarString(parseReference(name)) });
    };
    if (resolved.name !== undefined) {
      // By name: untag this reference; delete the image only if it was the last one.
      const name = resolved.digest !== undefined && !refs.some((r) => r.name === resolved.name) ? undefined : resolved.name;
      // Like Docker: digest references of the same repository go with its last tag.
      const repo = repoName(parseReference(resolved.name));
      const others = refs.filter((r) => r.name !== name && !(r.kind === 'digest' && repoName(parseReference(r.name)) === repo));
      if (others.length > 0 && name !== undefined) {
        this.opts.db.tx(() => {
          untag(name);
          if (!others.some((r) => r.kind === 'tag' && repoName(parseReference(r.name)) === repo)) {
            for (const r of refs) if (r.kind === 'digest' && repoName(parseReference(r.name)) === repo) untag(r.name);
          }
        });
        return out;
      }
      if (use && !opts.force) {
        const who = usedBy ? `container ${usedBy.slice(0, 12)}` : 'container';
        throw new WharfError('Conflict', `conflict: unable to remove repository reference "${ref}" (must force) - ${who} is using its referenced image ${shortId(id)}`);
      }
      this.opts.db.tx(() => {
        for (const r of refs) untag(r.name);
      });
      // As moby: forced, a running container's image is only untagged (it stays, dangling).
      if (use && running) return out;
      out.push(...this.deleteImage(id, opts));
      return out;
    }
    // By ID.
    const repos = new Set(refs.filter((r) => r.kind === 'tag').map((r) => repoName(parseReference(r.name))));
    if (repos.size > 1 && !opts.force) {
      throw new WharfError('Conflict', `conflict: unable to delete ${shortId(id)} (must be forced) - image is referenced in multiple repositories`);
    }
    if (use && running) {
      throw new WharfError('Conflict', `conflict: unable to delete ${shortId(id)} (cannot be forced) - image is being used by running container`);
    }
    if (use && !opts.force) {
      throw new WharfError('Conflict', `conflict: unable to delete ${shortId(id)} (must be forced) - image is being used by stopped container`);
    }
    this.opts.db.tx(() => {
      for (const r of refs) untag(r.name);
    });
    out.push(...this.deleteImage(id, opts));
    return out;
  }

  /**
   * Deletes the image row, then (unless `noprune`) its untagged parents that nothing else uses (the
   * builder's intermediate images, as Docker does), then layers and blobs nothing else references.
   */
  private deleteImage(id: string, opts: RemoveOptions): ImageDeleteItem[] {
    const out: ImageDeleteItem[] = [];
    let cur: string | undefined = id;
    while (cur !== undefined) {
      const parent: string = this.row(cur)?.parent ?? '';
      const target: string = cur;
      this.opts.db.tx(() => {
        this.sql.prepare('DELETE FROM image_refs WHERE image_id = ?').run(target);
        this.sql.prepare('DELETE FROM images WHERE id = ?').run(target);
      });
      out.push({ Deleted: target });
      cur = undefined;
      if (opts.noprune || parent === '' || !this.row(parent)) break;
      if (this.refsOf(parent).length > 0 || opts.inUse?.(parent)) break;
      const children = this.sql.prepare('SELECT COUNT(*) AS n FROM images WHERE parent = ?').get(parent) as { n: number };
      if (children.n === 0) cur = parent;
    }
    for (const c of this.collectLayers()) out.push({ Deleted: c.chainId });
    this.collectBlobs();
    return out;
  }

  private collectLayers(): LayerInfo[] {
    const used = this.layers.snapshotChains();
    for (const r of this.rows()) for (const c of JSON.parse(r.chain_ids) as string[]) used.add(c);
    const removed: LayerInfo[] = [];
    for (const l of this.layers.all()) {
      if (used.has(l.chainId)) continue;
      this.layers.remove(l.chainId);
      removed.push(l);
    }
    return removed;
  }

  private referencedBlobs(): Set<string> {
    const refs = new Set<string>();
    for (const r of this.rows()) {
      refs.add(r.id);
      refs.add(r.manifest_digest);
      for (const b of JSON.parse(r.layer_blobs) as LayerBlob[]) refs.add(b.digest);
    }
    return refs;
  }

  private collectBlobs(): number {
    const refs = this.referencedBlobs();
    const res = this.content.gc(refs);
    if (res.removed.length) {
      const del = this.sql.prepare('DELETE FROM layer_blobs WHERE blob_digest = ?');
      for (const d of res.removed) del.run(d);
    }
    return res.bytes;
  }

  /** Garbage-collects unreferenced layers and blobs; returns bytes freed. */
  async gc(): Promise<number> {
    return this.exclusive(async () => {
      let bytes = 0;
      for (const l of this.collectLayers()) bytes += l.size;
      return bytes + this.collectBlobs();
    });
  }

  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    return this.exclusive(async () => {
      const dangling = opts.dangling ?? true;
      const list = await this.list({
        ...(dangling ? { dangling: true } : {}),
        ...(opts.filters?.label ? { label: opts.filters.label } : {}),
        ...(opts.filters?.labelNot ? { labelNot: opts.filters.labelNot } : {}),
        ...(opts.filters?.until !== undefined ? { until: opts.filters.until } : {}),
      });
      const deleted: ImageDeleteItem[] = [];
      let space = 0;
      const sizeBefore = new Map(this.layers.all().map((l) => [l.chainId, l.size]));
      for (const img of list) {
        if (opts.inUse?.(img.id)) continue;
        const refs = this.refsOf(img.id);
        for (const r of refs) {
          this.sql.prepare('DELETE FROM image_refs WHERE name = ?').run(r.name);
          deleted.push({ Untagged: familiarString(parseReference(r.name)) });
        }
        for (const item of this.deleteImage(img.id, {})) {
          deleted.push(item);
          if ('Deleted' in item) space += sizeBefore.get(item.Deleted) ?? 0;
        }
      }
      return { imagesDeleted: deleted, spaceReclaimed: space };
    });
  }

  // ---------- load / import / bootstrap ----------

  private stagingDir(): string {
    const dir = join(this.content.ingestDir, `stage-${randomBytes(8).toString('hex')}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async load(stream: Readable, onProgress?: ProgressFn, opts: { signal?: AbortSignal } = {}): Promise<LoadResult> {
    return this.exclusive(async () => {
      const dir = this.stagingDir();
      try {
        const staged = await readArchive(stream, dir, this.content, {
          ...(this.opts.limits?.archive ? { limits: this.opts.limits.archive } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const cands = this.candidates(staged);
        const ids = await this.commit(cands, onProgress, opts.signal);
        const result: LoadResult = { images: [], messages: [] };
        cands.forEach((c, i) => {
          const id = ids[i]!;
          if (c.names.length === 0) {
            result.images.push({ id });
            result.messages.push(`Loaded image ID: ${id}`);
          }
          for (const n of c.names) {
            const ref = familiarString(n);
            result.images.push({ id, ref });
            result.messages.push(`Loaded image: ${ref}`);
          }
        });
        for (const m of result.messages) onProgress?.({ kind: 'message', message: m });
        return result;
      } catch (err) {
        throw wrap(err, 'load');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /** Finds the images in a staged archive: docker-archive (manifest.json) or OCI image layout (index.json). */
  private candidates(staged: StagedArchive): Candidate[] {
    const bad = (m: string) => new WharfError('InvalidArgument', `invalid image archive: ${m}`);
    const byConfig = new Map<string, Candidate>();
    const add = (c: Candidate) => {
      const prev = byConfig.get(c.config.digest);
      if (!prev) byConfig.set(c.config.digest, c);
      else {
        for (const n of c.names) if (!prev.names.some((p) => formatReference(p) === formatReference(n))) prev.names.push(n);
        prev.manifest ??= c.manifest;
      }
    };
    const ociManifests = new Map<string, { file: StagedFile; manifest: Manifest; desc: Descriptor; names: Reference[] }[]>();
    if (staged.has('index.json')) {
      const idxFile = staged.get('index.json', 'index.json');
      const { index } = parseManifestOrIndex(staged.read(idxFile, 'index.json'), 'index.json');
      if (!index) throw bad('index.json is not an image index');
      for (const [i, desc] of index.manifests.entries()) {
        if (desc.platform && !platformMatches(desc.platform, this.opts.platform ?? DEFAULT_PLATFORM)) continue;
        const found = this.resolveManifest(staged, desc, `index.json manifests[${i}]`, 0);
        if (!found) continue;
        const names: Reference[] = [];
        const full = desc.annotations?.['io.containerd.image.name'];
        const refName = desc.annotations?.['org.opencontainers.image.ref.name'];
        const asName = full ?? (refName && /[:/]/.test(refName) ? refName : undefined);
        if (asName) {
          const r = parseNormalizedNamed(asName);
          if (r.digest === undefined) names.push(r);
        }
        const key = found.manifest.config.digest;
        const list = ociManifests.get(key) ?? [];
        list.push({ ...found, names });
        ociManifests.set(key, list);
      }
    }
    if (staged.has('manifest.json')) {
      const mj = parseJson(staged.read(staged.get('manifest.json', 'manifest.json'), 'manifest.json'), 'manifest.json');
      if (!Array.isArray(mj) || mj.length === 0) throw bad('manifest.json must be a non-empty array');
      for (const [i, e] of (mj as unknown[]).entries()) {
        const what = `manifest.json[${i}]`;
        if (typeof e !== 'object' || e === null) throw bad(`${what} is not an object`);
        const entry = e as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
        const config = staged.get(entry.Config, `${what}.Config`);
        if (!Array.isArray(entry.Layers)) throw bad(`${what}.Layers must be an array`);
        const layers: Candidate['layers'] = (entry.Layers as unknown[]).map((p, j) => ({ file: staged.get(p, `${what}.Layers[${j}]`) }));
        const tags = entry.RepoTags ?? [];
        if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw bad(`${what}.RepoTags must be an array of strings`);
        const names = (tags as string[]).map((t) => {
          const r = parseNormalizedNamed(t);
          if (r.digest !== undefined) throw bad(`${what}.RepoTags: ${t} is not a tag`);
          return r;
        });
        const cand: Candidate = { config, configBuf: staged.read(config, `${what}.Config`), layers, names };
        const oci = ociManifests.get(config.digest)?.[0];
        if (oci && oci.manifest.layers.length === layers.length && oci.manifest.layers.every((l, j) => l.digest === layers[j]!.file.digest)) {
          cand.manifest = { file: oci.file, digest: oci.desc.digest, mediaType: oci.manifest.mediaType };
          oci.manifest.layers.forEach((l, j) => (layers[j]!.mediaType = l.mediaType));
        }
        add(cand);
      }
    } else if (ociManifests.size > 0) {
      for (const list of ociManifests.values()) {
        for (const o of list) {
          const config = staged.blob(o.manifest.config.digest, o.manifest.config.size, 'config');
          add({
            config,
            configBuf: staged.read(config, 'config'),
            layers: o.manifest.layers.map((l, j) => ({ file: staged.blob(l.digest, l.size, `layer ${j}`), mediaType: l.mediaType })),
            manifest: { file: o.file, digest: o.desc.digest, mediaType: o.manifest.mediaType },
            names: o.names,
          });
        }
      }
    } else if (!staged.has('index.json')) {
      throw bad('no manifest.json or index.json: not a docker-archive or an OCI image layout');
    } else {
      throw bad(`index.json has no image for ${platformString(this.opts.platform ?? DEFAULT_PLATFORM)}`);
    }
    return [...byConfig.values()];
  }

  private resolveManifest(
    staged: StagedArchive,
    desc: Descriptor,
    what: string,
    depth: number,
  ): { file: StagedFile; manifest: Manifest; desc: Descriptor } | undefined {
    if (depth > 3) throw new WharfError('InvalidArgument', `invalid image archive: ${what}: indexes nested too deeply`);
    const file = staged.blob(desc.digest, desc.size, what);
    const parsed = parseManifestOrIndex(staged.read(file, what), `${what} (${desc.digest})`, desc.mediaType);
    if (parsed.manifest) return { file, manifest: parsed.manifest, desc };
    const pick = selectPlatform(parsed.index!, this.opts.platform ?? DEFAULT_PLATFORM);
    if (!pick) return undefined;
    return this.resolveManifest(staged, pick, `${what} → ${pick.digest}`, depth + 1);
  }

  /**
   * Verifies and unpacks the candidates' layers, then moves their blobs into the content store and
   * records everything in one transaction. On any error nothing stays: new layer dirs and blobs are removed.
   */
  private async commit(cands: Candidate[], onProgress?: ProgressFn, signal?: AbortSignal): Promise<string[]> {
    const newLayerDirs: string[] = [];
    const newBlobs: string[] = [];
    const layerRows = new Map<string, LayerInfo>();
    const blobRows = new Map<string, { diffId: string; mediaType: string }>();
    const imageRows: { row: ImageRow; names: Reference[]; withDigest: boolean }[] = [];
    const synthetic: string[] = [];
    try {
      for (const c of cands) {
        const cfg = parseImageConfig(c.configBuf, `image config ${c.config.digest}`);
        const diffIds = cfg.rootfs.diff_ids;
        if (diffIds.length !== c.layers.length) {
          throw new WharfError('InvalidArgument', `image ${c.config.digest}: config lists ${diffIds.length} layers (diff_ids), the manifest ${c.layers.length}`);
        }
        const chains = computeChainIds(diffIds);
        let size = 0;
        const layerBlobs: LayerBlob[] = [];
        for (const [i, l] of c.layers.entries()) {
          signal?.throwIfAborted();
          const chain = chains[i]!;
          const expected = diffIds[i]!;
          const short = shortId(expected);
          const known = this.layers.get(chain) ?? layerRows.get(chain);
          const comp = detectCompression(await readHead(l.file.file));
          const mediaType = l.mediaType ?? (comp === 'gzip' ? MT.ociLayerGzip : comp === 'zstd' ? MT.ociLayerZstd : MT.ociLayer);
          layerBlobs.push({ digest: l.file.digest, mediaType, size: l.file.size });
          if (known && (this.layers.has(chain) || layerRows.has(chain))) {
            // Already unpacked: only make sure this blob really is that layer.
            const mapped = (this.sql.prepare('SELECT diff_id FROM layer_blobs WHERE blob_digest = ?').get(l.file.digest) as { diff_id: string } | undefined)?.diff_id
              ?? blobRows.get(l.file.digest)?.diffId;
            if (l.file.digest !== expected && mapped !== expected) {
              const { diffId } = await diffIdOf(createReadStream(l.file.file));
              if (diffId !== expected) throw diffMismatch(i, expected, diffId);
            }
            blobRows.set(l.file.digest, { diffId: expected, mediaType });
            size += known.size;
            onProgress?.({ kind: 'layer', id: short, action: 'Already exists', current: l.file.size, total: l.file.size });
            continue;
          }
          onProgress?.({ kind: 'layer', id: short, action: 'Loading layer', current: 0, total: l.file.size });
          const { tmp, result } = await this.layers.unpackToTemp(createReadStream(l.file.file, { highWaterMark: 1 << 20 }), signal);
          if (result.diffId !== expected) {
            rmSync(tmp, { recursive: true, force: true });
            throw diffMismatch(i, expected, result.diffId);
          }
          if (this.layers.publish(tmp, chain)) newLayerDirs.push(chain);
          const info: LayerInfo = { chainId: chain, diffId: expected, parent: i > 0 ? chains[i - 1]! : '', size: result.size, tarSize: result.tarSize };
          layerRows.set(chain, info);
          blobRows.set(l.file.digest, { diffId: expected, mediaType });
          size += result.size;
          onProgress?.({ kind: 'layer', id: short, action: 'Done', current: l.file.size, total: l.file.size });
        }
        let manifest = c.manifest;
        if (!manifest) {
          const buf = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MT.ociManifest,
              config: { mediaType: MT.ociConfig, digest: c.config.digest, size: c.config.size },
              layers: layerBlobs.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
            }),
          );
          const w = this.content.writer();
          w.write(buf);
          const info = w.finish();
          synthetic.push(w.tempPath);
          manifest = { file: { file: w.tempPath, digest: info.digest, size: info.size }, digest: info.digest, mediaType: MT.ociManifest };
        }
        const now = this.clock.now();
        imageRows.push({
          row: {
            id: c.config.digest,
            manifest_digest: manifest.digest,
            manifest_media_type: manifest.mediaType,
            has_repo_digest: c.manifest ? 1 : 0,
            created: cfg.created ? Math.floor(Date.parse(cfg.created) / 1000) : 0,
            created_iso: cfg.created ?? '',
            size,
            parent: typeof cfg.parent === 'string' ? cfg.parent : '',
            chain_ids: JSON.stringify(chains),
            layer_blobs: JSON.stringify(layerBlobs),
            labels: JSON.stringify(cfg.config?.Labels ?? {}),
            loaded_at: now,
            last_tag_time: now,
          },
          names: c.names,
          withDigest: c.manifest !== undefined,
        });
        // Blobs to keep: config, layers, manifest (made durable before they are renamed into the store).
        const keep = [c.config, ...c.layers.map((l) => l.file), manifest.file].filter((f) => !this.content.has(f.digest));
        await syncFiles(keep.map((f) => f.file).filter((f) => existsSync(f)));
        for (const f of keep) {
          if (this.content.has(f.digest)) continue;
          try {
            this.content.adopt(f.file, f.digest);
            newBlobs.push(f.digest);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !this.content.has(f.digest)) throw err;
          }
        }
      }
      const now = this.clock.now();
      this.opts.db.tx(() => {
        for (const l of layerRows.values()) this.layers.record(l, now);
        const ib = this.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)');
        for (const [d, b] of blobRows) ib.run(d, b.diffId, b.mediaType);
        const ii = this.sql.prepare(`INSERT INTO images (id, manifest_digest, manifest_media_type, has_repo_digest, created, created_iso, size, parent, chain_ids, layer_blobs, labels, loaded_at, last_tag_time)
          VALUES (@id, @manifest_digest, @manifest_media_type, @has_repo_digest, @created, @created_iso, @size, @parent, @chain_ids, @layer_blobs, @labels, @loaded_at, @last_tag_time)
          ON CONFLICT(id) DO UPDATE SET last_tag_time = excluded.last_tag_time,
            manifest_digest = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.manifest_digest ELSE images.manifest_digest END,
            manifest_media_type = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.manifest_media_type ELSE images.manifest_media_type END,
            layer_blobs = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.layer_blobs ELSE images.layer_blobs END,
            has_repo_digest = MAX(images.has_repo_digest, excluded.has_repo_digest)`);
        const ir = this.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
        for (const { row, names, withDigest } of imageRows) {
          ii.run(row);
          for (const n of names) {
            ir.run(formatReference(n), row.id, 'tag', now);
            if (withDigest) ir.run(`${repoName(n)}@${row.manifest_digest}`, row.id, 'digest', now);
          }
        }
      });
    } catch (err) {
      for (const c of newLayerDirs) rmSync(this.layers.path(c), { recursive: true, force: true });
      for (const d of newBlobs) if (!this.referencedBlobs().has(d)) this.content.delete(d);
      throw err;
    } finally {
      for (const f of synthetic) rmSync(f, { force: true });
    }
    return imageRows.map((r) => r.row.id);
  }

  async importRootfs(stream: Readable, opts: ImportOptions = {}): Promise<{ id: string }> {
    const changes = parseChanges(opts.changes ?? []);
    const target = opts.ref ? tagReference(opts.ref) : undefined;
    return this.exclusive(async () => {
      const dir = this.stagingDir();
      try {
        const w = this.content.writer(dir);
        try {
          for await (const chunk of stream) {
            opts.signal?.throwIfAborted();
            w.write(chunk as Buffer);
          }
        } catch (err) {
          w.abort();
          throw err;
        }
        const info = w.finish();
        if (info.size === 0) throw new WharfError('InvalidArgument', 'import: empty input');
        const layerFile: StagedFile = { file: w.tempPath, digest: info.digest, size: info.size };
        const { diffId } = await diffIdOf(createReadStream(w.tempPath));
        const created = new Date(this.clock.now()).toISOString();
        const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }[process.arch as string] ?? process.arch;
        const config: ImageConfigDoc = {
          architecture: opts.platform?.architecture ?? arch,
          os: opts.platform?.os ?? 'linux',
          created,
          config: changes,
          rootfs: { type: 'layers', diff_ids: [diffId] },
          history: [{ created, created_by: '', comment: opts.message || 'Imported from -' }],
        };
        if (opts.platform?.variant) config.variant = opts.platform.variant;
        if (opts.message) config.comment = opts.message;
        const configBuf = Buffer.from(JSON.stringify(config));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const cinfo = cw.finish();
        const [id] = await this.commit(
          [{ config: { file: cw.tempPath, digest: cinfo.digest, size: cinfo.size }, configBuf, layers: [{ file: layerFile }], names: target ? [target] : [] }],
          opts.onProgress,
          opts.signal,
        );
        return { id: id! };
      } catch (err) {
        throw wrap(err, 'import');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  async bootstrapBusybox(opts: { busyboxPath?: string; ref?: string } = {}): Promise<{ id: string; created: boolean }> {
    const target = tagReference(opts.ref ?? 'busybox:latest');
    const existing = this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(formatReference(target)) as { image_id: string } | undefined;
    if (existing) return { id: existing.image_id, created: false };
    const layer = await buildBusyboxLayer(opts.busyboxPath ?? '/bin/busybox');
    return this.exclusive(async () => {
      const dir = this.stagingDir();
      try {
        const lw = this.content.writer(dir);
        lw.write(layer.tar);
        const li = lw.finish();
        const configBuf = Buffer.from(JSON.stringify(busyboxConfig(li.digest, layer.created)));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const ci = cw.finish();
        const [id] = await this.commit([
          {
            config: { file: cw.tempPath, digest: ci.digest, size: ci.size },
            configBuf,
            layers: [{ file: { file: lw.tempPath, digest: li.digest, size: li.size }, mediaType: MT.ociLayer }],
            names: [target],
          },
        ]);
        this.log.info({ id, ref: familiarString(target) }, 'built the offline busybox image');
        return { id: id!, created: true };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  // ---------- pull / push support (used by ImageDistribution) ----------

  /** The image with this config digest, if stored and all its layers are unpacked. */
  completeImage(id: string): boolean {
    const r = this.row(id);
    return r !== undefined && (JSON.parse(r.chain_ids) as string[]).every((c) => this.layers.has(c));
  }

  /** Image ID a full reference (`docker.io/library/busybox:latest`) points to, if any. */
  refTarget(fullRef: string): string | undefined {
    return (this.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(fullRef) as { image_id: string } | undefined)?.image_id;
  }

  /** A staging directory for pulls (removed by the caller; cleared at start-up). */
  pullStagingDir(): string {
    return this.stagingDir();
  }

  /** Adds a tag and/or a digest reference to an existing image. */
  async addRefs(id: string, refs: { tag?: Reference; digestName?: string }): Promise<void> {
    return this.exclusive(async () => {
      if (!this.row(id)) throw noSuchImage(id);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        const ir = this.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
        if (refs.tag) ir.run(formatReference(refs.tag), id, 'tag', now);
        if (refs.digestName) ir.run(refs.digestName, id, 'digest', now);
        if (refs.tag) this.sql.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(now, id);
      });
    });
  }

  /** Remembers that `blob` is in `repository` on `registry` (for cross-repository mounts). */
  recordBlobSource(blob: string, registry: string, repository: string): void {
    this.sql.prepare('INSERT OR IGNORE INTO blob_sources (blob_digest, registry, repository) VALUES (?, ?, ?)').run(blob, registry, repository);
  }

  blobSources(blob: string, registry: string): string[] {
    return (this.sql.prepare('SELECT repository FROM blob_sources WHERE blob_digest = ? AND registry = ?').all(blob, registry) as { repository: string }[]).map((r) => r.repository);
  }

  /** A stored blob whose uncompressed content is `diffId` and whose media type is in `mediaTypes`. */
  blobForDiffId(diffId: string, mediaTypes: readonly string[]): { digest: string; mediaType: string; size: number } | undefined {
    const rows = this.sql.prepare('SELECT blob_digest, media_type FROM layer_blobs WHERE diff_id = ?').all(diffId) as { blob_digest: string; media_type: string }[];
    for (const r of rows) {
      if (!mediaTypes.includes(r.media_type)) continue;
      const info = this.content.info(r.blob_digest);
      if (info) return { digest: r.blob_digest, mediaType: r.media_type, size: info.size };
    }
    return undefined;
  }

  /** What a push needs: config, layers (diffID + stored blob) and the stored manifest. */
  pushPlan(id: string): { config: Buffer; layers: { diffId: string; blob: LayerBlob }[]; manifest?: { body: Buffer; digest: string; mediaType: string } } {
    const r = this.row(id);
    if (!r) throw noSuchImage(id);
    const config = this.content.readBuffer(id);
    const cfg = parseImageConfig(config, `image config ${id}`);
    const blobs = JSON.parse(r.layer_blobs) as LayerBlob[];
    const layers = cfg.rootfs.diff_ids.map((diffId, i) => ({ diffId, blob: blobs[i]! }));
    const plan: ReturnType<ImageService['pushPlan']> = { config, layers };
    if (r.has_repo_digest && this.content.has(r.manifest_digest)) {
      plan.manifest = { body: this.content.readBuffer(r.manifest_digest, 4 * 1024 * 1024), digest: r.manifest_digest, mediaType: r.manifest_media_type };
    }
    return plan;
  }

  /** Stores a compressed copy of a layer (made for a push) and maps it to its diffID. */
  async adoptLayerBlob(tempPath: string, info: { digest: string; size: number }, diffId: string, mediaType: string): Promise<void> {
    await syncFiles([tempPath]);
    this.content.adopt(tempPath, info.digest);
    this.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)').run(info.digest, diffId, mediaType);
  }

  /**
   * After a push: the image's layers are the pushed (compressed) blobs and its manifest the pushed one,
   * stored, so a later push skips and save and pull-by-digest agree; `name@digest` is added.
   */
  async recordPush(id: string, pushed: { layers: LayerBlob[]; manifest: Buffer; manifestDigest: string; mediaType: string; digestName: string }): Promise<void> {
    const w = this.content.writer();
    w.write(pushed.manifest);
    await w.commit({ digest: pushed.manifestDigest });
    return this.exclusive(async () => {
      if (!this.row(id)) throw noSuchImage(id);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        this.sql
          .prepare('UPDATE images SET layer_blobs = ?, manifest_digest = ?, manifest_media_type = ?, has_repo_digest = 1 WHERE id = ?')
          .run(JSON.stringify(pushed.layers), pushed.manifestDigest, pushed.mediaType, id);
        this.sql.prepare("INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, 'digest', ?)").run(pushed.digestName, id, now);
      });
    });
  }

  /**
   * Commits a pulled image: staged blobs (verified by the caller) move into the content store,
   * unpacked temp dirs are published, and rows are written in one transaction. On error nothing stays.
   */
  async commitPulled(p: PulledImage): Promise<void> {
    return this.exclusive(async () => {
      const cfg = parseImageConfig(p.config.buf, `image config ${p.config.digest}`);
      const diffIds = cfg.rootfs.diff_ids;
      if (diffIds.length !== p.layers.length) {
        throw new WharfError('InvalidArgument', `image ${p.config.digest}: config lists ${diffIds.length} layers (diff_ids), the manifest ${p.layers.length}`);
      }
      const chains = computeChainIds(diffIds);
      const staged = [p.config.file, p.manifest.file, ...p.layers.map((l) => l.file)].filter((f): f is StagedFile => f !== undefined && !this.content.has(f.digest));
      const newBlobs: string[] = [];
      const newDirs: string[] = [];
      try {
        await syncFiles(staged.map((f) => f.file));
        for (const f of staged) if (this.content.adopt(f.file, f.digest)) newBlobs.push(f.digest);
        const infos: LayerInfo[] = [];
        let size = 0;
        for (const [i, l] of p.layers.entries()) {
          const chain = chains[i]!;
          if (l.unpacked) {
            if (l.unpacked.result.diffId !== diffIds[i]) throw diffMismatch(i, diffIds[i]!, l.unpacked.result.diffId);
            if (this.layers.publish(l.unpacked.tmp, chain)) newDirs.push(chain);
            infos.push({ chainId: chain, diffId: diffIds[i]!, parent: i > 0 ? chains[i - 1]! : '', size: l.unpacked.result.size, tarSize: l.unpacked.result.tarSize });
            size += l.unpacked.result.size;
          } else {
            const known = this.layers.get(chain);
            if (!known || !this.layers.has(chain)) throw new WharfError('Internal', `layer ${chain} vanished during the pull; pull again`);
            size += known.size;
          }
        }
        const now = this.clock.now();
        this.opts.db.tx(() => {
          for (const l of infos) this.layers.record(l, now);
          const ib = this.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)');
          p.layers.forEach((l, i) => ib.run(l.digest, diffIds[i]!, l.mediaType));
          const row: ImageRow = {
            id: p.config.digest,
            manifest_digest: p.manifest.digest,
            manifest_media_type: p.manifest.mediaType,
            has_repo_digest: 1,
            created: cfg.created ? Math.floor(Date.parse(cfg.created) / 1000) : 0,
            created_iso: cfg.created ?? '',
            size,
            parent: typeof cfg.parent === 'string' ? cfg.parent : '',
            chain_ids: JSON.stringify(chains),
            layer_blobs: JSON.stringify(p.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }))),
            labels: JSON.stringify(cfg.config?.Labels ?? {}),
            loaded_at: now,
            last_tag_time: now,
          };
          this.sql
            .prepare(`INSERT INTO images (id, manifest_digest, manifest_media_type, has_repo_digest, created, created_iso, size, parent, chain_ids, layer_blobs, labels, loaded_at, last_tag_time)
              VALUES (@id, @manifest_digest, @manifest_media_type, @has_repo_digest, @created, @created_iso, @size, @parent, @chain_ids, @layer_blobs, @labels, @loaded_at, @last_tag_time)
              ON CONFLICT(id) DO UPDATE SET last_tag_time = excluded.last_tag_time, manifest_digest = excluded.manifest_digest,
                manifest_media_type = excluded.manifest_media_type, layer_blobs = excluded.layer_blobs, has_repo_digest = 1`)
            .run(row);
          const ir = this.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
          if (p.tag) ir.run(formatReference(p.tag), row.id, 'tag', now);
          ir.run(p.digestName, row.id, 'digest', now);
          const src = this.sql.prepare('INSERT OR IGNORE INTO blob_sources (blob_digest, registry, repository) VALUES (?, ?, ?)');
          for (const l of p.layers) src.run(l.digest, p.source.registry, p.source.repository);
          src.run(p.config.digest, p.source.registry, p.source.repository);
        });
      } catch (err) {
        for (const c of newDirs) rmSync(this.layers.path(c), { recursive: true, force: true });
        for (const d of newBlobs) if (!this.referencedBlobs().has(d)) this.content.delete(d);
        throw err;
      } finally {
        for (const l of p.layers) if (l.unpacked && existsSync(l.unpacked.tmp)) rmSync(l.unpacked.tmp, { recursive: true, force: true });
      }
    });
  }

  // ---------- builds ----------

  /** A writer for a layer tar the builder stages (same file system as the store; removed at start-up if left). */
  layerWriter(): BlobWriter {
    return this.content.writer();
  }

  /**
   * Stores an image made by the builder: `config` (its rootfs.diff_ids are the parent's plus the new
   * layer's, its `parent` the parent image), the parent's layers (already stored) and optionally one
   * new uncompressed layer tar staged with `layerWriter()` (moved into the store or removed).
   */
  async commitBuild(opts: { parentId?: string; config: ImageConfigDoc; layer?: { file: string; digest: string; size: number }; signal?: AbortSignal }): Promise<string> {
    return this.exclusive(async () => {
      const dir = this.stagingDir();
      try {
        const layers: Candidate['layers'] = [];
        if (opts.parentId) {
          const row = this.row(opts.parentId);
          if (!row) throw noSuchImage(opts.parentId);
          for (const b of JSON.parse(row.layer_blobs) as LayerBlob[]) {
            layers.push({ file: { file: this.content.path(b.digest), digest: b.digest, size: b.size }, mediaType: b.mediaType });
          }
        }
        if (opts.layer) layers.push({ file: opts.layer, mediaType: MT.ociLayer });
        const configBuf = Buffer.from(JSON.stringify(opts.config));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const ci = cw.finish();
        const [id] = await this.commit(
          [{ config: { file: cw.tempPath, digest: ci.digest, size: ci.size }, configBuf, layers, names: [] }],
          undefined,
          opts.signal,
        );
        return id!;
      } finally {
        rmSync(dir, { recursive: true, force: true });
        if (opts.layer && existsSync(opts.layer.file)) rmSync(opts.layer.file, { force: true });
      }
    });
  }

  /** The stored image config document of an image. */
  configDoc(ref: string): ImageConfigDoc {
    return this.configOf(this.resolveSync(ref).id);
  }

  // ---------- save ----------

  /** A docker-archive tar (manifest.json + OCI layout, like docker 25+) of the given images; refs resolved before streaming starts. */
  async save(refs: string[], opts: { signal?: AbortSignal; onProgress?: ProgressFn } = {}): Promise<Readable> {
    if (refs.length === 0) throw new WharfError('InvalidArgument', 'save: no images given');
    const images = new Map<string, Reference[]>();
    for (const ref of refs) {
      const r = this.resolveSync(ref);
      const names = images.get(r.id) ?? [];
      if (r.name !== undefined && r.digest === undefined) {
        const parsed = parseReference(r.name);
        if (!names.some((n) => formatReference(n) === r.name)) names.push(parsed);
      }
      images.set(r.id, names);
    }
    const plan = [...images].map(([id, names]) => {
      const row = this.row(id)!;
      const cfg = this.configOf(id);
      const blobs = JSON.parse(row.layer_blobs) as LayerBlob[];
      const chains = JSON.parse(row.chain_ids) as string[];
      const layers = chains.map((c, i) => {
        const info = this.layers.get(c);
        if (!info) throw new WharfError('Internal', `image ${id}: layer ${c} is not recorded`);
        const blob = blobs[i]!;
        if (!this.content.has(blob.digest)) throw new WharfError('Internal', `image ${id}: layer blob ${blob.digest} is missing`);
        return { diffId: cfg.rootfs.diff_ids[i]!, tarSize: info.tarSize, blob: blob.digest };
      });
      const configSize = this.content.info(id)!.size;
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: id, size: configSize },
          layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.diffId, size: l.tarSize })),
        }),
      );
      return { id, names, layers, manifest, manifestDigest: sha256Digest(manifest) };
    });
    const content = this.content;
    const mtime = Math.floor(this.clock.now() / 1000);
    async function* generate(): AsyncGenerator<Buffer> {
      const written = new Set<string>();
      const file = function* (name: string, data: Buffer) {
        yield tarHeader({ name, type: 'file', size: data.length, mode: 0o644, mtime });
        yield data;
        yield padding(data.length);
      };
      yield tarHeader({ name: 'blobs/', type: 'dir', mode: 0o755, mtime });
      yield tarHeader({ name: 'blobs/sha256/', type: 'dir', mode: 0o755, mtime });
      for (const p of plan) {
        for (const l of p.layers) {
          opts.signal?.throwIfAborted();
          const name = `blobs/sha256/${l.diffId.slice(7)}`;
          if (written.has(name)) continue;
          written.add(name);
          yield tarHeader({ name, type: 'file', size: l.tarSize, mode: 0o644, mtime });
          let n = 0;
          for await (const c of uncompressed(content.createReadStream(l.blob))) {
            n += c.length;
            if (n > l.tarSize) throw new WharfError('Internal', `layer ${l.diffId} is longer than recorded`);
            yield c;
          }
          if (n !== l.tarSize) throw new WharfError('Internal', `layer ${l.diffId} is shorter than recorded`);
          yield padding(l.tarSize);
          opts.onProgress?.({ kind: 'layer', id: shortId(l.diffId), action: 'Done', current: l.tarSize, total: l.tarSize });
        }
        const cname = `blobs/sha256/${p.id.slice(7)}`;
        if (!written.has(cname)) {
          written.add(cname);
          yield* file(cname, content.readBuffer(p.id));
        }
        const mname = `blobs/sha256/${p.manifestDigest.slice(7)}`;
        if (!written.has(mname)) {
          written.add(mname);
          yield* file(mname, p.manifest);
        }
      }
      const index = {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: plan.flatMap((p) => {
          const desc = { mediaType: MT.ociManifest, digest: p.manifestDigest, size: p.manifest.length };
          if (p.names.length === 0) return [desc];
          return p.names.map((n) => ({
            ...desc,
            annotations: { 'io.containerd.image.name': formatReference(n), 'org.opencontainers.image.ref.name': n.tag ?? 'latest' },
          }));
        }),
      };
      const manifestJson = plan.map((p) => ({
        Config: `blobs/sha256/${p.id.slice(7)}`,
        RepoTags: p.names.map(familiarString),
        Layers: p.layers.map((l) => `blobs/sha256/${l.diffId.slice(7)}`),
      }));
      yield* file('index.json', Buffer.from(JSON.stringify(index)));
      yield* file('manifest.json', Buffer.from(JSON.stringify(manifestJson)));
      yield* file('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      yield TAR_TRAILER;
    }
    return Readable.from(generate(), { objectMode: false });
  }
}

function sha256Digest(b: Buffer): string {
  return `sha256:${createHashHex(b)}`;
}

function createHashHex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function readHead(file: string): Promise<Buffer> {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const n = readSync(fd, b, 0, 4, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function diffMismatch(i: number, expected: string, got: string): WharfError {
  return new WharfError('InvalidArgument', `layer ${i}: diffID mismatch: the config says ${expected}, the content is ${got}`);
}

function labelMatch(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

function platformMatches(p: NonNullable<Descriptor['platform']>, want: Platform): boolean {
  return p.os === want.os && p.architecture === want.architecture && (want.variant === undefined || p.variant === undefined || p.variant === want.variant);
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}
