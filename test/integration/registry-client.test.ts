import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { silentLogger } from '../../src/core/log.js';
import { EngineDb } from '../../src/engine/db.js';
import { ImageDistribution, type DistributionProgress } from '../../src/engine/images/distribution.js';
import { ImageService } from '../../src/engine/images/image-service.js';
import { buildArchive, buildImage, sha256, type BuiltImage } from '../../src/engine/images/testing.js';
import { RegistryClient } from '../../src/registry/client/registry-client.js';
import { RegistryServer } from '../../src/registry/server/server.js';

// The registry client and pull/push against (a) a lying registry — a small node:http server that
// sends wrong digests, wrong sizes, truncated and stalled bodies, huge manifests, endless redirects
// and 500s — and (b) Wharf's registry for push details (mount, chunked upload, re-push). The engine's
// store must stay clean after every failure: no image, no blob, no temp file, no half layer.

const root = mkdtempSync('/var/tmp/wharf-test-regclient-');
let db: EngineDb;
let images: ImageService;
let client: RegistryClient;
let dist: ImageDistribution;
let liar: Server;
let liarHost: string;
let img: BuiltImage;
const hits: { url: string; range?: string }[] = [];
const counters = new Map<string, number>();

function count(key: string): number {
  const n = (counters.get(key) ?? 0) + 1;
  counters.set(key, n);
  return n;
}

/** Behaviour by repository name: `<mode>/img`. */
function serve(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  hits.push({ url, ...(req.headers.range ? { range: req.headers.range } : {}) });
  if (url === '/v2/') return void res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
  const m = /^\/v2\/([a-z0-9-]+)\/img\/(manifests|blobs)\/(.+)$/.exec(url);
  if (!m) return void res.writeHead(404).end();
  const [, mode, kind, ref] = m as unknown as [string, string, string, string];
  if (kind === 'manifests') {
    if (mode === 'bigmanifest') {
      const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
      return void res.writeHead(200, { 'content-type': img.manifest.toString().includes('oci') ? 'application/vnd.oci.image.manifest.v1+json' : '', 'content-length': big.length }).end(big);
    }
    if (mode === 'flaky500' && count('flaky500') <= 2) return void res.writeHead(500).end('{"errors":[{"code":"UNKNOWN","message":"try later"}]}');
    if (mode === 'always500') return void res.writeHead(503).end('{"errors":[{"code":"UNAVAILABLE","message":"down"}]}');
    if (ref !== 'v1' && ref !== img.manifestDigest) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    return void res
      .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': img.manifestDigest, 'content-length': img.manifest.length })
      .end(img.manifest);
  }
  if (mode === 'redirect') return void res.writeHead(307, { location: `/v2/redirect/img/blobs/${ref}?again=${count('redirect')}` }).end();
  let body: Buffer | undefined;
  if (ref === img.configDigest) body = img.config;
  const layer = img.layers.find((l) => l.digest === ref);
  if (layer) body = layer.blob;
  if (!body) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
  if (layer && mode === 'baddigest') {
    body = Buffer.from(body);
    body.writeUInt8(body.readUInt8(body.length - 1) ^ 0xff, body.length - 1);
  }
  if (layer && mode === 'wrongsize') body = Buffer.concat([body, Buffer.from('extra bytes')]);
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) start = Number(range[1]);
  const part = body.subarray(start);
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': part.length };
  if (range) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  res.writeHead(range ? 206 : 200, headers);
  const half = Math.floor(body.length / 2);
  const upTo = mode.endsWith('always') ? Math.min(start + 32 * 1024, body.length - 1) : half;
  if (layer && (mode === 'cutonce' || mode === 'cutalways') && start < upTo && (mode === 'cutalways' || count(`cut-${ref}`) === 1)) {
    // Send part of the body, then drop the connection.
    res.write(body.subarray(start, upTo));
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  if (layer && (mode === 'stallonce' || mode === 'stallalways') && start < upTo && (mode === 'stallalways' || count(`stall-${ref}`) === 1)) {
    res.write(body.subarray(start, upTo)); // then nothing: the client's body timeout must fire
    return;
  }
  if (layer && mode === 'norange' && start > 0) {
    // Ignores Range: the whole body again with 200.
    res.statusCode = 200;
  }
  res.end(part);
}

