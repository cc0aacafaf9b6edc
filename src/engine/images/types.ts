// Domain types of the image store. The Docker API adapter (src/dockerapi) turns these into
// Docker's JSON shapes (PascalCase); `config` keeps the OCI/Docker image-config field names
// because it *is* that document.

import type { ImageRuntimeConfig } from '../../oci/image-config.js';

// The image config document is an OCI format (src/oci); the engine's view types embed it.
export type { ImageConfigDoc, ImageHistoryEntry, ImageRuntimeConfig } from '../../oci/image-config.js';

/** One row of `list`: enough for GET /images/json. */
export interface ImageSummary {
  /** `sha256:<hex>` of the config blob. */
  id: string;
  /** `sha256:…` or '' when the image has no parent. */
  parentId: string;
  /** Familiar names, as Docker shows them: `busybox:latest`, `localhost:5000/x:1`. */
  repoTags: string[];
  /** Familiar `name@sha256:<manifest digest>`. */
  repoDigests: string[];
  /** Unix seconds (0 if the config has no `created`). */
  created: number;
  /** Sum of the uncompressed layer sizes (what Docker calls Size). */
  size: number;
  labels: Record<string, string>;
}

/** Everything GET /images/{name}/json needs. */
export interface ImageDetail extends ImageSummary {
  /** ISO-8601 creation time as stored in the config ('' if none). */
  createdIso: string;
  architecture: string;
  os: string;
  variant?: string;
  author: string;
  comment: string;
  dockerVersion: string;
  /** The runtime config (Cmd, Env, Entrypoint, …), never undefined. */
  config: ImageRuntimeConfig;
  rootFS: { type: 'layers'; layers: string[] /* diffIDs */ };
  /** Digest and media type of the manifest the image was loaded through. */
  manifestDigest: string;
  manifestMediaType: string;
  /** Chain IDs of the layers, bottom first (as the snapshotter uses them). */
  chainIds: string[];
  /** When Wharf stored (last tagged) the image: ISO-8601, for `Metadata.LastTagTime`. */
  lastTagTime: string;
}

/** One row of GET /images/{name}/history (newest first, like Docker). */
export interface ImageHistoryItem {
  /** Image ID for the top row, `<missing>` for the rest (like Docker for loaded images). */
  id: string;
  /** Unix seconds. */
  created: number;
  createdBy: string;
  /** Familiar tags of the image whose top this row is (only on the first row). */
  tags: string[];
  /** Uncompressed size of the layer this row added (0 for empty layers). */
  size: number;
  comment: string;
}

/** Filters of GET /images/json and /images/prune (Docker's names). */
export interface ImageListFilters {
  /** Include untagged intermediate images (parents of other images), like `docker images -a`. */
  all?: boolean;
  dangling?: boolean;
  /** Patterns like `busybox`, `busybox:*`, `docker.io/library/*:1.*` (Docker's reference filter). */
  reference?: string[];
  /** `key` or `key=value`; all must match. */
  label?: string[];
  /** `label!=…` filters: none may match. */
  labelNot?: string[];
  /** Images created before/since the given image reference. */
  before?: string;
  since?: string;
  /** `until` for prune: a timestamp (unix seconds) — images created before it. */
  until?: number;
}

export type ImageDeleteItem = { Untagged: string } | { Deleted: string };

export interface RemoveOptions {
  force?: boolean;
  noprune?: boolean;
  /**
   * Whether a container uses this image: `'running'` (or a running container) is a hard conflict
   * (409 even with force); `true`/`'stopped'` is a soft one (409 unless force).
   */
  inUse?: (imageId: string) => ImageUse;
}

/** How a container uses an image: `'running'`/`'stopped'`, or with the container's ID for Docker's messages. */
export type ImageUse = boolean | 'running' | 'stopped' | { state: 'running' | 'stopped'; container: string };

export interface PruneOptions {
  /** true (default): only untagged images; false: every image not used by a container. */
  dangling?: boolean;
  filters?: Pick<ImageListFilters, 'label' | 'labelNot' | 'until'>;
  inUse?: (imageId: string) => ImageUse;
}

export interface PruneResult {
  imagesDeleted: ImageDeleteItem[];
  spaceReclaimed: number;
}

/** Progress events of load/import/save, for streaming to API clients. */
export type ImageProgress =
  | { kind: 'layer'; id: string; action: 'Loading layer' | 'Extracting' | 'Already exists' | 'Done'; current: number; total: number }
  | { kind: 'message'; message: string };

export type ProgressFn = (p: ImageProgress) => void;

export interface LoadResult {
  /** One entry per image: `ref` (familiar, e.g. `busybox:latest`) when tagged, else undefined. */
  images: { id: string; ref?: string }[];
  /** Docker's lines: `Loaded image: busybox:latest` / `Loaded image ID: sha256:…`. */
  messages: string[];
}

export interface ImportOptions {
  /** Dockerfile-style changes: `CMD ["sh"]`, `ENV A=b`, `WORKDIR /x`, `ENTRYPOINT …`, `EXPOSE 80`, `LABEL a=b`, `USER u`, `VOLUME /v`. */
  changes?: string[];
  /** Tag the result (`repo[:tag]`). */
  ref?: string;
  message?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** What `resolve` returns for any accepted form of reference. */
export interface ResolvedImage {
  id: string;
  /** The normalised name the input matched (`docker.io/library/busybox:latest`), if it was a name. */
  name?: string;
  /** Manifest digest, when the input was `name@sha256:…`. */
  digest?: string;
}

export interface ImageDiskUsageItem extends ImageSummary {
  /** Bytes shared with other images (layers used by more than one image). */
  sharedSize: number;
  /** Size of this image's layers used by no other image. */
  uniqueSize: number;
}

export interface ImageDiskUsage {
  images: ImageDiskUsageItem[];
  /** Total bytes of unpacked layers on disk (each shared layer once). */
  layersSize: number;
}
