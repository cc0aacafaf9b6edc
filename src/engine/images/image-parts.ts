import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { ContentStore } from '../../oci/content-store.js';
import type { Platform } from '../../oci/manifest.js';
import type { EngineDb } from '../db.js';
import type { LayerStore } from '../snapshots/layer-store.js';
import type { UnpackLimits } from '../snapshots/unpack.js';
import type { ArchiveLimits } from './archive-reader.js';
import type { ImageRecords } from './image-records.js';

// What the parts of the image service (load, prune, transfer, save) share: the options, the
// reference store, the content and layer stores, the clock and the logger. ImageService makes
// one set and hands it to each part.

export interface ImageServiceOptions {
  dataRoot: string;
  db: EngineDb;
  logger: Logger;
  clock?: Clock;
  /** Platform picked from indexes / manifest lists (default linux/amd64). */
  platform?: Platform;
  limits?: { archive?: Partial<ArchiveLimits>; unpack?: Partial<UnpackLimits> };
}

export interface ImageParts {
  opts: ImageServiceOptions;
  records: ImageRecords;
  content: ContentStore;
  layers: LayerStore;
  clock: Clock;
  log: Logger;
}

/** The base of each part: the shared parts as fields. */
export abstract class ImageStorePart {
  protected readonly opts: ImageServiceOptions;
  protected readonly records: ImageRecords;
  protected readonly content: ContentStore;
  protected readonly layers: LayerStore;
  protected readonly clock: Clock;
  protected readonly log: Logger;

  constructor(p: ImageParts) {
    this.opts = p.opts;
    this.records = p.records;
    this.content = p.content;
    this.layers = p.layers;
    this.clock = p.clock;
    this.log = p.log;
  }
}
