import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { silentLogger } from '../../core/log.js';
import { isWharfError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { EngineDb } from '../db.js';
import { ImageService } from './image-service.js';
import { buildArchive, buildImage, buildTar, type ArchiveFormat } from './testing.js';

let root: string;
let db: EngineDb;
let svc: ImageService;

beforeEach(() => {
  root = mkdtempSync('/var/tmp/wharf-test-images-');
  db = EngineDb.open({ dataRoot: root });
  svc = new ImageService({ dataRoot: root, db, logger: silentLogger() });
});
afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

const threeLayers = () =>
  buildImage({
    layers: [
      [{ path: 'etc/', type: 'dir' }, { path: 'etc/a', data: 'A' }, { path: 'etc/b', data: 'B' }, { path: 'd/', type: 'dir' }, { path: 'd/old', data: 'o' }],
      [{ path: 'etc/.wh.a', data: '' }, { path: 'd/.wh..wh..opq', data: '' }, { path: 'd/new', data: 'n' }],
      [{ path: 'etc/c', data: 'C' }],
    ],
    runtime: { Labels: { team: 'wharf' } },
  });

const load = (buf: Buffer) => svc.load(Readable.from([buf]));

describe('ImageService', () => {
  for (const format of ['docker-legacy', 'docker-oci', 'oci-layout'] as ArchiveFormat[]) {
    it(`loads a ${format} archive: tags, inspect, history, layers unpacked once`, async () => {
      const img = await threeLayers();
      const res = await load(buildArchive([{ image: img, repoTags: ['example.com/app:1', 'busybox:latest'] }], format));
      expect(res.images.map((i) => i.id)).toEqual([img.configDigest, img.configDigest]);
      expect(res.messages).toEqual(['Loaded image: example.com/app:1', 'Loaded image: busybox:latest']);
      const d = await svc.inspect('busybox');
      expect(d.id).toBe(img.configDigest);
      expect(d.repoTags.sort()).toEqual(['busybox:latest', 'example.com/app:1']);
      expect(d.repoDigests.length).toBe(format === 'docker-legacy' ? 0 : 2);
      expect(d.config.Cmd).toEqual(['sh']);
      expect(d.labels).toEqual({ team: 'wharf' });
      expect(d.rootFS.layers).toEqual(img.layers.map((l) => l.diffId));
      expect(d.created).toBe(Date.parse('2026-01-02T03:04:05Z') / 1000);
      expect(d.size).toBe(5); // A B o n C
      for (const c of d.chainIds) expect(existsSync(join(root, 'layers', c.slice(7)))).toBe(true);
      expect((await svc.inspect(img.configDigest.slice(7, 19))).id).toBe(img.configDigest);
      expect((await svc.inspect('docker.io/library/busybox:latest')).id).toBe(img.configDigest);
      const h = await svc.history('example.com/app:1');
      expect(h.map((x) => x.createdBy)).toEqual(['layer 2', 'layer 1', 'layer 0']);
      expect(h[0]!.id).toBe(img.configDigest);
      expect(h[2]!.size).toBe(3);
      // Loading again re-uses everything.
      await load(buildArchive([{ image: img, repoTags: ['busybox:latest'] }], format));
      expect((await svc.list()).length).toBe(1);
      expect(readdirSync(join(root, 'blobs', 'ingest'))).toEqual([]);
    });
  }

  it('loads gzip, zstd and plain layers and shares layers between images', async () => {
    const base = [{ path: 'base', data: 'b' }];
    const a = await buildImage({ layers: [base, [{ path: 'a', data: 'a' }]], compression: 'zstd' });
    const b = await buildImage({ layers: [base, [{ path: 'b', data: 'b' }]], compression: 'none' });
    await load(buildArchive([{ image: a, repoTags: ['a:1'] }, { image: b, repoTags: ['b:1'] }], 'oci-layout'));
    const layers = readdirSync(join(root, 'layers')).filter((n) => /^[a-f0-9]{64}$/.test(n));
    expect(layers.length).toBe(3);
    const du = await svc.diskUsage();
    expect(du.images.find((i) => i.repoTags.includes('a:1'))!.sharedSize).toBe(1);
  });

  it('loads a gzip-compressed archive, like docker load', async () => {
    const img = await buildImage({ layers: [[{ path: 'z', data: 'z' }]] });
    const { gzipSync } = await import('node:zlib');
    await load(gzipSync(buildArchive([{ image: img, repoTags: ['gz:1'] }], 'docker-oci')));
    expect((await svc.inspect('gz:1')).id).toBe(img.configDigest);
  });

  it('selects linux/amd64 from an OCI index', async () => {
    const amd = await buildImage({ layers: [[{ path: 'x', data: 'amd64' }]] });
    const arm = await buildImage({ layers: [[{ path: 'x', data: 'arm64' }]], configOverrides: { architecture: 'arm64' } });
    const idx = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.manifestDigest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.manifestDigest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        ],
      }),
    );
    const { sha256 } = await import('./testing.js');
    const files = [amd, arm].flatMap((i) => [
      { path: `blobs/sha256/${i.configDigest.slice(7)}`, data: i.config },
      { path: `blobs/sha256/${i.manifestDigest.slice(7)}`, data: i.manifest },
      ...i.layers.map((l) => ({ path: `blobs/sha256/${l.digest.slice(7)}`, data: l.blob })),
    ]);
    files.push({ path: `blobs/sha256/${sha256(idx).slice(7)}`, data: idx });
    const top = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(idx), size: idx.length, annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' } }] };
    files.push({ path: 'index.json', data: Buffer.from(JSON.stringify(top)) }, { path: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') });
    await load(buildTar(files));
    expect((await svc.inspect('multi:1')).id).toBe(amd.configDigest);
  });

  it('tags, untags and deletes like Docker', async () => {
    const img = await threeLayers();
    await load(buildArchive([{ image: img, repoTags: ['busybox:latest'] }], 'docker-legacy'));
    await svc.tag('busybox', 'docker.io/library/busybox', 't1');
    await svc.tag('busybox', 'other/repo');
    expect((await svc.inspect('busybox:t1')).repoTags.sort()).toEqual(['busybox:latest', 'busybox:t1', 'other/repo:latest']);
    expect(await svc.remove('busybox:t1')).toEqual([{ Untagged: 'busybox:t1' }]);
    const e = await svc.remove(img.configDigest.slice(7, 19)).catch((x: unknown) => x);
    expect(isWharfError(e, 'Conflict')).toBe(true);
    expect((e as Error).message).toMatch(/multiple repositories/);
    await svc.remove('other/repo');
    const inUse = await svc.remove('busybox', { inUse: () => true }).catch((x: unknown) => x);
    expect(isWharfError(inUse, 'Conflict')).toBe(true);
    const running = await svc.remove(img.configDigest, { inUse: () => 'running', force: true }).catch((x: unknown) => x);
    expect(isWharfError(running, 'Conflict')).toBe(true);
    const out = await svc.remove('busybox');
    expect(out.slice(0, 2)).toEqual([{ Untagged: 'busybox:latest' }, { Deleted: img.configDigest }]);
    expect(out.length).toBe(2 + 3); // and the three layers
    expect(await svc.list()).toEqual([]);
    expect(readdirSync(join(root, 'layers')).filter((n) => n !== '.whiteout')).toEqual([]);
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([]);
    const nf = await svc.inspect('busybox').catch((x: unknown) => x);
    expect(isWharfError(nf, 'NotFound')).toBe(true);
    expect((nf as Error).message).toBe('No such image: busybox');
  });

  it('lists with filters and prunes dangling images', async () => {
    const a = await buildImage({ layers: [[{ path: 'a', data: 'a' }]], runtime: { Labels: { k: 'v' } }, created: '2026-01-01T00:00:00Z' });
    const b = await buildImage({ layers: [[{ path: 'b', data: 'b' }]], created: '2026-02-01T00:00:00Z' });
    const c = await buildImage({ layers: [[{ path: 'c', data: 'c' }]], created: '2026-03-01T00:00:00Z' });
    await load(buildArchive([{ image: a, repoTags: ['a:1'] }, { image: b, repoTags: ['b:1'] }, { image: c }], 'docker-oci'));
    expect((await svc.list()).map((i) => i.id)).toEqual([c.configDigest, b.configDigest, a.configDigest]);
    expect((await svc.list({ dangling: true })).map((i) => i.id)).toEqual([c.configDigest]);
    expect((await svc.list({ label: ['k=v'] })).map((i) => i.id)).toEqual([a.configDigest]);
    expect((await svc.list({ reference: ['b:*'] })).map((i) => i.id)).toEqual([b.configDigest]);
    expect((await svc.list({ before: 'b:1' })).map((i) => i.id)).toEqual([a.configDigest]);
    const p = await svc.prune();
    expect(p.imagesDeleted[0]).toEqual({ Deleted: c.configDigest });
    expect(p.spaceReclaimed).toBe(1);
    const p2 = await svc.prune({ dangling: false, inUse: (id) => id === a.configDigest });
    expect(p2.imagesDeleted).toContainEqual({ Untagged: 'b:1' });
    expect((await svc.list()).map((i) => i.id)).toEqual([a.configDigest]);
  });

  it('saves an archive that loads back and that skopeo reads', async () => {
    const img = await threeLayers();
    await load(buildArchive([{ image: img, repoTags: ['app:v1'] }], 'oci-layout'));
    const tar = await buffer(await svc.save(['app:v1']));
    const file = join(root, 'saved.tar');
    writeFileSync(file, tar);
    const sk = JSON.parse((await run(['skopeo', 'inspect', `docker-archive:${file}`])).stdout) as { Layers: string[]; Labels: Record<string, string> };
    expect(sk.Layers).toEqual(img.layers.map((l) => l.diffId));
    expect(sk.Labels).toEqual({ team: 'wharf' });
    const ociDir = join(root, 'oci');
    await run(['skopeo', 'copy', `docker-archive:${file}`, `oci:${ociDir}:x`]);
    expect(existsSync(join(ociDir, 'index.json'))).toBe(true);
    await svc.remove('app:v1');
    await load(tar);
    expect((await svc.inspect('app:v1')).id).toBe(img.configDigest);
  });

  it('loads what skopeo makes from a umoci-built OCI layout (docker-archive and the OCI layout itself)', async () => {
    const layout = join(root, 'umoci');
    const bundle = join(root, 'bundle');
    await run(['umoci', 'init', '--layout', layout]);
    await run(['umoci', 'new', '--image', `${layout}:t`]);
    await run(['umoci', 'unpack', '--image', `${layout}:t`, bundle]);
    writeFileSync(join(bundle, 'rootfs', 'hello'), 'from umoci');
    await run(['umoci', 'repack', '--image', `${layout}:t`, bundle]);
    await run(['umoci', 'config', '--image', `${layout}:t`, '--config.cmd', '/hello']);
    const archive = join(root, 'skopeo.tar');
    await run(['skopeo', 'copy', `oci:${layout}:t`, `docker-archive:${archive}:umoci/app:t`]);
    const res = await load(readFileSync(archive));
    expect(res.messages).toEqual(['Loaded image: umoci/app:t']);
    const d = await svc.inspect('umoci/app:t');
    expect(d.config.Cmd).toEqual(['/hello']);
    expect(readFileSync(join(root, 'layers', d.chainIds.at(-1)!.slice(7), 'hello'), 'utf8')).toBe('from umoci');
    // The OCI layout directory, tarred, loads as an (untagged: its ref.name is only a tag) image.
    const ociTar = join(root, 'layout.tar');
    await run(['tar', '-cf', ociTar, '-C', layout, '.']);
    const res2 = await load(readFileSync(ociTar));
    expect(res2.images.length).toBe(1);
  });

  it('imports a rootfs tar with changes', async () => {
    const tar = buildTar([{ path: 'bin/', type: 'dir' }, { path: 'bin/hello', data: '#!/bin/sh\necho hi\n', mode: 0o755 }]);
    const { id } = await svc.importRootfs(Readable.from([tar]), {
      ref: 'imported:1',
      changes: ['CMD ["/bin/hello"]', 'ENV A=b C=d', 'WORKDIR /work', 'EXPOSE 80', 'LABEL x=y', 'USER nobody', 'ENTRYPOINT ["/bin/sh", "-c"]', 'VOLUME /data'],
      message: 'from test',
    });
    const d = await svc.inspect('imported:1');
    expect(d.id).toBe(id);
    expect(d.config).toMatchObject({ Cmd: ['/bin/hello'], Env: ['A=b', 'C=d'], WorkingDir: '/work', ExposedPorts: { '80/tcp': {} }, Labels: { x: 'y' }, User: 'nobody', Entrypoint: ['/bin/sh', '-c'], Volumes: { '/data': {} } });
    expect(d.comment).toBe('from test');
    const layer = join(root, 'layers', d.chainIds[0]!.slice(7));
    expect(readFileSync(join(layer, 'bin/hello'), 'utf8')).toContain('echo hi');
    const bad = await svc.importRootfs(Readable.from([tar]), { changes: ['RUN rm -rf /'] }).catch((x: unknown) => x);
    expect(isWharfError(bad, 'InvalidArgument')).toBe(true);
  });

  it('bootstraps busybox:latest from busybox-static, once, reproducibly', async () => {
    const first = await svc.bootstrapBusybox();
    expect(first.created).toBe(true);
    expect((await svc.bootstrapBusybox()).created).toBe(false);
    const d = await svc.inspect('busybox');
    expect(d.config.Cmd).toEqual(['sh']);
    expect(d.config.Env?.[0]).toMatch(/^PATH=/);
    const layer = join(root, 'layers', d.chainIds[0]!.slice(7));
    expect(lstatSync(join(layer, 'bin/sh')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(layer, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    const r = await run([join(layer, 'bin/busybox'), 'echo', 'ok']);
    expect(r.stdout.trim()).toBe('ok');
    await svc.remove('busybox');
    expect((await svc.bootstrapBusybox()).id).toBe(first.id);
  });

  it('cleans up after a crash mid-load at start-up, keeping committed images', async () => {
    const img = await buildImage({ layers: [[{ path: 'k', data: 'k' }]] });
    await load(buildArchive([{ image: img, repoTags: ['kept:1'] }], 'docker-legacy'));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(root, 'blobs/ingest/stage-crashed'), { recursive: true });
    writeFileSync(join(root, 'blobs/ingest/stage-crashed/tmp-1'), 'half');
    mkdirSync(join(root, 'layers/tmp-crashed/usr'), { recursive: true });
    mkdirSync(join(root, 'layers', 'f'.repeat(64)));
    const again = new ImageService({ dataRoot: root, db, logger: silentLogger() });
    expect(readdirSync(join(root, 'blobs/ingest'))).toEqual([]);
    expect(readdirSync(join(root, 'layers')).sort()).toEqual(['.whiteout', (await again.inspect('kept:1')).chainIds[0]!.slice(7)].sort());
    expect((await again.inspect('kept:1')).id).toBe(img.configDigest);
  });

  it('rejects bad references', async () => {
    for (const ref of ['UPPER:1', 'a b', 'x@sha256:123']) {
      const e = await svc.inspect(ref).catch((x: unknown) => x);
      expect(isWharfError(e, 'InvalidArgument'), ref).toBe(true);
    }
  });
});