function storeIsClean(): void {
  expect(readdirSync(join(root, 'data', 'blobs', 'ingest'))).toEqual([]);
  expect(readdirSync(join(root, 'data', 'layers')).filter((n) => n.startsWith('tmp-'))).toEqual([]);
}

async function pullFails(ref: string, re: RegExp): Promise<void> {
  const before = await images.list();
  const blobsBefore = images.content.list().length;
  await expect(dist.pull(ref)).rejects.toThrow(re);
  expect(await images.list()).toEqual(before);
  expect(images.content.list().length).toBe(blobsBefore);
  storeIsClean();
}

beforeAll(async () => {
  db = EngineDb.open({ dataRoot: join(root, 'data') });
  images = new ImageService({ dataRoot: join(root, 'data'), db, logger: silentLogger() });
  client = new RegistryClient({ logger: silentLogger(), retries: 3, backoffMs: 10, bodyTimeoutMs: 400, maxRedirects: 4 });
  dist = new ImageDistribution({ images, client, logger: silentLogger() });
  img = await buildImage({
    compression: 'gzip',
    layers: [
      [{ path: 'etc/' }, { path: 'etc/hello', data: 'hi\n' }],
      [{ path: 'data/' }, { path: 'data/random', data: randomBytes(300 * 1024) }],
    ],
  });
  liar = createServer(serve);
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
  liarHost = `127.0.0.1:${(liar.address() as AddressInfo).port}`;
});

