import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { ContentStore, type BlobWriter } from '../../oci/content-store.js';
import { LayerStore } from '../snapshots/layer-store.js';
import { familiarString, formatReference, matchReferenceFilter, parseReference, tagReference } from '../../oci/reference.js';
import { IMAGE_MIGRATIONS } from './schema.js';
import type { ImageConfigDoc, ImageDetail, ImageDiskUsage, ImageHistoryItem, ImageListFilters, ImageSummary, ResolvedImage } from './types.js';
import { ImageLoader } from './image-load.js';
import type { ImageServiceOptions } from './image-parts.js';
import { ImagePruner } from './image-prune.js';
import { ImageRecords, noSuchImage } from './image-records.js';
import { ImageSaver } from './image-save.js';
import { ImageTransfers } from './image-transfer.js';

export type * from './types.js';
export type { ImageServiceOptions } from './image-parts.js';

/**
 * The image store facade: the one thing other engine code and the Docker API use. It answers the
 * queries itself and hands the rest to its parts, which share one reference store
 * (image-records.ts): load/import/build commits (image-load.ts), removal and prune
 * (image-prune.ts), the store's side of pull and push (image-transfer.ts) and save (image-save.ts).
 * Errors are WharfErrors: NotFound ("No such image: X"), Conflict (in use, several tags),
 * InvalidArgument (bad reference, bad archive), TooLarge, Internal.
 */
export class ImageService {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  private readonly clock: Clock;
  private readonly log: Logger;

  private readonly records: ImageRecords;
  private readonly loader: ImageLoader;
  private readonly pruner: ImagePruner;
  private readonly transfers: ImageTransfers;
  private readonly saver: ImageSaver;

