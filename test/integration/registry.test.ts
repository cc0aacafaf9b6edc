import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/log.js';
import { MT } from '../../src/oci/manifest.js';
import { buildArchive, sha256, type BuiltImage } from '../../src/engine/images/testing.js';
import { hashPassword, parseUsersFile } from '../../src/registry/server/auth.js';
import { RegistryServer } from '../../src/registry/server/server.js';
import { skopeo, startReferenceRegistry, testImage, writeOciLayout, type ReferenceRegistry } from './registry-harness.js';

// Wharf's registry against real clients (skopeo, plain HTTP) on loopback, side by side with Debian's
// docker-registry for the same skopeo copy.

const root = mkdtempSync('/var/tmp/wharf-test-registry-');
let server: RegistryServer;
let base: string;
let host: string;
let img: BuiltImage;
let layout: string;

function ociIndexDigest(dir: string, tag: string): string {
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const m = idx.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? idx.manifests[0];
  return m!.digest;
}

async function errorCode(r: Response): Promise<string | undefined> {
  const body = (await r.json()) as { errors?: { code: string }[] };
  return body.errors?.[0]?.code;
}

beforeAll(async () => {
  server = new RegistryServer({ dataRoot: join(root, 'wharf'), logger: silentLogger() });
  const addr = await server.listen('127.0.0.1', 0);
  host = `127.0.0.1:${addr.port}`;
  base = `http://${host}`;
  img = await testImage('one');
  layout = join(root, 'layout');
  writeOciLayout(layout, [{ image: img, tag: 'v1' }]);
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('registry with skopeo', () => {
  it('answers the /v2/ ping with the API version header', async () => {
    const r = await fetch(`${base}/v2/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('skopeo copies an OCI layout in and back out with the same digests', async () => {
    await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${host}/test/img:v1`]);
    const inspect = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/test/img:v1`]);
    expect(sha256(Buffer.from(inspect.stdout))).toBe(img.manifestDigest);
    const out = join(root, 'out1');
    await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/test/img:v1`, `oci:${out}:v1`]);
    expect(ociIndexDigest(out, 'v1')).toBe(img.manifestDigest);
    for (const l of img.layers) expect(sha256(readFileSync(join(out, 'blobs', 'sha256', l.digest.slice(7))))).toBe(l.digest);
  });

  it('skopeo copies a docker-archive in (Docker schema 2) and serves it back', async () => {
    const tar = join(root, 'img.tar');
    const image = await testImage('docker');
    writeFileSync(tar, buildArchive([{ image, repoTags: ['docker/img:v1'] }], 'docker-legacy'));
    await skopeo(['copy', '--dest-tls-verify=false', `docker-archive:${tar}`, `docker://${host}/docker/img:v1`]);
    const r = await fetch(`${base}/v2/docker/img/manifests/v1`, { headers: { Accept: MT.dockerManifest } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(MT.dockerManifest);
    const body = Buffer.from(await r.arrayBuffer());
    expect(r.headers.get('docker-content-digest')).toBe(sha256(body));
    const back = join(root, 'back.tar');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/docker/img:v1`, `docker-archive:${back}:docker/img:v1`]);
    const inspect = await skopeo(['inspect', '--raw', `docker-archive:${back}`]);
    expect((JSON.parse(inspect.stdout) as { layers: unknown[] }).layers).toHaveLength(2);
  });

  it('round-trips a multi-arch index and negotiates linux/amd64 for clients without index support', async () => {
    const amd = await testImage('multi', 'amd64');
    const arm = await testImage('multi', 'arm64');
    const dir = join(root, 'multi');
    const { indexDigest } = writeOciLayout(
      dir,
      [
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
      ],
      { tag: 'multi' },
    );
    await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:multi`, `docker://${host}/test/multi:latest`]);
    const idx = await fetch(`${base}/v2/test/multi/manifests/latest`, { headers: { Accept: `${MT.ociIndex}, ${MT.ociManifest}` } });
    expect(idx.headers.get('docker-content-digest')).toBe(indexDigest);
    expect(idx.headers.get('content-type')).toBe(MT.ociIndex);
    const single = await fetch(`${base}/v2/test/multi/manifests/latest`, { headers: { Accept: MT.ociManifest } });
    expect(single.headers.get('docker-content-digest')).toBe(amd.manifestDigest);
    const out = join(root, 'multi-out');
    await skopeo(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/test/multi:latest`, `oci:${out}:multi`]);
    expect(ociIndexDigest(out, 'multi')).toBe(indexDigest);
    expect(readFileSync(join(out, 'blobs', 'sha256', arm.manifestDigest.slice(7)))).toEqual(arm.manifest);
  });

  it("accepts the same skopeo copy as Debian's docker-registry, with the same digests", async () => {
    let ref: ReferenceRegistry | undefined;
    try {
      ref = await startReferenceRegistry(join(root, 'reference'));
      const refHost = `127.0.0.1:${ref.port}`;
      for (const h of [refHost, host]) {
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${h}/compare/img:v1`]);
      }
      const digests = await Promise.all(
        [refHost, host].map(async (h) => sha256(Buffer.from((await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${h}/compare/img:v1`])).stdout))),
      );
      expect(digests).toEqual([img.manifestDigest, img.manifestDigest]);
      // And a copy straight from the reference registry into Wharf's.
      await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${refHost}/compare/img:v1`, `docker://${host}/from-ref/img:v1`]);
      const r = await fetch(`${base}/v2/from-ref/img/manifests/v1`, { method: 'HEAD', headers: { Accept: MT.ociManifest } });
      expect(r.headers.get('docker-content-digest')).toBe(img.manifestDigest);
    } finally {
      await ref?.stop();
    }
  });
});

