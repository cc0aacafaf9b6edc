import { existsSync, rmSync } from 'node:fs';
import { WharfError } from '../../core/errors.js';
import { syncFiles } from '../../oci/content-store.js';
import { chainIds as computeChainIds, type LayerInfo } from '../snapshots/layer-store.js';
import type { StagedFile } from './archive-reader.js';
import { parseImageConfig } from '../../oci/manifest.js';
import { formatReference, type Reference } from '../../oci/reference.js';
import { ImageStorePart } from './image-parts.js';
import { diffMismatch, noSuchImage, type ImageRow, type LayerBlob } from './image-records.js';

// The store's side of pull and push (ImageDistribution drives them): staging, blob sources for
// cross-repository mounts, the compressed blobs mapped to diffIDs, push plans, and the commit of
// a verified pull.

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

/** What pull and push need from the store. */
export class ImageTransfers extends ImageStorePart {

  // ---------- pull / push support (used by ImageDistribution) ----------

  /** The image with this config digest, if stored and all its layers are unpacked. */
  completeImage(id: string): boolean {
    const r = this.records.row(id);
    return r !== undefined && (JSON.parse(r.chain_ids) as string[]).every((c) => this.layers.has(c));
  }

  /** Image ID a full reference (`docker.io/library/busybox:latest`) points to, if any. */
  refTarget(fullRef: string): string | undefined {
    return (this.records.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(fullRef) as { image_id: string } | undefined)?.image_id;
  }

  /** A staging directory for pulls (removed by the caller; cleared at start-up). */
  pullStagingDir(): string {
    return this.records.stagingDir();
  }