afterAll(async () => {
  liar?.closeAllConnections();
  await new Promise((r) => liar?.close(r));
  await client?.close();
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('pull from a lying registry', () => {
  it('a wrong digest is refused with a clear error and nothing is stored', async () => {
    await pullFails(`${liarHost}/baddigest/img:v1`, /verification failed for digest/);
  });

  it('a body longer than the manifest says is refused', async () => {
    await pullFails(`${liarHost}/wrongsize/img:v1`, /more than the \d+ bytes the manifest declares/);
  });

  it('a manifest over 4 MiB is refused', async () => {
    await pullFails(`${liarHost}/bigmanifest/img:v1`, /over the limit|larger than the limit/);
  });

  it('endless redirects end with a clear error', async () => {
    await pullFails(`${liarHost}/redirect/img:v1`, /too many redirects/);
  });

  it('a registry answering 503 every time fails clearly after the retries', async () => {
    await pullFails(`${liarHost}/always500/img:v1`, /down|503/);
  });

  it('a body that always breaks off fails clearly; a stalled body too', async () => {
    await pullFails(`${liarHost}/cutalways/img:v1`, /after \d+ attempts/);
    await pullFails(`${liarHost}/stallalways/img:v1`, /after \d+ attempts/);
  });

  it('two 500s are retried, and a dropped connection is resumed with Range', async () => {
    const progress: DistributionProgress[] = [];
    hits.length = 0;
    const r = await dist.pull(`${liarHost}/flaky500/img:v1`, { onProgress: (p) => progress.push(p) });
    expect(r.id).toBe(img.configDigest);
    await images.remove(`${liarHost}/flaky500/img:v1`);
    expect(await images.list()).toEqual([]);
    expect(images.layers.all()).toEqual([]);
    hits.length = 0;
    const r2 = await dist.pull(`${liarHost}/cutonce/img:v1`, { onProgress: (p) => progress.push(p) });
    expect(r2.id).toBe(img.configDigest);
    const big = img.layers[1]!.digest;
    const resumed = hits.filter((h) => h.url.endsWith(big) && h.range);
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect((await images.inspect(`${liarHost}/cutonce/img:v1`)).rootFS.layers).toEqual(img.layers.map((l) => l.diffId));
    expect(progress.map((p) => p.status)).toContain('Pull complete');
    expect(progress.at(-1)!.status).toBe(`Status: Downloaded newer image for ${liarHost}/cutonce/img:v1`);
    storeIsClean();
    await images.remove(`${liarHost}/cutonce/img:v1`);
  });

  it('a stalled body is resumed after the body timeout; a server ignoring Range is handled', async () => {
    const r = await dist.pull(`${liarHost}/stallonce/img:v1`);
    expect(r.id).toBe(img.configDigest);
    await images.remove(`${liarHost}/stallonce/img:v1`);
    counters.clear();
    const r2 = await dist.pull(`${liarHost}/norange/img:v1`);
    expect(r2.id).toBe(img.configDigest);
    // Pulling again only checks the manifest.
    hits.length = 0;
    const again = await dist.pull(`${liarHost}/norange/img:v1`);
    expect(again.upToDate).toBe(true);
    expect(hits.filter((h) => h.url.includes('/blobs/'))).toEqual([]);
    await images.remove(`${liarHost}/norange/img:v1`);
    storeIsClean();
  });
});

describe("push to Wharf's registry", () => {
  let reg: RegistryServer;
  let host: string;

  beforeAll(async () => {
    reg = new RegistryServer({ dataRoot: join(root, 'reg'), logger: silentLogger() });
    host = `127.0.0.1:${(await reg.listen('127.0.0.1', 0)).port}`;
  });

  afterAll(async () => {
    await reg?.close();
  });

  it('compresses uncompressed layers once, mounts across repositories, uploads in chunks, re-push skips', async () => {
    const plain = await buildImage({ compression: 'none', layers: [[{ path: 'f', data: randomBytes(200 * 1024) }], [{ path: 'g', data: 'x' }]] });
    await images.load(Readable.from([buildArchive([{ image: plain, repoTags: [`${host}/a/one:1`] }], 'docker-oci')]));
    const chunked = new ImageDistribution({ images, client, logger: silentLogger(), uploadChunkSize: 64 * 1024 });
    const p1: string[] = [];
    await chunked.push(`${host}/a/one`, '1', { onProgress: (p) => p1.push(p.status) });
    expect(p1.filter((s) => s === 'Pushed')).toHaveLength(2);
    const digestLine = p1.find((s) => s.startsWith('1: digest: '))!;
    expect(digestLine).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/);
    // The registry holds gzip layers whose uncompressed content is the image's diffIDs.
    const man = JSON.parse(Buffer.from(await (await fetch(`http://${host}/v2/a/one/manifests/1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).arrayBuffer()).toString()) as {
      mediaType: string;
      layers: { mediaType: string; digest: string }[];
    };
    expect(man.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(man.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
    const blob = Buffer.from(await (await fetch(`http://${host}/v2/a/one/blobs/${man.layers[0]!.digest}`)).arrayBuffer());
    expect(sha256(gunzipSync(blob))).toBe(plain.layers[0]!.diffId);
    // Re-push: every layer already exists.
    const p2: string[] = [];
    await dist.push(`${host}/a/one`, '1', { onProgress: (p) => p2.push(p.status) });
    expect(p2.filter((s) => s === 'Layer already exists')).toHaveLength(2);
    expect(p2.find((s) => s.startsWith('1: digest: '))).toBe(digestLine);
    // Another repository on the same registry: mounted, not uploaded.
    await images.tag(`${host}/a/one:1`, `${host}/b/two`, '2');
    const p3: string[] = [];
    await dist.push(`${host}/b/two`, '2', { onProgress: (p) => p3.push(p.status) });
    expect(p3.filter((s) => s === 'Mounted from a/one')).toHaveLength(2);
    // Pull back by digest after removing everything: the same image.
    const digest = digestLine.split(' ')[2]!;
    await images.remove(`${host}/b/two:2`);
    await images.remove(`${host}/a/one:1`, { force: true });
    expect(await images.list()).toEqual([]);
    const back = await dist.pull(`${host}/a/one@${digest}`);
    expect(back.id).toBe(plain.configDigest);
    const saved = await images.save([back.id]);
    let n = 0;
    for await (const c of saved) n += (c as Buffer).length;
    expect(n).toBeGreaterThan(200 * 1024);
    storeIsClean();
  });
});