describe('registry over HTTP', () => {
  it('takes a chunked upload, reports its status, rejects an out-of-order chunk, and verifies the digest', async () => {
    const data = Buffer.from('chunk-one|chunk-two|chunk-three');
    const digest = sha256(data);
    const start = await fetch(`${base}/v2/chunked/repo/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    const loc = start.headers.get('location')!;
    const p1 = await fetch(`${base}${loc}`, { method: 'PATCH', body: data.subarray(0, 10), headers: { 'Content-Range': '0-9', 'Content-Type': 'application/octet-stream' } });
    expect(p1.status).toBe(202);
    expect(p1.headers.get('range')).toBe('0-9');
    const wrong = await fetch(`${base}${loc}`, { method: 'PATCH', body: data.subarray(20), headers: { 'Content-Range': '20-30' } });
    expect(wrong.status).toBe(416);
    const status = await fetch(`${base}${loc}`);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-9');
    await fetch(`${base}${loc}`, { method: 'PATCH', body: data.subarray(10), headers: { 'Content-Range': `10-${data.length - 1}` } });
    const bad = await fetch(`${base}${loc}?digest=${sha256('other')}`, { method: 'PUT' });
    expect(bad.status).toBe(400);
    expect(await errorCode(bad)).toBe('DIGEST_INVALID');
    expect((await fetch(`${base}${loc}`)).status).toBe(404);

    const again = await fetch(`${base}/v2/chunked/repo/blobs/uploads/`, { method: 'POST' });
    const loc2 = again.headers.get('location')!;
    await fetch(`${base}${loc2}`, { method: 'PATCH', body: data.subarray(0, 5) });
    const done = await fetch(`${base}${loc2}?digest=${digest}`, { method: 'PUT', body: data.subarray(5) });
    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(digest);
    const got = await fetch(`${base}/v2/chunked/repo/blobs/${digest}`);
    expect(Buffer.from(await got.arrayBuffer())).toEqual(data);
    const part = await fetch(`${base}/v2/chunked/repo/blobs/${digest}`, { headers: { Range: 'bytes=10-18' } });
    expect(part.status).toBe(206);
    expect(await part.text()).toBe('chunk-two');
    expect(part.headers.get('content-range')).toBe(`bytes 10-18/${data.length}`);
  });

  it('rejects a monolithic upload whose content does not match its digest', async () => {
    const r = await fetch(`${base}/v2/bad/digest/blobs/uploads/?digest=${sha256('not this')}`, { method: 'POST', body: 'this' });
    expect(r.status).toBe(400);
    expect(await errorCode(r)).toBe('DIGEST_INVALID');
    expect((await fetch(`${base}/v2/bad/digest/blobs/${sha256('not this')}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('mounts a blob across repositories, and falls back to an upload when the source lacks it', async () => {
    const layer = img.layers[0]!.digest;
    const m = await fetch(`${base}/v2/mounted/repo/blobs/uploads/?mount=${layer}&from=test/img`, { method: 'POST' });
    expect(m.status).toBe(201);
    expect((await fetch(`${base}/v2/mounted/repo/blobs/${layer}`, { method: 'HEAD' })).status).toBe(200);
    const miss = await fetch(`${base}/v2/mounted/repo/blobs/uploads/?mount=${sha256('nowhere')}&from=test/img`, { method: 'POST' });
    expect(miss.status).toBe(202);
    expect((await fetch(`${base}/v2/other/repo/blobs/${layer}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('rejects a manifest that references a missing blob, a bad digest reference and an oversized manifest', async () => {
    const missing = { ...JSON.parse(img.manifest.toString()), layers: [{ mediaType: MT.ociLayerGzip, digest: sha256('absent'), size: 6 }] } as object;
    const r = await fetch(`${base}/v2/test/img/manifests/broken`, { method: 'PUT', body: JSON.stringify(missing), headers: { 'Content-Type': MT.ociManifest } });
    expect(r.status).toBe(400);
    expect(await errorCode(r)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await fetch(`${base}/v2/test/img/manifests/broken`)).status).toBe(404);
    const d = await fetch(`${base}/v2/test/img/manifests/${sha256('x')}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': MT.ociManifest } });
    expect(await errorCode(d)).toBe('DIGEST_INVALID');
    const big = await fetch(`${base}/v2/test/img/manifests/big`, { method: 'PUT', body: Buffer.alloc(5 * 1024 * 1024, 32), headers: { 'Content-Type': MT.ociManifest } });
    expect(big.status).toBe(413);
    const unknown = await fetch(`${base}/v2/test/img/manifests/nope`);
    expect(await errorCode(unknown)).toBe('MANIFEST_UNKNOWN');
    expect(await errorCode(await fetch(`${base}/v2/no/such/repo/tags/list`))).toBe('NAME_UNKNOWN');
    expect(await errorCode(await fetch(`${base}/v2/Bad_Name/tags/list`))).toBe('NAME_INVALID');
  });

  it('paginates tags and the catalog with n, last and a Link header', async () => {
    for (const t of ['t1', 't2', 't3', 't4', 't5']) {
      const r = await fetch(`${base}/v2/test/img/manifests/${t}`, { method: 'PUT', body: img.manifest, headers: { 'Content-Type': MT.ociManifest } });
      expect(r.status).toBe(201);
    }
    const p1 = await fetch(`${base}/v2/test/img/tags/list?n=2`);
    expect(await p1.json()).toEqual({ name: 'test/img', tags: ['t1', 't2'] });
    const link = p1.headers.get('link')!;
    expect(link).toContain('rel="next"');
    const next = /<([^>]+)>/.exec(link)![1]!;
    expect(((await (await fetch(`${base}${next}`)).json()) as { tags: string[] }).tags).toEqual(['t3', 't4']);
    const all = (await (await fetch(`${base}/v2/test/img/tags/list`)).json()) as { tags: string[] };
    expect(all.tags).toEqual(['t1', 't2', 't3', 't4', 't5', 'v1']);
    const c1 = await fetch(`${base}/v2/_catalog?n=1`);
    const first = ((await c1.json()) as { repositories: string[] }).repositories;
    expect(first).toHaveLength(1);
    const c2 = await fetch(`${base}/v2/_catalog?n=100&last=${first[0]}`);
    const rest = ((await c2.json()) as { repositories: string[] }).repositories;
    expect(rest).toContain('test/img');
    expect(rest).not.toContain(first[0]);
    expect(c2.headers.get('link')).toBeNull();
    // DELETE by tag removes only the tag.
    expect((await fetch(`${base}/v2/test/img/manifests/t5`, { method: 'DELETE' })).status).toBe(202);
    expect((await fetch(`${base}/v2/test/img/manifests/t5`)).status).toBe(404);
    expect((await fetch(`${base}/v2/test/img/manifests/t4`)).status).toBe(200);
  });

  it('lists referrers: manifests whose subject is a digest, filtered by artifactType', async () => {
    const empty = Buffer.from('{}');
    await fetch(`${base}/v2/test/img/blobs/uploads/?digest=${sha256(empty)}`, { method: 'POST', body: empty });
    const sig = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        artifactType: 'application/vnd.example.signature',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(empty), size: 2 }],
        subject: { mediaType: MT.ociManifest, digest: img.manifestDigest, size: img.manifest.length },
        annotations: { who: 'test' },
      }),
    );
    const put = await fetch(`${base}/v2/test/img/manifests/${sha256(sig)}`, { method: 'PUT', body: sig, headers: { 'Content-Type': MT.ociManifest } });
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBe(img.manifestDigest);
    const r = await fetch(`${base}/v2/test/img/referrers/${img.manifestDigest}`);
    expect(r.headers.get('content-type')).toBe(MT.ociIndex);
    const idx = (await r.json()) as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    expect(idx.manifests).toEqual([{ mediaType: MT.ociManifest, digest: sha256(sig), size: sig.length, artifactType: 'application/vnd.example.signature', annotations: { who: 'test' } }]);
    const filtered = await fetch(`${base}/v2/test/img/referrers/${img.manifestDigest}?artifactType=application/other`);
    expect(((await filtered.json()) as { manifests: unknown[] }).manifests).toEqual([]);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
  });

  it('garbage-collects unreferenced blobs past the grace period and keeps referenced ones', async () => {
    const orphan = Buffer.from(`orphan ${Date.now()}`);
    const r = await fetch(`${base}/v2/gc/repo/blobs/uploads/?digest=${sha256(orphan)}`, { method: 'POST', body: orphan });
    expect(r.status).toBe(201);
    const young = (await (await fetch(`${base}/wharf/v1/gc?graceSeconds=3600`, { method: 'POST' })).json()) as { removed: string[] };
    expect(young.removed).not.toContain(sha256(orphan));
    const gc = (await (await fetch(`${base}/wharf/v1/gc?graceSeconds=0`, { method: 'POST' })).json()) as { removed: string[] };
    expect(gc.removed).toContain(sha256(orphan));
    for (const d of [img.configDigest, img.manifestDigest, ...img.layers.map((l) => l.digest)]) expect(gc.removed).not.toContain(d);
    expect((await fetch(`${base}/v2/gc/repo/blobs/${sha256(orphan)}`, { method: 'HEAD' })).status).toBe(404);
    const out = join(root, 'after-gc');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${host}/test/img:v1`, `oci:${out}:v1`]);
    expect(ociIndexDigest(out, 'v1')).toBe(img.manifestDigest);
  });
});

describe('registry with authentication', () => {
  let auth: RegistryServer;
  let ahost: string;

  beforeAll(async () => {
    const users = [
      'anonymous: ["public/*: pull"]',
      'users:',
      `  - {name: alice, password: "${hashPassword('alice-pw')}", admin: true, access: ["*: delete"]}`,
      `  - {name: bob, password: "${hashPassword('bob-pw')}", access: ["*: pull"]}`,
      '',
    ].join('\n');
    auth = new RegistryServer({ dataRoot: join(root, 'auth'), logger: silentLogger(), auth: parseUsersFile(users) });
    ahost = `127.0.0.1:${(await auth.listen('127.0.0.1', 0)).port}`;
  });
  afterAll(async () => {
    await auth?.close();
  });

  it('challenges clients without credentials with a Bearer realm and scope', async () => {
    const r = await fetch(`http://${ahost}/v2/private/img/manifests/v1`);
    expect(r.status).toBe(401);
    expect(await errorCode(r)).toBe('UNAUTHORIZED');
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="http://${ahost}/token",service="wharf-registry",scope="repository:private/img:pull"`);
  });

  it('skopeo pushes with --dest-creds; without creds it gets 401; a pull-only user is denied push', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${ahost}/private/img:v1`]);
    const anon = await skopeo(['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${ahost}/private/anon:v1`], true);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/401|unauthorized|authentication required/i);
    const bob = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'bob:bob-pw', `oci:${layout}:v1`, `docker://${ahost}/private/bob:v1`], true);
    expect(bob.code).not.toBe(0);
    expect(bob.stderr).toMatch(/denied/i);
    const wrong = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', 'alice:nope', `docker://${ahost}/private/img:v1`], true);
    expect(wrong.code).not.toBe(0);
    // bob may pull what alice pushed.
    const pulled = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', 'bob:bob-pw', `docker://${ahost}/private/img:v1`]);
    expect(sha256(Buffer.from(pulled.stdout))).toBe(img.manifestDigest);
  });

  it('issues tokens with only the granted actions, and honours basic auth and anonymous pull rules', async () => {
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    const t = await fetch(`http://${ahost}/token?service=wharf-registry&scope=repository:private/img:pull,push`, { headers: { Authorization: basic('bob', 'bob-pw') } });
    const { token } = (await t.json()) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: unknown };
    expect(claims.access).toEqual([{ type: 'repository', name: 'private/img', actions: ['pull'] }]);
    const post = await fetch(`http://${ahost}/v2/private/img/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(post.status).toBe(403);
    expect(await errorCode(post)).toBe('DENIED');
    expect((await fetch(`http://${ahost}/v2/private/img/manifests/v1`, { headers: { Authorization: `Bearer ${token}`, Accept: MT.ociManifest } })).status).toBe(200);
    expect((await fetch(`http://${ahost}/v2/private/img/manifests/v1`, { headers: { Authorization: basic('bob', 'bob-pw'), Accept: MT.ociManifest } })).status).toBe(200);
    expect((await fetch(`http://${ahost}/v2/private/img/manifests/v1`, { headers: { Authorization: basic('bob', 'wrong') } })).status).toBe(401);
    const tampered = `${token.slice(0, -4)}AAAA`;
    expect((await fetch(`http://${ahost}/v2/private/img/manifests/v1`, { headers: { Authorization: `Bearer ${tampered}` } })).status).toBe(401);
    // Anonymous pull of public/*: skopeo fetches an anonymous token.
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', `oci:${layout}:v1`, `docker://${ahost}/public/img:v1`]);
    const anon = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ahost}/public/img:v1`]);
    expect(sha256(Buffer.from(anon.stdout))).toBe(img.manifestDigest);
    // The GC API is for administrators.
    expect((await fetch(`http://${ahost}/wharf/v1/gc`, { method: 'POST', headers: { Authorization: basic('bob', 'bob-pw') } })).status).toBe(403);
    expect((await fetch(`http://${ahost}/wharf/v1/gc`, { method: 'POST', headers: { Authorization: basic('alice', 'alice-pw') } })).status).toBe(200);
  });
});
