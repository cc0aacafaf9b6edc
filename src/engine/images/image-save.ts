import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { WharfError } from '../../core/errors.js';
import { shortId } from '../../core/ids.js';
import { uncompressed } from '../snapshots/unpack.js';
import { MT } from '../../oci/manifest.js';
import { familiarString, formatReference, parseReference, type Reference } from '../../oci/reference.js';
import { padding, tarHeader, TAR_TRAILER } from '../../oci/tar-writer.js';
import type { ProgressFn } from './types.js';
import { ImageStorePart } from './image-parts.js';
import type { LayerBlob } from './image-records.js';

// `docker save`: a docker-archive tar (manifest.json plus an OCI layout, like docker 25+), streamed.

function sha256Digest(b: Buffer): string {
  return `sha256:${createHashHex(b)}`;
}

function createHashHex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Writes image archives. */
export class ImageSaver extends ImageStorePart {

  // ---------- save ----------

  /** A docker-archive tar (manifest.json + OCI layout, like docker 25+) of the given images; refs resolved before streaming starts. */
  async save(refs: string[], opts: { signal?: AbortSignal; onProgress?: ProgressFn } = {}): Promise<Readable> {
    if (refs.length === 0) throw new WharfError('InvalidArgument', 'save: no images given');
    const images = new Map<string, Reference[]>();
    for (const ref of refs) {
      const r = this.records.resolveSync(ref);
      const names = images.get(r.id) ?? [];
      if (r.name !== undefined && r.digest === undefined) {
        const parsed = parseReference(r.name);
        if (!names.some((n) => formatReference(n) === r.name)) names.push(parsed);
      }
      images.set(r.id, names);
    }
    const plan = [...images].map(([id, names]) => {
      const row = this.records.row(id)!;
      const cfg = this.records.configOf(id);
      const blobs = JSON.parse(row.layer_blobs) as LayerBlob[];
      const chains = JSON.parse(row.chain_ids) as string[];
      const layers = chains.map((c, i) => {
        const info = this.layers.get(c);
        if (!info) throw new WharfError('Internal', `image ${id}: layer ${c} is not recorded`);
        const blob = blobs[i]!;
        if (!this.content.has(blob.digest)) throw new WharfError('Internal', `image ${id}: layer blob ${blob.digest} is missing`);
        return { diffId: cfg.rootfs.diff_ids[i]!, tarSize: info.tarSize, blob: blob.digest };
      });
      const configSize = this.content.info(id)!.size;
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: id, size: configSize },
          layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l.diffId, size: l.tarSize })),
        }),
      );
      return { id, names, layers, manifest, manifestDigest: sha256Digest(manifest) };
    });
    const content = this.content;
    const mtime = Math.floor(this.clock.now() / 1000);
    async function* generate(): AsyncGenerator<Buffer> {
      const written = new Set<string>();
      const file = function* (name: string, data: Buffer) {
        yield tarHeader({ name, type: 'file', size: data.length, mode: 0o644, mtime });
        yield data;
        yield padding(data.length);
      };
      yield tarHeader({ name: 'blobs/', type: 'dir', mode: 0o755, mtime });
      yield tarHeader({ name: 'blobs/sha256/', type: 'dir', mode: 0o755, mtime });
      for (const p of plan) {
        for (const l of p.layers) {
          opts.signal?.throwIfAborted();
          const name = `blobs/sha256/${l.diffId.slice(7)}`;
          if (written.has(name)) continue;
          written.add(name);
          yield tarHeader({ name, type: 'file', size: l.tarSize, mode: 0o644, mtime });
          let n = 0;
          for await (const c of uncompressed(content.createReadStream(l.blob))) {
            n += c.length;
            if (n > l.tarSize) throw new WharfError('Internal', `layer ${l.diffId} is longer than recorded`);
            yield c;
          }
          if (n !== l.tarSize) throw new WharfError('Internal', `layer ${l.diffId} is shorter than recorded`);
          yield padding(l.tarSize);
          opts.onProgress?.({ kind: 'layer', id: shortId(l.diffId), action: 'Done', current: l.tarSize, total: l.tarSize });
        }
        const cname = `blobs/sha256/${p.id.slice(7)}`;
        if (!written.has(cname)) {
          written.add(cname);
          yield* file(cname, content.readBuffer(p.id));
        }
        const mname = `blobs/sha256/${p.manifestDigest.slice(7)}`;
        if (!written.has(mname)) {
          written.add(mname);
          yield* file(mname, p.manifest);
        }
      }
      const index = {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: plan.flatMap((p) => {
          const desc = { mediaType: MT.ociManifest, digest: p.manifestDigest, size: p.manifest.length };
          if (p.names.length === 0) return [desc];
          return p.names.map((n) => ({
            ...desc,
            annotations: { 'io.containerd.image.name': formatReference(n), 'org.opencontainers.image.ref.name': n.tag ?? 'latest' },
          }));
        }),
      };
      const manifestJson = plan.map((p) => ({
        Config: `blobs/sha256/${p.id.slice(7)}`,
        RepoTags: p.names.map(familiarString),
        Layers: p.layers.map((l) => `blobs/sha256/${l.diffId.slice(7)}`),
      }));
      yield* file('index.json', Buffer.from(JSON.stringify(index)));
      yield* file('manifest.json', Buffer.from(JSON.stringify(manifestJson)));
      yield* file('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      yield TAR_TRAILER;
    }
    return Readable.from(generate(), { objectMode: false });
  }
}
