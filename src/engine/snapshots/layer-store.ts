import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { WharfError } from '../../core/errors.js';
import type { EngineDb, Migration } from '../db.js';
import { ensureWhiteoutTemplate, unpackLayer, type UnpackLimits, type UnpackResult } from './unpack.js';

// Unpacked layers: DATA_ROOT/layers/<chainid-hex>/, read-only, shared between images, created
// atomically (unpack into layers/tmp-*, then rename). The directory's existence means "complete";
// the `layers` table records sizes. Snapshots (per-container upper/work) are recorded in
// `snapshots` so their layers are never collected under a container.

export const LAYER_MIGRATIONS: Migration[] = [
  {
    name: 'layers and snapshots',
    up: (db) =>
      db.exec(`
        CREATE TABLE layers (
          chain_id TEXT PRIMARY KEY,
          diff_id TEXT NOT NULL,
          parent TEXT NOT NULL DEFAULT '',
          size INTEGER NOT NULL,
          tar_size INTEGER NOT NULL,
          created_at INTEGER NOT NULL
        );
        CREATE TABLE snapshots (
          container_id TEXT PRIMARY KEY,
          image_id TEXT NOT NULL,
          chain_ids TEXT NOT NULL,
          created_at INTEGER NOT NULL
        );`),
  },
];

export interface LayerInfo {
  chainId: string;
  diffId: string;
  parent: string;
  size: number;
  tarSize: number;
}

export function chainIdOf(parentChain: string, diffId: string): string {
  if (parentChain === '') return diffId;
  return `sha256:${createHash('sha256').update(`${parentChain} ${diffId}`).digest('hex')}`;
}

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent = '';
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

export class LayerStore {
  readonly dir: string;
  readonly whiteoutTemplate: string;
  private templateReady: Promise<string> | undefined;

  constructor(
    readonly opts: { dataRoot: string; db: EngineDb; limits?: Partial<UnpackLimits> },
  ) {
    this.dir = join(opts.dataRoot, 'layers');
    this.whiteoutTemplate = join(this.dir, '.whiteout');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    opts.db.migrate('layers', LAYER_MIGRATIONS);
  }

  path(chainId: string): string {
    if (!/^sha256:[a-f0-9]{64}$/.test(chainId)) throw new WharfError('InvalidArgument', `bad chain ID ${chainId}`);
    return join(this.dir, chainId.slice(7));
  }

  /** True if the layer is unpacked and recorded. */
  has(chainId: string): boolean {
    return this.get(chainId) !== undefined && existsSync(this.path(chainId));
  }

  get(chainId: string): LayerInfo | undefined {
    const r = this.opts.db.sql.prepare('SELECT chain_id, diff_id, parent, size, tar_size FROM layers WHERE chain_id = ?').get(chainId) as
      | { chain_id: string; diff_id: string; parent: string; size: number; tar_size: number }
      | undefined;
    return r && { chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, size: r.size, tarSize: r.tar_size };
  }

  /**
   * Unpacks `source` into a temp dir and returns it with the computed diffID; `publish` moves it into
   * place. Split in two so a caller can verify the diffID before anything becomes visible.
   */
  async unpackToTemp(source: Readable, signal?: AbortSignal): Promise<{ tmp: string; result: UnpackResult }> {
    this.templateReady ??= ensureWhiteoutTemplate(this.whiteoutTemplate);
    const template = await this.templateReady;
    const tmp = join(this.dir, `tmp-${randomBytes(8).toString('hex')}`);
    mkdirSync(tmp, { mode: 0o755 });
    try {
      const result = await unpackLayer(source, tmp, { whiteoutTemplate: template, ...(this.opts.limits ? { limits: this.opts.limits } : {}), ...(signal ? { signal } : {}) });
      return { tmp, result };
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Moves an unpacked temp dir into place (or drops it if another load won the race). Returns true if new. */
  publish(tmp: string, chainId: string): boolean {
    const dest = this.path(chainId);
    if (existsSync(dest)) {
      rmSync(tmp, { recursive: true, force: true });
      return false;
    }
    renameSync(tmp, dest);
    return true;
  }

  /** Records a published layer (inside the caller's transaction). */
  record(info: LayerInfo, now: number): void {
    this.opts.db.sql
      .prepare('INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, tar_size, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(info.chainId, info.diffId, info.parent, info.size, info.tarSize, now);
  }

  /** Removes a layer directory and row. */
  remove(chainId: string): void {
    rmSync(this.path(chainId), { recursive: true, force: true });
    this.opts.db.sql.prepare('DELETE FROM layers WHERE chain_id = ?').run(chainId);
  }

  /** Start-up clean-up: temp dirs of interrupted unpacks and directories with no row. */
  recover(): string[] {
    const removed: string[] = [];
    const known = new Set(
      (this.opts.db.sql.prepare('SELECT chain_id FROM layers').all() as { chain_id: string }[]).map((r) => r.chain_id.slice(7)),
    );
    for (const n of readdirSync(this.dir)) {
      if (n === '.whiteout') continue;
      if (n.startsWith('tmp-') || (/^[a-f0-9]{64}$/.test(n) && !known.has(n))) {
        rmSync(join(this.dir, n), { recursive: true, force: true });
        removed.push(n);
      }
    }
    // Rows whose directory vanished are dropped, so the layer is unpacked again on next load.
    for (const id of known) {
      if (!existsSync(join(this.dir, id))) this.opts.db.sql.prepare('DELETE FROM layers WHERE chain_id = ?').run(`sha256:${id}`);
    }
    return removed;
  }

  /** Chain IDs referenced by snapshots (containers). */
  snapshotChains(): Set<string> {
    const out = new Set<string>();
    for (const r of this.opts.db.sql.prepare('SELECT chain_ids FROM snapshots').all() as { chain_ids: string }[]) {
      for (const c of JSON.parse(r.chain_ids) as string[]) out.add(c);
    }
    return out;
  }

  all(): LayerInfo[] {
    return (this.opts.db.sql.prepare('SELECT chain_id, diff_id, parent, size, tar_size FROM layers').all() as {
      chain_id: string;
      diff_id: string;
      parent: string;
      size: number;
      tar_size: number;
    }[]).map((r) => ({ chainId: r.chain_id, diffId: r.diff_id, parent: r.parent, size: r.size, tarSize: r.tar_size }));
  }
}
