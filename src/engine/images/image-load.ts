import { closeSync, createReadStream, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { WharfError, wrap } from '../../core/errors.js';
import { shortId } from '../../core/ids.js';
import { syncFiles } from '../../oci/content-store.js';
import { chainIds as computeChainIds, type LayerInfo } from '../snapshots/layer-store.js';
import { diffIdOf, detectCompression } from '../snapshots/unpack.js';
import { readArchive, type StagedArchive, type StagedFile } from './archive-reader.js';
import { buildBusyboxLayer, busyboxConfig } from './busybox.js';
import { parseChanges } from './changes.js';
import {
  DEFAULT_PLATFORM,
  MT,
  parseImageConfig,
  parseJson,
  parseManifestOrIndex,
  selectPlatform,
  type Descriptor,
  type Manifest,
  type Platform,
} from '../../oci/manifest.js';
import { familiarString, formatReference, parseNormalizedNamed, repoName, tagReference, type Reference } from '../../oci/reference.js';
import type { ImageConfigDoc, ImportOptions, LoadResult, ProgressFn } from './types.js';
import { ImageStorePart } from './image-parts.js';
import { diffMismatch, noSuchImage, type ImageRow, type LayerBlob } from './image-records.js';

// Committing images into the store: `docker load` (docker-archive and OCI layouts), `docker import`
// (a rootfs tar), the offline busybox bootstrap and builds. Layers are verified and unpacked first;
// blobs and rows are recorded in one transaction, and nothing stays on any error.

/** One image found in an archive (or built locally), before it is committed. */
interface Candidate {
  config: StagedFile;
  configBuf: Buffer;
  layers: { file: StagedFile; mediaType?: string }[];
  manifest?: { file: StagedFile; digest: string; mediaType: string };
  names: Reference[];
}

async function readHead(file: string): Promise<Buffer> {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    const n = readSync(fd, b, 0, 4, 0);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function platformMatches(p: NonNullable<Descriptor['platform']>, want: Platform): boolean {
  return p.os === want.os && p.architecture === want.architecture && (want.variant === undefined || p.variant === undefined || p.variant === want.variant);
}

function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Loads, imports and commits images (see the file's comment). */
export class ImageLoader extends ImageStorePart {

  async load(stream: Readable, onProgress?: ProgressFn, opts: { signal?: AbortSignal } = {}): Promise<LoadResult> {
    return this.records.exclusive(async () => {
      const dir = this.records.stagingDir();
      try {
        const staged = await readArchive(stream, dir, this.content, {
          ...(this.opts.limits?.archive ? { limits: this.opts.limits.archive } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const cands = this.candidates(staged);
        const ids = await this.commit(cands, onProgress, opts.signal);
        const result: LoadResult = { images: [], messages: [] };
        cands.forEach((c, i) => {
          const id = ids[i]!;
          if (c.names.length === 0) {
            result.images.push({ id });
            result.messages.push(`Loaded image ID: ${id}`);
          }
          for (const n of c.names) {
            const ref = familiarString(n);
            result.images.push({ id, ref });
            result.messages.push(`Loaded image: ${ref}`);
          }
        });
        for (const m of result.messages) onProgress?.({ kind: 'message', message: m });
        return result;
      } catch (err) {
        throw wrap(err, 'load');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /** Finds the images in a staged archive: docker-archive (manifest.json) or OCI image layout (index.json). */
  private candidates(staged: StagedArchive): Candidate[] {
    const bad = (m: string) => new WharfError('InvalidArgument', `invalid image archive: ${m}`);
    const byConfig = new Map<string, Candidate>();
    const add = (c: Candidate) => {
      const prev = byConfig.get(c.config.digest);
      if (!prev) byConfig.set(c.config.digest, c);
      else {
        for (const n of c.names) if (!prev.names.some((p) => formatReference(p) === formatReference(n))) prev.names.push(n);
        prev.manifest ??= c.manifest;
      }
    };
    const ociManifests = new Map<string, { file: StagedFile; manifest: Manifest; desc: Descriptor; names: Reference[] }[]>();
    if (staged.has('index.json')) {
      const idxFile = staged.get('index.json', 'index.json');
      const { index } = parseManifestOrIndex(staged.read(idxFile, 'index.json'), 'index.json');
      if (!index) throw bad('index.json is not an image index');
      for (const [i, desc] of index.manifests.entries()) {
        if (desc.platform && !platformMatches(desc.platform, this.opts.platform ?? DEFAULT_PLATFORM)) continue;
        const found = this.resolveManifest(staged, desc, `index.json manifests[${i}]`, 0);
        if (!found) continue;
        const names: Reference[] = [];
        const full = desc.annotations?.['io.containerd.image.name'];
        const refName = desc.annotations?.['org.opencontainers.image.ref.name'];
        const asName = full ?? (refName && /[:/]/.test(refName) ? refName : undefined);
        if (asName) {
          const r = parseNormalizedNamed(asName);
          if (r.digest === undefined) names.push(r);
        }
        const key = found.manifest.config.digest;
        const list = ociManifests.get(key) ?? [];
        list.push({ ...found, names });
        ociManifests.set(key, list);
      }
    }
    if (staged.has('manifest.json')) {
      const mj = parseJson(staged.read(staged.get('manifest.json', 'manifest.json'), 'manifest.json'), 'manifest.json');
      if (!Array.isArray(mj) || mj.length === 0) throw bad('manifest.json must be a non-empty array');
      for (const [i, e] of (mj as unknown[]).entries()) {
        const what = `manifest.json[${i}]`;
        if (typeof e !== 'object' || e === null) throw bad(`${what} is not an object`);
        const entry = e as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
        const config = staged.get(entry.Config, `${what}.Config`);
        if (!Array.isArray(entry.Layers)) throw bad(`${what}.Layers must be an array`);
        const layers: Candidate['layers'] = (entry.Layers as unknown[]).map((p, j) => ({ file: staged.get(p, `${what}.Layers[${j}]`) }));
        const tags = entry.RepoTags ?? [];
        if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) throw bad(`${what}.RepoTags must be an array of strings`);
        const names = (tags as string[]).map((t) => {
          const r = parseNormalizedNamed(t);
          if (r.digest !== undefined) throw bad(`${what}.RepoTags: ${t} is not a tag`);
          return r;
        });
        const cand: Candidate = { config, configBuf: staged.read(config, `${what}.Config`), layers, names };
        const oci = ociManifests.get(config.digest)?.[0];
        if (oci && oci.manifest.layers.length === layers.length && oci.manifest.layers.every((l, j) => l.digest === layers[j]!.file.digest)) {
          cand.manifest = { file: oci.file, digest: oci.desc.digest, mediaType: oci.manifest.mediaType };
          oci.manifest.layers.forEach((l, j) => (layers[j]!.mediaType = l.mediaType));
        }
        add(cand);
      }
    } else if (ociManifests.size > 0) {
      for (const list of ociManifests.values()) {
        for (const o of list) {
          const config = staged.blob(o.manifest.config.digest, o.manifest.config.size, 'config');
          add({
            config,
            configBuf: staged.read(config, 'config'),
            layers: o.manifest.layers.map((l, j) => ({ file: staged.blob(l.digest, l.size, `layer ${j}`), mediaType: l.mediaType })),
            manifest: { file: o.file, digest: o.desc.digest, mediaType: o.manifest.mediaType },
            names: o.names,
          });
        }
      }
    } else if (!staged.has('index.json')) {
      throw bad('no manifest.json or index.json: not a docker-archive or an OCI image layout');
    } else {
      throw bad(`index.json has no image for ${platformString(this.opts.platform ?? DEFAULT_PLATFORM)}`);
    }
    return [...byConfig.values()];
  }

  private resolveManifest(
    staged: StagedArchive,
    desc: Descriptor,
    what: string,
    depth: number,
  ): { file: StagedFile; manifest: Manifest; desc: Descriptor } | undefined {
    if (depth > 3) throw new WharfError('InvalidArgument', `invalid image archive: ${what}: indexes nested too deeply`);
    const file = staged.blob(desc.digest, desc.size, what);
    const parsed = parseManifestOrIndex(staged.read(file, what), `${what} (${desc.digest})`, desc.mediaType);
    if (parsed.manifest) return { file, manifest: parsed.manifest, desc };
    const pick = selectPlatform(parsed.index!, this.opts.platform ?? DEFAULT_PLATFORM);
    if (!pick) return undefined;
    return this.resolveManifest(staged, pick, `${what} → ${pick.digest}`, depth + 1);
  }

  /**
   * Verifies and unpacks the candidates' layers, then moves their blobs into the content store and
   * records everything in one transaction. On any error nothing stays: new layer dirs and blobs are removed.
   */
  private async commit(cands: Candidate[], onProgress?: ProgressFn, signal?: AbortSignal): Promise<string[]> {
    const newLayerDirs: string[] = [];
    const newBlobs: string[] = [];
    const layerRows = new Map<string, LayerInfo>();
    const blobRows = new Map<string, { diffId: string; mediaType: string }>();
    const imageRows: { row: ImageRow; names: Reference[]; withDigest: boolean }[] = [];
    const synthetic: string[] = [];
    try {
      for (const c of cands) {
        const cfg = parseImageConfig(c.configBuf, `image config ${c.config.digest}`);
        const diffIds = cfg.rootfs.diff_ids;
        if (diffIds.length !== c.layers.length) {
          throw new WharfError('InvalidArgument', `image ${c.config.digest}: config lists ${diffIds.length} layers (diff_ids), the manifest ${c.layers.length}`);
        }
        const chains = computeChainIds(diffIds);
        let size = 0;
        const layerBlobs: LayerBlob[] = [];
        for (const [i, l] of c.layers.entries()) {
          signal?.throwIfAborted();
          const chain = chains[i]!;
          const expected = diffIds[i]!;
          const short = shortId(expected);
          const known = this.layers.get(chain) ?? layerRows.get(chain);
          const comp = detectCompression(await readHead(l.file.file));
          const mediaType = l.mediaType ?? (comp === 'gzip' ? MT.ociLayerGzip : comp === 'zstd' ? MT.ociLayerZstd : MT.ociLayer);
          layerBlobs.push({ digest: l.file.digest, mediaType, size: l.file.size });
          if (known && (this.layers.has(chain) || layerRows.has(chain))) {
            // Already unpacked: only make sure this blob really is that layer.
            const mapped = (this.records.sql.prepare('SELECT diff_id FROM layer_blobs WHERE blob_digest = ?').get(l.file.digest) as { diff_id: string } | undefined)?.diff_id
              ?? blobRows.get(l.file.digest)?.diffId;
            if (l.file.digest !== expected && mapped !== expected) {
              const { diffId } = await diffIdOf(createReadStream(l.file.file));
              if (diffId !== expected) throw diffMismatch(i, expected, diffId);
            }
            blobRows.set(l.file.digest, { diffId: expected, mediaType });
            size += known.size;
            onProgress?.({ kind: 'layer', id: short, action: 'Already exists', current: l.file.size, total: l.file.size });
            continue;
          }
          onProgress?.({ kind: 'layer', id: short, action: 'Loading layer', current: 0, total: l.file.size });
          const { tmp, result } = await this.layers.unpackToTemp(createReadStream(l.file.file, { highWaterMark: 1 << 20 }), signal);
          if (result.diffId !== expected) {
            rmSync(tmp, { recursive: true, force: true });
            throw diffMismatch(i, expected, result.diffId);
          }
          if (this.layers.publish(tmp, chain)) newLayerDirs.push(chain);
          const info: LayerInfo = { chainId: chain, diffId: expected, parent: i > 0 ? chains[i - 1]! : '', size: result.size, tarSize: result.tarSize };
          layerRows.set(chain, info);
          blobRows.set(l.file.digest, { diffId: expected, mediaType });
          size += result.size;
          onProgress?.({ kind: 'layer', id: short, action: 'Done', current: l.file.size, total: l.file.size });
        }
        let manifest = c.manifest;
        if (!manifest) {
          const buf = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: MT.ociManifest,
              config: { mediaType: MT.ociConfig, digest: c.config.digest, size: c.config.size },
              layers: layerBlobs.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
            }),
          );
          const w = this.content.writer();
          w.write(buf);
          const info = w.finish();
          synthetic.push(w.tempPath);
          manifest = { file: { file: w.tempPath, digest: info.digest, size: info.size }, digest: info.digest, mediaType: MT.ociManifest };
        }
        const now = this.clock.now();
        imageRows.push({
          row: {
            id: c.config.digest,
            manifest_digest: manifest.digest,
            manifest_media_type: manifest.mediaType,
            has_repo_digest: c.manifest ? 1 : 0,
            created: cfg.created ? Math.floor(Date.parse(cfg.created) / 1000) : 0,
            created_iso: cfg.created ?? '',
            size,
            parent: typeof cfg.parent === 'string' ? cfg.parent : '',
            chain_ids: JSON.stringify(chains),
            layer_blobs: JSON.stringify(layerBlobs),
            labels: JSON.stringify(cfg.config?.Labels ?? {}),
            loaded_at: now,
            last_tag_time: now,
          },
          names: c.names,
          withDigest: c.manifest !== undefined,
        });
        // Blobs to keep: config, layers, manifest (made durable before they are renamed into the store).
        const keep = [c.config, ...c.layers.map((l) => l.file), manifest.file].filter((f) => !this.content.has(f.digest));
        await syncFiles(keep.map((f) => f.file).filter((f) => existsSync(f)));
        for (const f of keep) {
          if (this.content.has(f.digest)) continue;
          try {
            this.content.adopt(f.file, f.digest);
            newBlobs.push(f.digest);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !this.content.has(f.digest)) throw err;
          }
        }
      }
      const now = this.clock.now();
      this.opts.db.tx(() => {
        for (const l of layerRows.values()) this.layers.record(l, now);
        const ib = this.records.sql.prepare('INSERT OR REPLACE INTO layer_blobs (blob_digest, diff_id, media_type) VALUES (?, ?, ?)');
        for (const [d, b] of blobRows) ib.run(d, b.diffId, b.mediaType);
        const ii = this.records.sql.prepare(`INSERT INTO images (id, manifest_digest, manifest_media_type, has_repo_digest, created, created_iso, size, parent, chain_ids, layer_blobs, labels, loaded_at, last_tag_time)
          VALUES (@id, @manifest_digest, @manifest_media_type, @has_repo_digest, @created, @created_iso, @size, @parent, @chain_ids, @layer_blobs, @labels, @loaded_at, @last_tag_time)
          ON CONFLICT(id) DO UPDATE SET last_tag_time = excluded.last_tag_time,
            manifest_digest = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.manifest_digest ELSE images.manifest_digest END,
            manifest_media_type = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.manifest_media_type ELSE images.manifest_media_type END,
            layer_blobs = CASE WHEN excluded.has_repo_digest = 1 THEN excluded.layer_blobs ELSE images.layer_blobs END,
            has_repo_digest = MAX(images.has_repo_digest, excluded.has_repo_digest)`);
        const ir = this.records.sql.prepare('INSERT OR REPLACE INTO image_refs (name, image_id, kind, created_at) VALUES (?, ?, ?, ?)');
        for (const { row, names, withDigest } of imageRows) {
          ii.run(row);
          for (const n of names) {
            ir.run(formatReference(n), row.id, 'tag', now);
            if (withDigest) ir.run(`${repoName(n)}@${row.manifest_digest}`, row.id, 'digest', now);
          }
        }
      });
    } catch (err) {
      for (const c of newLayerDirs) rmSync(this.layers.path(c), { recursive: true, force: true });
      for (const d of newBlobs) if (!this.records.referencedBlobs().has(d)) this.content.delete(d);
      throw err;
    } finally {
      for (const f of synthetic) rmSync(f, { force: true });
    }
    return imageRows.map((r) => r.row.id);
  }

  async importRootfs(stream: Readable, opts: ImportOptions = {}): Promise<{ id: string }> {
    const changes = parseChanges(opts.changes ?? []);
    const target = opts.ref ? tagReference(opts.ref) : undefined;
    return this.records.exclusive(async () => {
      const dir = this.records.stagingDir();
      try {
        const w = this.content.writer(dir);
        try {
          for await (const chunk of stream) {
            opts.signal?.throwIfAborted();
            w.write(chunk as Buffer);
          }
        } catch (err) {
          w.abort();
          throw err;
        }
        const info = w.finish();
        if (info.size === 0) throw new WharfError('InvalidArgument', 'import: empty input');
        const layerFile: StagedFile = { file: w.tempPath, digest: info.digest, size: info.size };
        const { diffId } = await diffIdOf(createReadStream(w.tempPath));
        const created = new Date(this.clock.now()).toISOString();
        const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' }[process.arch as string] ?? process.arch;
        const config: ImageConfigDoc = {
          architecture: opts.platform?.architecture ?? arch,
          os: opts.platform?.os ?? 'linux',
          created,
          config: changes,
          rootfs: { type: 'layers', diff_ids: [diffId] },
          history: [{ created, created_by: '', comment: opts.message || 'Imported from -' }],
        };
        if (opts.platform?.variant) config.variant = opts.platform.variant;
        if (opts.message) config.comment = opts.message;
        const configBuf = Buffer.from(JSON.stringify(config));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const cinfo = cw.finish();
        const [id] = await this.commit(
          [{ config: { file: cw.tempPath, digest: cinfo.digest, size: cinfo.size }, configBuf, layers: [{ file: layerFile }], names: target ? [target] : [] }],
          opts.onProgress,
          opts.signal,
        );
        return { id: id! };
      } catch (err) {
        throw wrap(err, 'import');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  async bootstrapBusybox(opts: { busyboxPath?: string; ref?: string } = {}): Promise<{ id: string; created: boolean }> {
    const target = tagReference(opts.ref ?? 'busybox:latest');
    const existing = this.records.sql.prepare('SELECT image_id FROM image_refs WHERE name = ?').get(formatReference(target)) as { image_id: string } | undefined;
    if (existing) return { id: existing.image_id, created: false };
    const layer = await buildBusyboxLayer(opts.busyboxPath ?? '/bin/busybox');
    return this.records.exclusive(async () => {
      const dir = this.records.stagingDir();
      try {
        const lw = this.content.writer(dir);
        lw.write(layer.tar);
        const li = lw.finish();
        const configBuf = Buffer.from(JSON.stringify(busyboxConfig(li.digest, layer.created)));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const ci = cw.finish();
        const [id] = await this.commit([
          {
            config: { file: cw.tempPath, digest: ci.digest, size: ci.size },
            configBuf,
            layers: [{ file: { file: lw.tempPath, digest: li.digest, size: li.size }, mediaType: MT.ociLayer }],
            names: [target],
          },
        ]);
        this.log.info({ id, ref: familiarString(target) }, 'built the offline busybox image');
        return { id: id!, created: true };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  /**
   * Stores an image made by the builder: `config` (its rootfs.diff_ids are the parent's plus the new
   * layer's, its `parent` the parent image), the parent's layers (already stored) and optionally one
   * new uncompressed layer tar staged with `layerWriter()` (moved into the store or removed).
   */
  async commitBuild(opts: { parentId?: string; config: ImageConfigDoc; layer?: { file: string; digest: string; size: number }; signal?: AbortSignal }): Promise<string> {
    return this.records.exclusive(async () => {
      const dir = this.records.stagingDir();
      try {
        const layers: Candidate['layers'] = [];
        if (opts.parentId) {
          const row = this.records.row(opts.parentId);
          if (!row) throw noSuchImage(opts.parentId);
          for (const b of JSON.parse(row.layer_blobs) as LayerBlob[]) {
            layers.push({ file: { file: this.content.path(b.digest), digest: b.digest, size: b.size }, mediaType: b.mediaType });
          }
        }
        if (opts.layer) layers.push({ file: opts.layer, mediaType: MT.ociLayer });
        const configBuf = Buffer.from(JSON.stringify(opts.config));
        const cw = this.content.writer(dir);
        cw.write(configBuf);
        const ci = cw.finish();
        const [id] = await this.commit(
          [{ config: { file: cw.tempPath, digest: ci.digest, size: ci.size }, configBuf, layers, names: [] }],
          undefined,
          opts.signal,
        );
        return id!;
      } finally {
        rmSync(dir, { recursive: true, force: true });
        if (opts.layer && existsSync(opts.layer.file)) rmSync(opts.layer.file, { force: true });
      }
    });
  }
}
