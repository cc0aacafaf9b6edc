import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import type { EngineDb } from '../db.js';
import { LAYER_MIGRATIONS } from './layer-store.js';
import type { Mount, Snapshotter } from './snapshotter.js';

// Overlay snapshots: the image's read-only layers (DATA_ROOT/layers/<chainid>) as lowerdirs, plus a
// per-container upper and work dir under DATA_ROOT/containers/<id>/ (`upper`, `work`). `prepare`
// only creates two directories and returns the mount description: no hashing, no tree walk.

/** What the snapshotter needs from the image store. */
export interface ImageLayers {
  chainIds(imageId: string): string[];
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/** Linux caps mount options at one page. */
const MAX_OPTIONS = 4000;

/**
 * The overlay mount over `lower` (bottom layer last, as overlayfs lists them): writable with an
 * upper and work dir, else read-only. Refused when the options would not fit in one page.
 */
export function overlayMounts(lower: string[], writable?: { upper: string; work: string }): Mount[] {
  const options = writable
    ? [`lowerdir=${lower.join(':')}`, `upperdir=${writable.upper}`, `workdir=${writable.work}`, 'index=off']
    : ['ro', `lowerdir=${lower.join(':')}`];
  if (options.join(',').length > MAX_OPTIONS) {
    throw new WharfError('Unsupported', `image has ${lower.length} layers: the overlay mount options exceed one page`);
  }
  return [{ type: 'overlay', source: 'overlay', options }];
}

export class OverlaySnapshotter implements Snapshotter {
  constructor(readonly opts: { dataRoot: string; db: EngineDb; images: ImageLayers; clock?: { now(): number } }) {
    opts.db.migrate('layers', LAYER_MIGRATIONS);
  }

  private dirs(containerId: string): { upper: string; work: string; base: string } {
    if (!ID_RE.test(containerId)) throw new WharfError('InvalidArgument', `bad container ID ${JSON.stringify(containerId)}`);
    const base = join(this.opts.dataRoot, 'containers', containerId);
    return { base, upper: join(base, 'upper'), work: join(base, 'work') };
  }

  private describe(containerId: string, chains: string[]): Mount[] {
    return overlayMounts(this.lowerDirs(chains), this.dirs(containerId));
  }

  private lowerDirs(chains: string[]): string[] {
    return chains
      .slice()
      .reverse()
      .map((c) => join(this.opts.dataRoot, 'layers', c.slice(7)));
  }

  /**
   * The mounts of a temporary view of an image that no container record owns (the builder's
   * steps): writable over `writable`'s upper/work dirs, or read-only. The image must have layers.
   */
  viewMounts(imageId: string, writable?: { upper: string; work: string }): Mount[] {
    const chains = this.opts.images.chainIds(imageId);
    if (chains.length === 0) throw new WharfError('InvalidArgument', `image ${imageId} has no layers`);
    return overlayMounts(this.lowerDirs(chains), writable);
  }

  async prepare(containerId: string, imageId: string): Promise<Mount[]> {
    const chains = this.opts.images.chainIds(imageId);
    if (chains.length === 0) throw new WharfError('InvalidArgument', `image ${imageId} has no layers`);
    for (const c of chains) {
      if (!existsSync(join(this.opts.dataRoot, 'layers', c.slice(7)))) throw new WharfError('Internal', `layer ${c} of ${imageId} is missing on disk`);
    }
    const { upper, work } = this.dirs(containerId);
    const existing = this.opts.db.sql.prepare('SELECT image_id, chain_ids FROM snapshots WHERE container_id = ?').get(containerId) as
      | { image_id: string; chain_ids: string }
      | undefined;
    if (existing && existing.image_id !== imageId) {
      throw new WharfError('AlreadyExists', `snapshot for container ${containerId} already exists with image ${existing.image_id}`);
    }
    mkdirSync(upper, { recursive: true, mode: 0o755 });
    mkdirSync(work, { recursive: true, mode: 0o700 });
    if (!existing) {
      this.opts.db.sql
        .prepare('INSERT INTO snapshots (container_id, image_id, chain_ids, created_at) VALUES (?, ?, ?, ?)')
        .run(containerId, imageId, JSON.stringify(chains), (this.opts.clock ?? Date).now());
    }
    return this.describe(containerId, chains);
  }

  async mounts(containerId: string): Promise<Mount[]> {
    const r = this.opts.db.sql.prepare('SELECT chain_ids FROM snapshots WHERE container_id = ?').get(containerId) as { chain_ids: string } | undefined;
    if (!r) throw new WharfError('NotFound', `no snapshot for container ${containerId}`);
    return this.describe(containerId, JSON.parse(r.chain_ids) as string[]);
  }

  async mount(mounts: Mount[], target: string): Promise<void> {
    for (const m of mounts) {
      if (m.type !== 'overlay' && m.type !== 'bind') throw new WharfError('Unsupported', `mount type ${m.type}`);
      const argv = m.type === 'bind' ? ['mount', '--bind', m.source, target] : ['mount', '-t', m.type, m.source, '-o', m.options.join(','), target];
      await run(argv, { timeoutMs: 30_000 });
    }
  }

  async unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
    const r = await run(opts.lazy ? ['umount', '-l', target] : ['umount', target], { allowFailure: true, timeoutMs: 30_000 });
    if (r.code !== 0 && !/not mounted|no mount point|not found/i.test(r.stderr)) {
      throw new WharfError('Internal', `umount ${target}: ${r.stderr.trim()}`);
    }
  }

  async remove(containerId: string): Promise<void> {
    const { upper, work } = this.dirs(containerId);
    rmSync(upper, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    this.opts.db.sql.prepare('DELETE FROM snapshots WHERE container_id = ?').run(containerId);
  }
}
