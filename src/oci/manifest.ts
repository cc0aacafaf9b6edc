import { WharfError } from '../core/errors.js';
import { isDigest } from './content-store.js';
import type { ImageConfigDoc, ImageRuntimeConfig } from './image-config.js';

// Manifests, indexes and image configs: parsed from untrusted bytes, validated, clear errors.

export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

const LAYER_TYPES = new Set<string>([
  MT.dockerLayerGzip,
  MT.dockerForeignLayer,
  'application/vnd.docker.image.rootfs.diff.tar',
  MT.ociLayer,
  MT.ociLayerGzip,
  MT.ociLayerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface Index {
  mediaType: string;
  manifests: Descriptor[];
}

function bad(what: string, msg: string): WharfError {
  return new WharfError('InvalidArgument', `${what}: ${msg}`);
}

export function parseJson(buf: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (err) {
    throw bad(what, `not valid JSON (${(err as Error).message})`);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strRecord(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v) || !Object.values(v).every((x) => typeof x === 'string')) throw bad(what, 'must be an object of strings');
  return v as Record<string, string>;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObj(v)) throw bad(what, 'descriptor must be an object');
  if (typeof v.mediaType !== 'string') throw bad(what, 'descriptor has no mediaType');
  if (!isDigest(v.digest)) throw bad(what, `bad digest ${JSON.stringify(v.digest)}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw bad(what, `bad size ${JSON.stringify(v.size)}`);
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  if (isObj(v.platform)) {
    const p = v.platform;
    d.platform = {};
    if (typeof p.architecture === 'string') d.platform.architecture = p.architecture;
    if (typeof p.os === 'string') d.platform.os = p.os;
    if (typeof p.variant === 'string') d.platform.variant = p.variant;
  }
  const ann = strRecord(v.annotations, `${what} annotations`);
  if (ann) d.annotations = ann;
  return d;
}

/** Parses a manifest or an index; `mediaTypeHint` is the descriptor's media type when known. */
export function parseManifestOrIndex(buf: Buffer, what: string, mediaTypeHint?: string): { manifest?: Manifest; index?: Index } {
  const v = parseJson(buf, what);
  if (!isObj(v)) throw bad(what, 'must be a JSON object');
  if (v.schemaVersion !== 2) throw bad(what, `unsupported schemaVersion ${JSON.stringify(v.schemaVersion)} (only 2)`);
  const mt = typeof v.mediaType === 'string' ? v.mediaType : mediaTypeHint;
  if (mediaTypeHint && typeof v.mediaType === 'string' && v.mediaType !== mediaTypeHint) {
    throw bad(what, `media type ${v.mediaType} differs from its descriptor's ${mediaTypeHint}`);
  }
  if (Array.isArray(v.manifests) || mt === MT.ociIndex || mt === MT.dockerList) {
    if (!Array.isArray(v.manifests)) throw bad(what, 'index has no manifests array');
    return {
      index: {
        mediaType: mt ?? MT.ociIndex,
        manifests: v.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`)),
      },
    };
  }
  if (mt !== undefined && mt !== MT.ociManifest && mt !== MT.dockerManifest) throw bad(what, `unsupported media type ${mt}`);
  if (!Array.isArray(v.layers)) throw bad(what, 'manifest has no layers array');
  const config = parseDescriptor(v.config, `${what} config`);
  if (config.mediaType !== MT.ociConfig && config.mediaType !== MT.dockerConfig) {
    throw bad(what, `config media type ${config.mediaType} is not an image config`);
  }
  const layers = v.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  for (const [i, l] of layers.entries()) {
    if (!LAYER_TYPES.has(l.mediaType)) throw bad(what, `layers[${i}] has unsupported media type ${l.mediaType}`);
  }
  return { manifest: { mediaType: mt ?? MT.ociManifest, config, layers } };
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

/** Picks the manifest for `platform` from an index (exact os/arch, variant if both have one). */
export function selectPlatform(index: Index, platform: Platform = DEFAULT_PLATFORM): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (m) => (m.mediaType === MT.ociManifest || m.mediaType === MT.dockerManifest || m.mediaType === MT.ociIndex || m.mediaType === MT.dockerList),
  );
  const match = candidates.filter(
    (m) =>
      m.platform?.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      (platform.variant === undefined || m.platform.variant === undefined || m.platform.variant === platform.variant),
  );
  if (match.length > 0) return match[0];
  // An index without platforms (single-image OCI layouts): take the only manifest.
  const noPlatform = candidates.filter((m) => m.platform === undefined);
  return noPlatform.length === 1 ? noPlatform[0] : undefined;
}

function strArray(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(what, 'must be an array of strings');
  return v as string[];
}

function objOfObjs(v: unknown, what: string): Record<string, object> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw bad(what, 'must be an object');
  return v as Record<string, object>;
}

/** Parses and validates an image config (OCI image config / Docker image JSON). */
export function parseImageConfig(buf: Buffer, what = 'image config'): ImageConfigDoc {
  const v = parseJson(buf, what);
  if (!isObj(v)) throw bad(what, 'must be a JSON object');
  if (typeof v.architecture !== 'string' || v.architecture === '') throw bad(what, 'missing "architecture"');
  if (typeof v.os !== 'string' || v.os === '') throw bad(what, 'missing "os"');
  if (!isObj(v.rootfs)) throw bad(what, 'missing "rootfs"');
  if (v.rootfs.type !== 'layers') throw bad(what, `rootfs.type must be "layers", not ${JSON.stringify(v.rootfs.type)}`);
  const diffIds = v.rootfs.diff_ids ?? [];
  if (!Array.isArray(diffIds) || !diffIds.every(isDigest)) throw bad(what, 'rootfs.diff_ids must be an array of sha256 digests');
  if (v.created !== undefined && (typeof v.created !== 'string' || Number.isNaN(Date.parse(v.created)))) {
    throw bad(what, `"created" is not a date: ${JSON.stringify(v.created)}`);
  }
  const doc: ImageConfigDoc = { ...(v as object), architecture: v.architecture, os: v.os, rootfs: { type: 'layers', diff_ids: diffIds as string[] } };
  if (v.config !== undefined && v.config !== null) {
    if (!isObj(v.config)) throw bad(what, '"config" must be an object');
    const c = v.config;
    const rc: ImageRuntimeConfig = { ...(c as object) };
    strArray(c.Env, `${what} config.Env`);
    strArray(c.Cmd, `${what} config.Cmd`);
    strArray(c.Entrypoint, `${what} config.Entrypoint`);
    strRecord(c.Labels, `${what} config.Labels`);
    objOfObjs(c.ExposedPorts, `${what} config.ExposedPorts`);
    objOfObjs(c.Volumes, `${what} config.Volumes`);
    for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'string') throw bad(what, `config.${k} must be a string`);
    }
    doc.config = rc;
  } else {
    delete doc.config;
  }
  if (v.history !== undefined) {
    if (!Array.isArray(v.history) || !v.history.every(isObj)) throw bad(what, '"history" must be an array of objects');
  }
  return doc;
}
