import { WharfError } from '../../core/errors.js';
import { shortId } from '../../core/ids.js';
import type { LayerInfo } from '../snapshots/layer-store.js';
import { familiarString, parseReference, repoName } from '../../oci/reference.js';
import type { ImageDeleteItem, ImageListFilters, ImageSummary, PruneOptions, PruneResult, RemoveOptions } from './types.js';
import { ImageStorePart, type ImageParts } from './image-parts.js';

// Untag and delete (`docker rmi`), garbage collection of unreferenced layers and blobs, and
// `docker image prune`.

/** Removes images and collects garbage. */
export class ImagePruner extends ImageStorePart {
  constructor(
    p: ImageParts,
    /** The image list with its filters (ImageService.list), which prune selects from. */
    private readonly list: (filters: ImageListFilters) => Promise<ImageSummary[]>,
  ) {
    super(p);
  }

  async remove(ref: string, opts: RemoveOptions = {}): Promise<ImageDeleteItem[]> {
    return this.records.exclusive(async () => this.removeLocked(ref, opts));
  }

  private removeLocked(ref: string, opts: RemoveOptions): ImageDeleteItem[] {
    const resolved = this.records.resolveSync(ref);
    const id = resolved.id;
    const refs = this.records.refsOf(id);
    const useRaw = opts.inUse?.(id) ?? false;
    const use = typeof useRaw === 'object' ? useRaw.state : useRaw;
    const usedBy = typeof useRaw === 'object' ? useRaw.container : undefined;
    const running = use === 'running';
    const out: ImageDeleteItem[] = [];
    const untag = (name: string) => {
      this.records.sql.prepare('DELETE FROM image_refs WHERE name = ?').run(name);
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
      const parent: string = this.records.row(cur)?.parent ?? '';
      const target: string = cur;
      this.opts.db.tx(() => {
        this.records.sql.prepare('DELETE FROM image_refs WHERE image_id = ?').run(target);
        this.records.sql.prepare('DELETE FROM images WHERE id = ?').run(target);
      });
      out.push({ Deleted: target });
      cur = undefined;
      if (opts.noprune || parent === '' || !this.records.row(parent)) break;
      if (this.records.refsOf(parent).length > 0 || opts.inUse?.(parent)) break;
      const children = this.records.sql.prepare('SELECT COUNT(*) AS n FROM images WHERE parent = ?').get(parent) as { n: number };
      if (children.n === 0) cur = parent;
    }
    for (const c of this.collectLayers()) out.push({ Deleted: c.chainId });
    this.collectBlobs();
    return out;
  }

  private collectLayers(): LayerInfo[] {
    const used = this.layers.snapshotChains();
    for (const r of this.records.rows()) for (const c of JSON.parse(r.chain_ids) as string[]) used.add(c);
    const removed: LayerInfo[] = [];
    for (const l of this.layers.all()) {
      if (used.has(l.chainId)) continue;
      this.layers.remove(l.chainId);
      removed.push(l);
    }
    return removed;
  }

  private collectBlobs(): number {
    const refs = this.records.referencedBlobs();
    const res = this.content.gc(refs);
    if (res.removed.length) {
      const del = this.records.sql.prepare('DELETE FROM layer_blobs WHERE blob_digest = ?');
      for (const d of res.removed) del.run(d);
    }
    return res.bytes;
  }

  /** Garbage-collects unreferenced layers and blobs; returns bytes freed. */
  async gc(): Promise<number> {
    return this.records.exclusive(async () => {
      let bytes = 0;
      for (const l of this.collectLayers()) bytes += l.size;
      return bytes + this.collectBlobs();
    });
  }

  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    return this.records.exclusive(async () => {
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
        const refs = this.records.refsOf(img.id);
        for (const r of refs) {
          this.records.sql.prepare('DELETE FROM image_refs WHERE name = ?').run(r.name);
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
}
