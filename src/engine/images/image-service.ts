import type { Readable } from 'node:stream';
import type { Logger } from '../../core/log.js';
import { WharfError } from '../../core/errors.js';
import type { EngineDb } from '../db.js';
import type {
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
}

/**
 * The image store facade: the one thing other engine code and the Docker API use.
 * Errors are WharfErrors: NotFound ("No such image: X"), Conflict (in use, several tags),
 * InvalidArgument (bad reference, bad archive), TooLarge, Internal.
 */
export class ImageService {
  constructor(readonly opts: ImageServiceOptions) {}

  /** Images, newest first. */
  async list(_filters: ImageListFilters = {}): Promise<ImageSummary[]> {
    throw unsupported('list');
  }

  /** Accepts a name (`busybox`, `busybox:1`, `localhost:5000/x`), `name@sha256:…`, a full or short ID. */
  async inspect(_ref: string): Promise<ImageDetail> {
    throw unsupported('inspect');
  }

  async history(_ref: string): Promise<ImageHistoryItem[]> {
    throw unsupported('history');
  }

  async resolve(_ref: string): Promise<ResolvedImage> {
    throw unsupported('resolve');
  }

  /** Tags image `ref` as `repo:tag` (`repo` may be fully normalised, e.g. `docker.io/library/busybox`). */
  async tag(_ref: string, _repo: string, _tag?: string): Promise<void> {
    throw unsupported('tag');
  }

  /** Docker's DELETE /images/{name}: untag or delete, Docker's Untagged/Deleted list. */
  async remove(_ref: string, _opts: RemoveOptions = {}): Promise<ImageDeleteItem[]> {
    throw unsupported('remove');
  }

  async prune(_opts: PruneOptions = {}): Promise<PruneResult> {
    throw unsupported('prune');
  }

  /** docker-archive (legacy and OCI-layout forms) or OCI image-layout tar. All or nothing. */
  async load(_stream: Readable, _onProgress?: ProgressFn, _opts: { signal?: AbortSignal } = {}): Promise<LoadResult> {
    throw unsupported('load');
  }

  /** A docker-archive tar (manifest.json + OCI layout) of the given images; refs resolved before streaming starts. */
  async save(_refs: string[], _opts: { signal?: AbortSignal; onProgress?: ProgressFn } = {}): Promise<Readable> {
    throw unsupported('save');
  }

  /** `docker import`: one rootfs tar (plain, gzip or zstd) becomes a one-layer image. */
  async importRootfs(_stream: Readable, _opts: ImportOptions = {}): Promise<{ id: string }> {
    throw unsupported('importRootfs');
  }

  async diskUsage(): Promise<ImageDiskUsage> {
    throw unsupported('diskUsage');
  }

  /** Builds `busybox:latest` from the host's /bin/busybox (busybox-static), if it is not there yet. */
  async bootstrapBusybox(_opts: { busyboxPath?: string; ref?: string } = {}): Promise<{ id: string; created: boolean }> {
    throw unsupported('bootstrapBusybox');
  }
}

function unsupported(what: string): WharfError {
  return new WharfError('Unsupported', `image store: ${what} is not implemented yet`);
}