  constructor(readonly opts: ImageServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'images' });
    opts.db.migrate('images', IMAGE_MIGRATIONS);
    this.content = new ContentStore({ dataRoot: opts.dataRoot });
    this.layers = new LayerStore({ dataRoot: opts.dataRoot, db: opts.db, ...(opts.limits?.unpack ? { limits: opts.limits.unpack } : {}) });
    this.records = new ImageRecords(opts, this.content);
    const parts = { opts, records: this.records, content: this.content, layers: this.layers, clock: this.clock, log: this.log };
    this.loader = new ImageLoader(parts);
    this.pruner = new ImagePruner(parts, (filters) => this.list(filters));
    this.transfers = new ImageTransfers(parts);
    this.saver = new ImageSaver(parts);
    this.recover();
  }

  /** Start-up: drop staging dirs and temp files of interrupted loads, and half-made layers. */
  private recover(): void {
    for (const n of readdirSync(this.content.ingestDir)) rmSync(join(this.content.ingestDir, n), { recursive: true, force: true });
    const removed = this.layers.recover();
    if (removed.length) this.log.info({ removed }, 'removed incomplete layers left by an interrupted load');
  }

  /** Chain IDs of an image's layers, bottom first (for the snapshotter). */
  chainIds(imageId: string): string[] {
    const r = this.records.row(imageId);
    if (!r) throw noSuchImage(imageId);
    return JSON.parse(r.chain_ids) as string[];
  }

  async resolve(ref: string): Promise<ResolvedImage> {
    return this.records.resolveSync(ref);
  }

  async list(filters: ImageListFilters = {}): Promise<ImageSummary[]> {
    let rows = this.records.rows();
    const allRefs = this.records.sql.prepare('SELECT name, kind, image_id FROM image_refs ORDER BY name').all() as {
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
    const createdOf = (ref: string) => this.records.row(this.records.resolveSync(ref).id)!.created;
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
    let out = rows.map((r) => this.records.summary(r, refsBy.get(r.id) ?? []));
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

  async inspect(ref: string): Promise<ImageDetail> {
    const { id } = this.records.resolveSync(ref);
    const r = this.records.row(id)!;
    const cfg = this.records.configOf(id);
    const d: ImageDetail = {
      ...this.records.summary(r),
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
    const { id } = this.records.resolveSync(ref);
    const r = this.records.row(id)!;
    const cfg = this.records.configOf(id);
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
      items[0].tags = this.records.summary(r).repoTags;
    }
    return items;
  }

  async diskUsage(): Promise<ImageDiskUsage> {
    const rows = this.records.rows();
    const uses = new Map<string, number>();
    for (const r of rows) for (const c of JSON.parse(r.chain_ids) as string[]) uses.set(c, (uses.get(c) ?? 0) + 1);
    const sizeOf = new Map(this.layers.all().map((l) => [l.chainId, l.size]));
    const images = rows.map((r) => {
      const chains = JSON.parse(r.chain_ids) as string[];
      let shared = 0;
      for (const c of chains) if ((uses.get(c) ?? 0) > 1) shared += sizeOf.get(c) ?? 0;
      return { ...this.records.summary(r), sharedSize: shared, uniqueSize: r.size - shared };
    });
    let layersSize = 0;
    for (const s of sizeOf.values()) layersSize += s;
    return { images, layersSize };
  }

  // ---------- tags and removal ----------

  async tag(ref: string, repo: string, tag?: string): Promise<void> {
    return this.records.exclusive(async () => {
      const { id } = this.records.resolveSync(ref);
      const target = tagReference(repo, tag);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        this.records.sql.prepare("INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, 'tag', ?)").run(formatReference(target), id, now);
        this.records.sql.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(now, id);
      });
    });
  }

  // ---------- builds ----------

  /** A writer for a layer tar the builder stages (same file system as the store; removed at start-up if left). */
  layerWriter(): BlobWriter {
    return this.content.writer();
  }

  /** The stored image config document of an image. */
  configDoc(ref: string): ImageConfigDoc {
    return this.records.configOf(this.records.resolveSync(ref).id);
  }
  // ---------- load, import, builds (ImageLoader) ----------

  load(...a: Parameters<ImageLoader['load']>): ReturnType<ImageLoader['load']> {
    return this.loader.load(...a);
  }

  importRootfs(...a: Parameters<ImageLoader['importRootfs']>): ReturnType<ImageLoader['importRootfs']> {
    return this.loader.importRootfs(...a);
  }

  bootstrapBusybox(...a: Parameters<ImageLoader['bootstrapBusybox']>): ReturnType<ImageLoader['bootstrapBusybox']> {
    return this.loader.bootstrapBusybox(...a);
  }

  commitBuild(...a: Parameters<ImageLoader['commitBuild']>): ReturnType<ImageLoader['commitBuild']> {
    return this.loader.commitBuild(...a);
  }

  // ---------- removal and garbage collection (ImagePruner) ----------

  remove(...a: Parameters<ImagePruner['remove']>): ReturnType<ImagePruner['remove']> {
    return this.pruner.remove(...a);
  }

  /** Garbage-collects unreferenced layers and blobs; returns bytes freed. */
  gc(): Promise<number> {
    return this.pruner.gc();
  }

  prune(...a: Parameters<ImagePruner['prune']>): ReturnType<ImagePruner['prune']> {
    return this.pruner.prune(...a);
  }

  // ---------- pull / push support (ImageTransfers, used by ImageDistribution) ----------

  completeImage(...a: Parameters<ImageTransfers['completeImage']>): ReturnType<ImageTransfers['completeImage']> {
    return this.transfers.completeImage(...a);
  }

  refTarget(...a: Parameters<ImageTransfers['refTarget']>): ReturnType<ImageTransfers['refTarget']> {
    return this.transfers.refTarget(...a);
  }

  pullStagingDir(...a: Parameters<ImageTransfers['pullStagingDir']>): ReturnType<ImageTransfers['pullStagingDir']> {
    return this.transfers.pullStagingDir(...a);
  }

  addRefs(...a: Parameters<ImageTransfers['addRefs']>): ReturnType<ImageTransfers['addRefs']> {
    return this.transfers.addRefs(...a);
  }

  recordBlobSource(...a: Parameters<ImageTransfers['recordBlobSource']>): ReturnType<ImageTransfers['recordBlobSource']> {
    return this.transfers.recordBlobSource(...a);
  }

  blobSources(...a: Parameters<ImageTransfers['blobSources']>): ReturnType<ImageTransfers['blobSources']> {
    return this.transfers.blobSources(...a);
  }

  blobForDiffId(...a: Parameters<ImageTransfers['blobForDiffId']>): ReturnType<ImageTransfers['blobForDiffId']> {
    return this.transfers.blobForDiffId(...a);
  }

  pushPlan(...a: Parameters<ImageTransfers['pushPlan']>): ReturnType<ImageTransfers['pushPlan']> {
    return this.transfers.pushPlan(...a);
  }

  adoptLayerBlob(...a: Parameters<ImageTransfers['adoptLayerBlob']>): ReturnType<ImageTransfers['adoptLayerBlob']> {
    return this.transfers.adoptLayerBlob(...a);
  }

  recordPush(...a: Parameters<ImageTransfers['recordPush']>): ReturnType<ImageTransfers['recordPush']> {
    return this.transfers.recordPush(...a);
  }

  commitPulled(...a: Parameters<ImageTransfers['commitPulled']>): ReturnType<ImageTransfers['commitPulled']> {
    return this.transfers.commitPulled(...a);
  }

  // ---------- save (ImageSaver) ----------

  /** A docker-archive tar (manifest.json + OCI layout, like docker 25+) of the given images; refs resolved before streaming starts. */
  save(...a: Parameters<ImageSaver['save']>): ReturnType<ImageSaver['save']> {
    return this.saver.save(...a);
  }
}

function labelMatch(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}