  /** Adds a tag and/or a digest reference to an existing image. */
  async addRefs(id: string, refs: { tag?: Reference; digestName?: string }): Promise<void> {
    return this.records.exclusive(async () => {
      if (!this.records.row(id)) throw noSuchImage(id);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        const ir = this.records.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
        if (refs.tag) ir.run(formatReference(refs.tag), id, 'tag', now);
        if (refs.digestName) ir.run(refs.digestName, id, 'digest', now);
        if (refs.tag) this.records.sql.prepare('UPDATE images SET last_tag_time = ? WHERE id = ?').run(now, id);
      });
    });
  }

  /** Remembers that `blob` is in `repository` on `registry` (for cross-repository mounts). */
  recordBlobSource(blob: string, registry: string, repository: string): void {
    this.records.sql.prepare('INSERT OR IGNORE INTO blob_sources (blob_digest, registry, repository) VALUES (?, ?, ?)').run(blob, registry, repository);
  }

  blobSources(blob: string, registry: string): string[] {
    return (this.records.sql.prepare('SELECT repository FROM blob_sources WHERE blob_digest = ? AND registry = ?').all(blob, registry) as { repository: string }[]).map((r) => r.repository);
  }

  /** A stored blob whose uncompressed content is `diffId` and whose media type is in `mediaTypes`. */
  blobForDiffId(diffId: string, mediaTypes: readonly string[]): { digest: string; mediaType: string; size: number } | undefined {
    const rows = this.records.sql.prepare('SELECT blob_digest, media_type FROM layer_blobs WHERE diff_id = ?').all(diffId) as { blob_digest: string; media_type: string }[];
    for (const r of rows) {
      if (!mediaTypes.includes(r.media_type)) continue;
      const info = this.content.info(r.blob_digest);
      if (info) return { digest: r.blob_digest, mediaType: r.media_type, size: info.size };
    }
    return undefined;
  }

  /** What a push needs: config, layers (diffID + stored blob) and the stored manifest. */
  pushPlan(id: string): { config: Buffer; layers: { diffId: string; blob: LayerBlob }[]; manifest?: { body: Buffer; digest: string; mediaType: string } } {
    const r = this.records.row(id);
    if (!r) throw noSuchImage(id);
    const config = this.content.readBuffer(id);
    const cfg = parseImageConfig(config, `image config ${id}`);
    const blobs = JSON.parse(r.layer_blobs) as LayerBlob[];
    const layers = cfg.rootfs.diff_ids.map((diffId, i) => ({ diffId, blob: blobs[i]! }));
    const plan: ReturnType<ImageTransfers['pushPlan']> = { config, layers };
    if (r.has_repo_digest && this.content.has(r.manifest_digest)) {
      plan.manifest = { body: this.content.readBuffer(r.manifest_digest, 4 * 1024 * 1024), digest: r.manifest_digest, mediaType: r.manifest_media_type };
    }
    return plan;
  }

  /** Stores a compressed copy of a layer (made for a push) and maps it to its diffID. */
  async adoptLayerBlob(tempPath: string, info: { digest: string; size: number }, diffId: string, mediaType: string): Promise<void> {
    await syncFiles([tempPath]);
    this.content.adopt(tempPath, info.digest);
    this.records.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)').run(info.digest, diffId, mediaType);
  }

  /**
   * After a push: the image's layers are the pushed (compressed) blobs and its manifest the pushed one,
   * stored, so a later push skips and save and pull-by-digest agree; `name@digest` is added.
   */
  async recordPush(id: string, pushed: { layers: LayerBlob[]; manifest: Buffer; manifestDigest: string; mediaType: string; digestName: string }): Promise<void> {
    const w = this.content.writer();
    w.write(pushed.manifest);
    await w.commit({ digest: pushed.manifestDigest });
    return this.records.exclusive(async () => {
      if (!this.records.row(id)) throw noSuchImage(id);
      const now = this.clock.now();
      this.opts.db.tx(() => {
        this.records.sql
          .prepare('UPDATE images SET layer_blobs = ?, manifest_digest = ?, manifest_media_type = ?, has_repo_digest = 1 WHERE id = ?')
          .run(JSON.stringify(pushed.layers), pushed.manifestDigest, pushed.mediaType, id);
        this.records.sql.prepare("INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, 'digest', ?)").run(pushed.digestName, id, now);
      });
    });
  }

  /**
   * Commits a pulled image: staged blobs (verified by the caller) move into the content store,
   * unpacked temp dirs are published, and rows are written in one transaction. On error nothing stays.
   */
  async commitPulled(p: PulledImage): Promise<void> {
    return this.records.exclusive(async () => {
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
          const ib = this.records.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)');
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
          this.records.sql
            .prepare(`INSERT INTO images (id, manifest_digest, manifest_media_type, has_repo_digest, created, created_iso, size, parent, chain_ids, layer_blobs, labels, loaded_at, last_tag_time)
              VALUES (@id, @manifest_digest, @manifest_media_type, @has_repo_digest, @created, @created_iso, @size, @parent, @chain_ids, @layer_blobs, @labels, @loaded_at, @last_tag_time)
              ON CONFLICT(id) DO UPDATE SET last_tag_time = excluded.last_tag_time, manifest_digest = excluded.manifest_digest,
                manifest_media_type = excluded.manifest_media_type, layer_blobs = excluded.layer_blobs, has_repo_digest = 1`)
            .run(row);
          const ir = this.records.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
          if (p.tag) ir.run(formatReference(p.tag), row.id, 'tag', now);
          ir.run(p.digestName, row.id, 'digest', now);
          const src = this.records.sql.prepare('INSERT OR IGNORE INTO blob_sources (blob_digest, registry, repository) VALUES (?, ?, ?)');
          for (const l of p.layers) src.run(l.digest, p.source.registry, p.source.repository);
          src.run(p.config.digest, p.source.registry, p.source.repository);
        });
      } catch (err) {
        for (const c of newDirs) rmSync(this.layers.path(c), { recursive: true, force: true });
        for (const d of newBlobs) if (!this.records.referencedBlobs().has(d)) this.content.delete(d);
        throw err;
      } finally {
        for (const l of p.layers) if (l.unpacked && existsSync(l.unpacked.tmp)) rmSync(l.unpacked.tmp, { recursive: true, force: true });
      }
    });
  }
}
