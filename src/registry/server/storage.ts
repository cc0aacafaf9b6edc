import { createHash, randomUUID } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContentStore, isDigest, syncFiles } from '../../oci/content-store.js';
import { parseDescriptor, parseJson, MT, type Descriptor } from '../../oci/manifest.js';
import { regErr } from './errors.js';

// The registry's storage: blobs (layers, configs and manifests alike) in the engine's content store
// (DATA_ROOT/blobs/sha256), and per repository DATA_ROOT/repositories/<name>/ with links, like the
// reference registry: _layers/<hex> (blobs this repository may serve), _manifests/revisions/<hex>
// (JSON {mediaType}), _manifests/tags/<tag> (a digest), _referrers/<subject hex>/<hex>. Uploads are
// files in the content store's ingest dir, so completing one is a rename.

const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const UUID_RE = /^[a-f0-9-]{36}$/;

export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

export function validName(name: string): string {
  if (name.length > 255 || !NAME_RE.test(name)) throw regErr('NAME_INVALID', `invalid repository name ${JSON.stringify(name)}`);
  return name;
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface ParsedManifest {
  mediaType: string;
  /** Blobs that must be in the repository (config, layers). */
  blobs: Descriptor[];
  /** Child manifests that must be in the repository (index entries). */
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
  configMediaType?: string;
}

export interface GcResult {
  removed: string[];
  bytes: number;
  kept: number;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a pushed manifest or index (any artifact config type: referrers may be signatures, SBOMs…). */
export function parseRegistryManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let v: unknown;
  try {
    v = parseJson(body, 'manifest');
  } catch (err) {
    throw regErr('MANIFEST_INVALID', (err as Error).message);
  }
  try {
    if (!isObj(v)) throw new Error('manifest must be a JSON object');
    if (v.schemaVersion !== 2) throw new Error(`unsupported schemaVersion ${JSON.stringify(v.schemaVersion)} (only 2)`);
    const ct = contentType?.split(';')[0]?.trim();
    const mediaType = typeof v.mediaType === 'string' ? v.mediaType : ct && ct !== 'application/json' ? ct : undefined;
    if (typeof v.mediaType === 'string' && ct && ct !== v.mediaType && ct !== 'application/json' && ct !== 'application/octet-stream') {
      throw new Error(`Content-Type ${ct} differs from the manifest's mediaType ${v.mediaType}`);
    }
    const out: ParsedManifest = { mediaType: mediaType ?? (Array.isArray(v.manifests) ? MT.ociIndex : MT.ociManifest), blobs: [], manifests: [] };
    if (typeof v.artifactType === 'string') out.artifactType = v.artifactType;
    if (isObj(v.annotations)) out.annotations = v.annotations as Record<string, string>;
    if (v.subject !== undefined) out.subject = parseDescriptor(v.subject, 'subject');
    if (out.mediaType === MT.ociIndex || out.mediaType === MT.dockerList) {
      if (!Array.isArray(v.manifests)) throw new Error('index has no manifests array');
      out.manifests = v.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`));
      return out;
    }
    if (out.mediaType !== MT.ociManifest && out.mediaType !== MT.dockerManifest) throw new Error(`unsupported manifest media type ${out.mediaType}`);
    const config = parseDescriptor(v.config, 'config');
    out.configMediaType = config.mediaType;
    if (!Array.isArray(v.layers)) throw new Error('manifest has no layers array');
    const layers = v.layers.map((l, i) => ({ d: parseDescriptor(l, `layers[${i}]`), urls: isObj(l) && Array.isArray(l.urls) && l.urls.length > 0 }));
    out.blobs = [config, ...layers.filter((l) => !l.urls).map((l) => l.d)];
    return out;
  } catch (err) {
    if ((err as { details?: unknown }).details) throw err;
    throw regErr('MANIFEST_INVALID', (err as Error).message);
  }
}

export class RegistryStorage {
  readonly content: ContentStore;
  readonly repoRoot: string;

  constructor(readonly dataRoot: string) {
    this.content = new ContentStore({ dataRoot });
    this.repoRoot = join(dataRoot, 'repositories');
    mkdirSync(this.repoRoot, { recursive: true, mode: 0o700 });
  }

  private repoDir(name: string): string {
    return join(this.repoRoot, validName(name));
  }

  repoExists(name: string): boolean {
    return existsSync(join(this.repoDir(name), '_manifests')) || existsSync(join(this.repoDir(name), '_layers'));
  }

  /** Every repository, sorted. */
  repositories(): string[] {
    const out: string[] = [];
    const walk = (dir: string, prefix: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      if (entries.includes('_manifests') && existsSync(join(dir, '_manifests', 'tags')) && readdirSync(join(dir, '_manifests', 'revisions')).length > 0) out.push(prefix);
      for (const e of entries) if (!e.startsWith('_')) walk(join(dir, e), prefix ? `${prefix}/${e}` : e);
    };
    walk(this.repoRoot, '');
    return out.sort();
  }

  // --- blobs -----------------------------------------------------------------------------------

  private linkPath(name: string, digest: string): string {
    return join(this.repoDir(name), '_layers', digest.slice(7));
  }

  hasBlob(name: string, digest: string): boolean {
    return existsSync(this.linkPath(name, digest)) && this.content.has(digest);
  }

  blobSize(name: string, digest: string): number {
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
    const info = existsSync(this.linkPath(name, digest)) ? this.content.info(digest) : undefined;
    if (!info) throw regErr('BLOB_UNKNOWN', `blob ${digest} is unknown to repository ${name}`);
    return info.size;
  }

  blobPath(digest: string): string {
    return this.content.path(digest);
  }

  /** Links a blob already in the store into a repository; refreshes its mtime (GC grace). */
  linkBlob(name: string, digest: string): void {
    const p = this.linkPath(name, digest);
    mkdirSync(join(this.repoDir(name), '_layers'), { recursive: true });
    writeFileSync(p, digest);
    const now = new Date();
    try {
      utimesSync(this.content.path(digest), now, now);
    } catch {
      /* raced with GC: the caller re-checks */
    }
  }

  unlinkBlob(name: string, digest: string): void {
    this.blobSize(name, digest);
    rmSync(this.linkPath(name, digest), { force: true });
  }

  mount(name: string, from: string, digest: string): boolean {
    if (!isDigest(digest) || !this.hasBlob(validName(from), digest)) return false;
    this.linkBlob(name, digest);
    return true;
  }

  async putBlob(name: string, body: Readable, digest: string): Promise<number> {
    validName(name);
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
    const w = this.content.writer();
    try {
      for await (const chunk of body) w.write(chunk as Buffer);
    } catch (err) {
      w.abort();
      throw err;
    }
    const info = w.finish();
    if (info.digest !== digest) {
      w.abort();
      throw regErr('DIGEST_INVALID', `digest mismatch: the client said ${digest}, the content is ${info.digest}`);
    }
    try {
      await syncFiles([w.tempPath]);
      this.content.adopt(w.tempPath, digest);
    } catch (err) {
      w.abort();
      throw err;
    }
    this.linkBlob(name, digest);
    return info.size;
  }

  // --- uploads ---------------------------------------------------------------------------------

  private uploadPath(uuid: string): string {
    if (!UUID_RE.test(uuid)) throw regErr('BLOB_UPLOAD_UNKNOWN', `upload ${uuid} is unknown`);
    return join(this.content.ingestDir, `upload-${uuid}`);
  }

  startUpload(name: string): string {
    validName(name);
    const uuid = randomUUID();
    writeFileSync(this.uploadPath(uuid), '', { flag: 'wx', mode: 0o600 });
    writeFileSync(`${this.uploadPath(uuid)}.repo`, name);
    return uuid;
  }

  uploadSize(name: string, uuid: string): number {
    const p = this.uploadPath(uuid);
    try {
      if (readFileSync(`${p}.repo`, 'utf8') !== name) throw new Error('other repository');
      return statSync(p).size;
    } catch {
      throw regErr('BLOB_UPLOAD_UNKNOWN', `upload ${uuid} is unknown to repository ${name}`);
    }
  }

  /** Appends a chunk; `start` (from Content-Range) must equal the current size. */
  async appendUpload(name: string, uuid: string, body: Readable, start?: number): Promise<number> {
    const size = this.uploadSize(name, uuid);
    if (start !== undefined && start !== size) throw regErr('RANGE_INVALID', `chunk starts at ${start}, the upload has ${size} bytes`);
    await pipeline(body, createWriteStream(this.uploadPath(uuid), { flags: 'a' }));
    return statSync(this.uploadPath(uuid)).size;
  }

  /** Verifies the upload's digest and moves it into the store. A mismatch deletes the upload. */
  async completeUpload(name: string, uuid: string, digest: string): Promise<number> {
    const p = this.uploadPath(uuid);
    this.uploadSize(name, uuid);
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) {
      this.cancelUpload(name, uuid);
      throw regErr('DIGEST_INVALID', `digest mismatch: the client said ${digest}, the content is ${actual}`);
    }
    const size = statSync(p).size;
    await syncFiles([p]);
    this.content.adopt(p, digest);
    rmSync(`${p}.repo`, { force: true });
    this.linkBlob(name, digest);
    return size;
  }

  cancelUpload(name: string, uuid: string): void {
    this.uploadSize(name, uuid);
    const p = this.uploadPath(uuid);
    rmSync(p, { force: true });
    rmSync(`${p}.repo`, { force: true });
  }

  // --- manifests -------------------------------------------------------------------------------

  private revPath(name: string, digest: string): string {
    return join(this.repoDir(name), '_manifests', 'revisions', digest.slice(7));
  }

  private tagPath(name: string, tag: string): string {
    return join(this.repoDir(name), '_manifests', 'tags', tag);
  }

  /** Resolves a tag or digest to a digest in this repository. */
  resolve(name: string, ref: string): string {
    if (isDigest(ref)) {
      if (!existsSync(this.revPath(name, ref))) throw regErr('MANIFEST_UNKNOWN', `manifest ${ref} is unknown to repository ${name}`);
      return ref;
    }
    if ((ref as string).includes(':')) throw regErr('DIGEST_INVALID', `invalid digest ${JSON.stringify(ref)}`);
    if (!isTag(ref)) throw regErr('MANIFEST_INVALID', `invalid tag ${JSON.stringify(ref)}`);
    try {
      return readFileSync(this.tagPath(name, ref), 'utf8').trim();
    } catch {
      if (!this.repoExists(name)) throw regErr('NAME_UNKNOWN', `repository ${name} is not known to the registry`);
      throw regErr('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is unknown`);
    }
  }

  getManifest(name: string, ref: string): StoredManifest {
    const digest = this.resolve(name, ref);
    let meta: { mediaType: string };
    try {
      meta = JSON.parse(readFileSync(this.revPath(name, digest), 'utf8')) as { mediaType: string };
      return { digest, mediaType: meta.mediaType, body: this.content.readBuffer(digest, MAX_MANIFEST_SIZE) };
    } catch {
      throw regErr('MANIFEST_UNKNOWN', `manifest ${digest} is unknown to repository ${name}`);
    }
  }

  async putManifest(name: string, ref: string, body: Buffer, contentType: string | undefined): Promise<{ digest: string; subject?: string }> {
    validName(name);
    if (body.length > MAX_MANIFEST_SIZE) throw regErr('TOO_LARGE', `manifest is ${body.length} bytes, over the limit of ${MAX_MANIFEST_SIZE}`);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (isDigest(ref)) {
      if (ref !== digest) throw regErr('DIGEST_INVALID', `digest mismatch: the reference is ${ref}, the manifest is ${digest}`);
    } else if (!isTag(ref)) throw regErr('MANIFEST_INVALID', `invalid tag ${JSON.stringify(ref)}`);
    const m = parseRegistryManifest(body, contentType);
    const missing = [
      ...m.blobs.filter((d) => !this.hasBlob(name, d.digest)).map((d) => d.digest),
      ...m.manifests.filter((d) => !existsSync(this.revPath(name, d.digest))).map((d) => d.digest),
    ];
    if (missing.length > 0) throw regErr('MANIFEST_BLOB_UNKNOWN', `manifest references blobs not in repository ${name}: ${missing.join(', ')}`, { digests: missing });
    await this.content.writeBuffer(body, { digest });
    mkdirSync(join(this.repoDir(name), '_manifests', 'revisions'), { recursive: true });
    mkdirSync(join(this.repoDir(name), '_manifests', 'tags'), { recursive: true });
    writeAtomic(this.revPath(name, digest), JSON.stringify({ mediaType: m.mediaType }));
    const now = new Date();
    utimesSync(this.content.path(digest), now, now);
    if (m.subject) {
      const dir = join(this.repoDir(name), '_referrers', m.subject.digest.slice(7));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, digest.slice(7)), digest);
    }
    if (!isDigest(ref)) writeAtomic(this.tagPath(name, ref), digest);
    return m.subject ? { digest, subject: m.subject.digest } : { digest };
  }

  /** DELETE by digest removes the manifest and every tag on it; by tag removes the tag only. */
  deleteManifest(name: string, ref: string): void {
    if (!isDigest(ref)) {
      this.resolve(name, ref);
      rmSync(this.tagPath(name, ref));
      return;
    }
    const { body, mediaType } = this.getManifest(name, ref);
    for (const t of this.tags(name)) {
      if (readFileSync(this.tagPath(name, t), 'utf8').trim() === ref) rmSync(this.tagPath(name, t), { force: true });
    }
    rmSync(this.revPath(name, ref), { force: true });
    try {
      const m = parseRegistryManifest(body, mediaType);
      if (m.subject) rmSync(join(this.repoDir(name), '_referrers', m.subject.digest.slice(7), ref.slice(7)), { force: true });
    } catch {
      /* stored manifests were valid */
    }
  }

  tags(name: string): string[] {
    if (!this.repoExists(name)) throw regErr('NAME_UNKNOWN', `repository ${name} is not known to the registry`);
    try {
      return readdirSync(join(this.repoDir(name), '_manifests', 'tags')).filter(isTag).sort();
    } catch {
      return [];
    }
  }

  /** Descriptors of the manifests whose subject is `digest`. */
  referrers(name: string, digest: string): Record<string, unknown>[] {
    validName(name);
    if (!isDigest(digest)) throw regErr('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`);
    let entries: string[] = [];
    try {
      entries = readdirSync(join(this.repoDir(name), '_referrers', digest.slice(7)));
    } catch {
      return [];
    }
    const out: Record<string, unknown>[] = [];
    for (const hex of entries.sort()) {
      try {
        const m = this.getManifest(name, `sha256:${hex}`);
        const p = parseRegistryManifest(m.body, m.mediaType);
        const d: Record<string, unknown> = { mediaType: m.mediaType, digest: m.digest, size: m.body.length };
        const at = p.artifactType ?? p.configMediaType;
        if (at) d.artifactType = at;
        if (p.annotations) d.annotations = p.annotations;
        out.push(d);
      } catch {
        /* deleted meanwhile */
      }
    }
    return out;
  }

  // --- garbage collection ----------------------------------------------------------------------

  /**
   * Mark and sweep: every blob referenced by a manifest revision of any repository (and the
   * manifests themselves) is kept; other blobs older than `graceMs` are deleted, with their links.
   * The grace period protects uploads completed whose manifest is not pushed yet: completing an
   * upload, mounting or linking refreshes the blob's mtime. Uploads in progress live in the ingest
   * dir, which GC leaves alone unless untouched for a day.
   */
  gc(opts: { graceMs: number; now?: number }): GcResult {
    const now = opts.now ?? Date.now();
    const referenced = new Set<string>();
    for (const repo of this.allRepoDirs()) {
      let revs: string[] = [];
      try {
        revs = readdirSync(join(this.repoRoot, repo, '_manifests', 'revisions'));
      } catch {
        continue;
      }
      for (const hex of revs) {
        const digest = `sha256:${hex}`;
        referenced.add(digest);
        try {
          const meta = JSON.parse(readFileSync(join(this.repoRoot, repo, '_manifests', 'revisions', hex), 'utf8')) as { mediaType: string };
          const m = parseRegistryManifest(this.content.readBuffer(digest, MAX_MANIFEST_SIZE), meta.mediaType);
          for (const d of [...m.blobs, ...m.manifests]) referenced.add(d.digest);
        } catch {
          /* a broken revision keeps only itself */
        }
      }
    }
    const removed: string[] = [];
    let bytes = 0;
    let kept = 0;
    for (const digest of this.content.list()) {
      if (referenced.has(digest)) {
        kept++;
        continue;
      }
      let st;
      try {
        st = statSync(this.content.path(digest));
      } catch {
        continue;
      }
      if (now - st.mtimeMs < opts.graceMs) {
        kept++;
        continue;
      }
      this.content.delete(digest);
      removed.push(digest);
      bytes += st.size;
    }
    const gone = new Set(removed);
    for (const repo of this.allRepoDirs()) {
      const dir = join(this.repoRoot, repo, '_layers');
      let links: string[] = [];
      try {
        links = readdirSync(dir);
      } catch {
        continue;
      }
      for (const hex of links) if (gone.has(`sha256:${hex}`)) rmSync(join(dir, hex), { force: true });
    }
    const cutoff = now - 24 * 60 * 60 * 1000;
    for (const n of readdirSync(this.content.ingestDir)) {
      try {
        if (statSync(join(this.content.ingestDir, n)).mtimeMs < cutoff) rmSync(join(this.content.ingestDir, n), { force: true });
      } catch {
        /* raced with its writer */
      }
    }
    return { removed, bytes, kept };
  }

  private allRepoDirs(): string[] {
    const out: string[] = [];
    const walk = (dir: string, prefix: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      if (entries.includes('_manifests') || entries.includes('_layers')) out.push(prefix);
      for (const e of entries) if (!e.startsWith('_')) walk(join(dir, e), prefix ? `${prefix}/${e}` : e);
    };
    walk(this.repoRoot, '');
    return out;
  }
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${randomUUID()}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
