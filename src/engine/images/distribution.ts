import { once } from 'node:events';
import { createReadStream, rmSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { WharfError, errorMessage } from '../../core/errors.js';
import { shortId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { DEFAULT_PLATFORM, MT, parseImageConfig, parseManifestOrIndex, selectPlatform, type Descriptor, type Platform } from '../../oci/manifest.js';
import { familiarString, formatReference, parseNormalizedNamed, parseReference, repoName, type Reference } from '../../oci/reference.js';
import { chainIds } from '../snapshots/layer-store.js';
import { diffIdOf, type UnpackResult } from '../snapshots/unpack.js';
import type { StagedFile } from './archive-reader.js';
import type { ImageService } from './image-service.js';
import type { LayerBlob } from './image-records.js';
import type { PulledImage } from './image-transfer.js';
import type { RegistryCredentials, RegistryPort, RegistrySessionPort } from './registry-port.js';

// Pull and push between the image store and a registry, with Docker's progress messages.
// Pull: manifest (index → linux/amd64) → config → layers, three at a time, each streamed at once
// into the content store's staging area AND into the unpacker (download and unpack overlap); the
// image becomes visible only when every blob and layer is verified (commitPulled). Push: layers
// gzip-compressed when stored uncompressed (the compressed blob is kept and mapped to its diffID),
// HEAD → skip, cross-repository mount when the blob is known in another repository there, upload,
// then the manifest.

/** One progress message, as Docker's JSON-lines stream carries it. */
export interface DistributionProgress {
  status: string;
  id?: string;
  current?: number;
  total?: number;
  /** Push result (`aux` in Docker's stream). */
  aux?: { Tag: string; Digest: string; Size: number };
}

export type DistributionProgressFn = (p: DistributionProgress) => void;

export interface DistributionOptions {
  images: ImageService;
  /** The registry port (src/registry/client's RegistryClient in the daemon). */
  client: RegistryPort;
  logger: Logger;
  platform?: Platform;
  /** Parallel layer transfers (Docker: 3 downloads). */
  concurrency?: number;
  /** Upload chunk size; 0 = one streamed PATCH per blob (default). */
  uploadChunkSize?: number;
  /** gzip level for layers compressed on push (default 6, Docker's). */
  gzipLevel?: number;
}

export interface PullResult {
  id: string;
  /** `Image is up to date` vs `Downloaded newer image`. */
  upToDate: boolean;
  ref: string;
  digest: string;
}

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
const UNCOMPRESSED = new Set<string>([MT.ociLayer, 'application/vnd.docker.image.rootfs.diff.tar']);
const GZIP_TYPES = [MT.dockerLayerGzip, MT.ociLayerGzip] as const;

/** Runs `fn` over items with at most `n` in flight; the first failure aborts the rest (via `ac`). */
async function pool<T>(items: T[], n: number, ac: AbortController, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        if (failed === undefined) {
          failed = err;
          ac.abort(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

function throttle(fn: (n: number) => void, ms = 100): (n: number) => void {
  let last = 0;
  return (n) => {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      fn(n);
    }
  };
}

export class ImageDistribution {
  private readonly log: Logger;

  constructor(private readonly o: DistributionOptions) {
    this.log = o.logger.child({ component: 'distribution' });
  }

  private get images(): ImageService {
    return this.o.images;
  }

  /** Checks credentials against a registry (`docker login`). */
  async login(server: string, creds: RegistryCredentials, signal?: AbortSignal): Promise<void> {
    const host = registryOf(server);
    await this.o.client.session(host, creds).login(signal);
  }

  /** Pulls `ref` (`name[:tag]` or `name@sha256:…`). Nothing is stored unless everything verified. */
  async pull(ref: string, opts: { creds?: RegistryCredentials; onProgress?: DistributionProgressFn; signal?: AbortSignal } = {}): Promise<PullResult> {
    const named = parseNormalizedNamed(ref);
    const emit = opts.onProgress ?? (() => undefined);
    const signal = opts.signal;
    const session = this.o.client.session(named.domain, opts.creds ?? {});
    const repo = named.path;
    const wanted = named.digest ?? named.tag!;
    const top = await session.getManifest(repo, wanted, signal);
    emit({ status: `Pulling from ${repo}`, id: wanted });
    let manifestDoc = top;
    let parsed = parseManifestOrIndex(top.body, `manifest ${familiarString(named)}`);
    for (let depth = 0; parsed.index; depth++) {
      if (depth > 2) throw new WharfError('InvalidArgument', `${familiarString(named)}: image indexes nested too deeply`);
      const pick = selectPlatform(parsed.index, this.o.platform ?? DEFAULT_PLATFORM);
      if (!pick) {
        const p = this.o.platform ?? DEFAULT_PLATFORM;
        throw new WharfError('NotFound', `no matching manifest for ${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''} in the manifest list entries`);
      }
      const child = await session.getManifest(repo, pick.digest, signal);
      if (child.body.length !== pick.size) {
        throw new WharfError('InvalidArgument', `manifest ${pick.digest}: ${child.body.length} bytes, the index says ${pick.size}`);
      }
      manifestDoc = child;
      parsed = parseManifestOrIndex(child.body, `manifest ${pick.digest}`, pick.mediaType);
    }
    const manifest = parsed.manifest!;
    const digestName = `${repoName(named)}@${top.digest}`;
    const tagRef: Reference | undefined = named.tag !== undefined && named.digest === undefined ? named : undefined;
    const display = familiarString(named);
    const configId = manifest.config.digest;
    const done = (upToDate: boolean): PullResult => {
      emit({ status: `Digest: ${top.digest}` });
      emit({ status: `Status: ${upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${display}` });
      return { id: configId, upToDate, ref: display, digest: top.digest };
    };

    // Already here: only the references may change.
    if (this.images.completeImage(configId)) {
      const before = tagRef ? this.images.refTarget(formatReference(tagRef)) : this.images.refTarget(digestName);
      await this.images.addRefs(configId, { ...(tagRef ? { tag: tagRef } : {}), digestName });
      return done(before === configId);
    }

    const configBuf = await session.getBlobBuffer(repo, manifest.config, MAX_CONFIG_BYTES, signal);
    const cfg = parseImageConfig(configBuf, `image config ${configId}`);
    const diffIds = cfg.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new WharfError('InvalidArgument', `image ${configId}: config lists ${diffIds.length} layers (diff_ids), the manifest ${manifest.layers.length}`);
    }
    const chains = chainIds(diffIds);
    const stage = this.images.pullStagingDir();
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    const pulled: PulledImage['layers'] = manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
    try {
      const work: { desc: Descriptor; i: number; unpack: boolean }[] = [];
      manifest.layers.forEach((desc, i) => {
        const id = shortId(desc.digest);
        const unpacked = this.images.layers.has(chains[i]!);
        if (unpacked && this.images.content.has(desc.digest)) {
          emit({ status: 'Already exists', id });
          return;
        }
        emit({ status: 'Pulling fs layer', id });
        work.push({ desc, i, unpack: !unpacked });
      });
      work.forEach((w, k) => {
        if (k >= (this.o.concurrency ?? 3)) emit({ status: 'Waiting', id: shortId(w.desc.digest) });
      });
      await pool(work, this.o.concurrency ?? 3, ac, async (w) => {
        const r = await this.downloadLayer(session, repo, w.desc, w.unpack, stage, emit, ac.signal);
        pulled[w.i]!.file = r.file;
        if (r.unpacked) pulled[w.i]!.unpacked = r.unpacked;
        if (!w.unpack) {
          const { diffId } = await diffIdOf(createReadStream(r.file.file));
          if (diffId !== diffIds[w.i]) throw new WharfError('InvalidArgument', `layer ${w.i}: diffID mismatch: the config says ${diffIds[w.i]}, the content is ${diffId}`);
        }
      });
      const cw = this.images.content.writer(stage);
      cw.write(configBuf);
      const ci = cw.finish({ digest: configId });
      const mw = this.images.content.writer(stage);
      mw.write(manifestDoc.body);
      const mi = mw.finish({ digest: manifestDoc.digest });
      await this.images.commitPulled({
        config: { buf: configBuf, digest: configId, file: { file: cw.tempPath, digest: ci.digest, size: ci.size } },
        manifest: { digest: manifestDoc.digest, mediaType: manifest.mediaType, file: { file: mw.tempPath, digest: mi.digest, size: mi.size } },
        layers: pulled,
        ...(tagRef ? { tag: tagRef } : {}),
        digestName,
        source: { registry: named.domain, repository: repo },
      });
    } catch (err) {
      for (const l of pulled) if (l.unpacked) rmSync(l.unpacked.tmp, { recursive: true, force: true });
      if (signal?.aborted) throw new WharfError('Unavailable', `pull of ${display} cancelled`, { cause: err });
      throw err;
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
      rmSync(stage, { recursive: true, force: true });
    }
    return done(false);
  }

  /** Downloads one layer blob into `stage`, unpacking it on the way when `unpack`. */
  private async downloadLayer(
    session: RegistrySessionPort,
    repo: string,
    desc: Descriptor,
    unpack: boolean,
    stage: string,
    emit: DistributionProgressFn,
    signal: AbortSignal,
  ): Promise<{ file: StagedFile; unpacked?: { tmp: string; result: UnpackResult } }> {
    const id = shortId(desc.digest);
    const writer = this.images.content.writer(stage);
    const pass = unpack ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
    const unpacking = pass ? this.images.layers.unpackToTemp(pass, signal) : undefined;
    unpacking?.catch(() => undefined); // awaited below; never left unhandled
    const tarEnded = unpacking?.then(
      () => {
        throw new WharfError('InvalidArgument', `layer ${desc.digest}: the tar ended before the blob did`);
      },
      (err: unknown) => {
        throw err;
      },
    );
    tarEnded?.catch(() => undefined);
    const progress = throttle((n) => emit({ status: 'Downloading', id, current: n, total: desc.size }));
    try {
      await session.fetchBlob(repo, desc, {
        signal,
        onProgress: progress,
        onData: async (chunk) => {
          writer.write(chunk);
          if (pass && !pass.write(chunk)) {
            await Promise.race([once(pass, 'drain', { signal }), tarEnded!]);
          }
        },
      });
      emit({ status: 'Verifying Checksum', id });
      const info = writer.finish({ digest: desc.digest, size: desc.size });
      emit({ status: 'Download complete', id });
      let unpacked: { tmp: string; result: UnpackResult } | undefined;
      if (pass) {
        pass.end();
        emit({ status: 'Extracting', id, current: 0, total: desc.size });
        unpacked = await unpacking!;
        emit({ status: 'Extracting', id, current: desc.size, total: desc.size });
      }
      emit({ status: 'Pull complete', id });
      return { file: { file: writer.tempPath, digest: info.digest, size: info.size }, ...(unpacked ? { unpacked } : {}) };
    } catch (err) {
      writer.abort();
      pass?.destroy(err instanceof Error ? err : new Error(errorMessage(err)));
      const res = await unpacking?.catch(() => undefined);
      if (res) rmSync(res.tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Pushes `name` (`registry/repo`) with `tag`, or every tag of that repository when `tag` is
   * undefined. Messages as Docker's: Preparing, Waiting, Pushing, Pushed, Layer already exists,
   * Mounted from X, then `TAG: digest: sha256:… size: N`.
   */
  async push(name: string, tag: string | undefined, opts: { creds?: RegistryCredentials; onProgress?: DistributionProgressFn; signal?: AbortSignal } = {}): Promise<void> {
    const emit = opts.onProgress ?? (() => undefined);
    const base = parseReference(name);
    if (base.digest !== undefined) throw new WharfError('InvalidArgument', `cannot push a digest reference (${name})`);
    if (base.tag !== undefined && tag !== undefined && tag !== '' && tag !== base.tag) {
      throw new WharfError('InvalidArgument', `tag given twice: ${name} and ${tag}`);
    }
    const wantTag = base.tag ?? (tag || undefined);
    const targets: Reference[] = [];
    if (wantTag !== undefined) targets.push({ domain: base.domain, path: base.path, tag: wantTag });
    else {
      const all = await this.images.list({ reference: [repoName(base)] });
      for (const img of all) {
        for (const t of img.repoTags) {
          const r = parseReference(t);
          if (r.domain === base.domain && r.path === base.path && r.tag) targets.push(r);
        }
      }
      if (targets.length === 0) throw new WharfError('NotFound', `An image does not exist locally with the tag: ${familiarString(base)}`);
    }
    const resolved = targets.map((t) => {
      try {
        return { ref: t, id: this.images.refTarget(formatReference(t)) };
      } catch {
        return { ref: t, id: undefined };
      }
    });
    for (const r of resolved) if (!r.id) throw new WharfError('NotFound', `An image does not exist locally with the tag: ${familiarString(r.ref)}`);
    emit({ status: `The push refers to repository [${repoName(base)}]` });
    const session = this.o.client.session(base.domain, opts.creds ?? {});
    for (const r of resolved) await this.pushOne(session, r.ref, r.id!, emit, opts.signal);
  }

  private async pushOne(session: RegistrySessionPort, ref: Reference, id: string, emit: DistributionProgressFn, signal?: AbortSignal): Promise<void> {
    const repo = ref.path;
    const registry = ref.domain;
    const plan = this.images.pushPlan(id);
    const shown = plan.layers.map((l) => shortId(l.diffId));
    // Docker lists layers top first.
    for (const s of [...shown].reverse()) emit({ status: 'Preparing', id: s });
    const conc = this.o.concurrency ?? 3;
    shown.forEach((s, k) => {
      if (k >= conc) emit({ status: 'Waiting', id: s });
    });
    const pushed: LayerBlob[] = plan.layers.map((l) => l.blob);
    const ac = new AbortController();
    const onOuterAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    try {
      await pool(plan.layers, conc, ac, async (l, i) => {
        const sid = shown[i]!;
        const blob = await this.compressedBlob(l.diffId, l.blob, ac.signal);
        pushed[i] = blob;
        if (await session.blobExists(repo, blob.digest, ac.signal)) {
          emit({ status: 'Layer already exists', id: sid });
          this.images.recordBlobSource(blob.digest, registry, repo);
          return;
        }
        for (const from of this.images.blobSources(blob.digest, registry)) {
          if (from === repo) continue;
          if (await session.mountBlob(repo, blob.digest, from, ac.signal).catch(() => false)) {
            emit({ status: `Mounted from ${from}`, id: sid });
            this.images.recordBlobSource(blob.digest, registry, repo);
            return;
          }
        }
        const progress = throttle((n) => emit({ status: 'Pushing', id: sid, current: n, total: blob.size }));
        await session.uploadBlob(repo, blob, () => this.images.content.createReadStream(blob.digest), {
          ...(this.o.uploadChunkSize ? { chunkSize: this.o.uploadChunkSize } : {}),
          onProgress: progress,
          signal: ac.signal,
        });
        emit({ status: 'Pushed', id: sid });
        this.images.recordBlobSource(blob.digest, registry, repo);
      });
    } finally {
      signal?.removeEventListener('abort', onOuterAbort);
    }
    const configDesc = { digest: id, size: plan.config.length };
    if (!(await session.blobExists(repo, id, signal))) {
      await session.uploadBlob(repo, configDesc, () => Readable.from([plan.config]), signal ? { signal } : {});
    }
    // The stored manifest when it describes exactly these blobs (same digest as pulled), else a new one.
    let manifest = plan.manifest;
    if (manifest) {
      const m = parseManifestOrIndex(manifest.body, 'stored manifest').manifest;
      const same = m && m.config.digest === id && m.layers.length === pushed.length && m.layers.every((x, i) => x.digest === pushed[i]!.digest);
      if (!same) manifest = undefined;
    }
    if (!manifest) {
      const oci = pushed.some((b) => !b.mediaType.startsWith('application/vnd.docker.'));
      const zstd = pushed.some((b) => b.mediaType === MT.ociLayerZstd);
      const useOci = oci && zstd;
      const body = Buffer.from(
        JSON.stringify(
          {
            schemaVersion: 2,
            mediaType: useOci ? MT.ociManifest : MT.dockerManifest,
            config: { mediaType: useOci ? MT.ociConfig : MT.dockerConfig, size: plan.config.length, digest: id },
            layers: pushed.map((b) => ({ mediaType: useOci ? b.mediaType : dockerLayerType(b.mediaType), size: b.size, digest: b.digest })),
          },
          null,
          3,
        ),
      );
      manifest = { body, digest: '', mediaType: useOci ? MT.ociManifest : MT.dockerManifest };
    }
    const digest = await session.putManifest(repo, ref.tag!, manifest.body, manifest.mediaType, signal);
    await this.images.recordPush(id, {
      layers: pushed,
      manifest: manifest.body,
      manifestDigest: digest,
      mediaType: manifest.mediaType,
      digestName: `${repoName(ref)}@${digest}`,
    });
    emit({ status: `${ref.tag}: digest: ${digest} size: ${manifest.body.length}` });
    emit({ status: '', aux: { Tag: ref.tag!, Digest: digest, Size: manifest.body.length } });
  }

  /** The gzip blob of a layer: the stored one when compressed, else a gzip copy made once and kept. */
  private async compressedBlob(diffId: string, blob: LayerBlob, signal: AbortSignal): Promise<LayerBlob> {
    if (!UNCOMPRESSED.has(blob.mediaType)) return blob;
    const known = this.images.blobForDiffId(diffId, GZIP_TYPES);
    if (known) return known;
    const w = this.images.content.writer();
    try {
      await pipeline(
        this.images.content.createReadStream(blob.digest),
        createGzip({ level: this.o.gzipLevel ?? 6, chunkSize: 256 * 1024 }),
        async (src: AsyncIterable<Buffer>) => {
          for await (const c of src) w.write(c);
        },
        { signal },
      );
    } catch (err) {
      w.abort();
      throw err;
    }
    const info = w.finish();
    const mediaType = blob.mediaType === MT.ociLayer ? MT.ociLayerGzip : MT.dockerLayerGzip;
    try {
      await this.images.adoptLayerBlob(w.tempPath, info, diffId, mediaType);
    } catch (err) {
      rmSync(w.tempPath, { force: true });
      throw err;
    }
    this.log.debug({ diffId, digest: info.digest }, 'compressed a layer for push');
    return { digest: info.digest, mediaType, size: info.size };
  }
}

function dockerLayerType(mt: string): string {
  if (mt === MT.ociLayerGzip || mt === MT.dockerLayerGzip) return MT.dockerLayerGzip;
  if (mt === MT.ociLayer) return 'application/vnd.docker.image.rootfs.diff.tar';
  return mt;
}

/** `docker login HOST` / serveraddress → registry host (`https://host/v1/` and Docker Hub forms accepted). */
export function registryOf(server: string): string {
  let s = server.trim();
  if (s === '' || /^(https?:\/\/)?(index\.)?docker\.io(\/v1\/?)?$/.test(s)) return 'docker.io';
  s = s.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!s) throw new WharfError('InvalidArgument', `bad registry address ${JSON.stringify(server)}`);
  return s;
}
