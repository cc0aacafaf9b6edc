import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { silentLogger } from '../../core/log.js';
import { WharfError } from '../../core/errors.js';
import type { ImageDetail, ImageListFilters, ImportOptions, PruneOptions, ProgressFn } from '../../engine/images/types.js';
import { ApiServer } from '../server.js';
import { ImagesRouter, type DistributionBackend, type ImagesBackend } from './images.js';

// Logic of the image routes (query/filter parsing, Docker JSON shapes, streaming, error
// handling) over a recording fake backend; the real store is covered by test/e2e.

const ID = `sha256:${'a'.repeat(64)}`;
const detail: ImageDetail = {
  id: ID,
  parentId: '',
  repoTags: ['busybox:latest'],
  repoDigests: [],
  created: 1700000000,
  size: 4_000_000,
  labels: {},
  createdIso: '2023-11-14T22:13:20Z',
  architecture: 'amd64',
  os: 'linux',
  author: '',
  comment: '',
  dockerVersion: '',
  config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
  rootFS: { type: 'layers', layers: [`sha256:${'b'.repeat(64)}`] },
  manifestDigest: '',
  manifestMediaType: '',
  chainIds: [],
  lastTagTime: '',
};

const calls: { method: string; args: unknown[] }[] = [];
let loadBehaviour: 'ok' | 'fail-early' | 'fail-late' = 'ok';

const backend: ImagesBackend = {
  async list(filters?: ImageListFilters) {
    calls.push({ method: 'list', args: [filters] });
    return [detail];
  },
  async inspect(ref) {
    if (ref !== 'busybox:latest' && ref !== 'busybox') throw new WharfError('NotFound', `No such image: ${ref}`);
    return detail;
  },
  async history() {
    return [{ id: ID, created: 1700000000, createdBy: '/bin/sh -c #(nop) CMD ["sh"]', tags: ['busybox:latest'], size: 0, comment: '' }];
  },
  async tag(ref, repo, tag) {
    calls.push({ method: 'tag', args: [ref, repo, tag] });
  },
  async remove(ref, opts) {
    calls.push({ method: 'remove', args: [ref, opts] });
    return [{ Untagged: ref }, { Deleted: ID }];
  },
  async prune(opts?: PruneOptions) {
    calls.push({ method: 'prune', args: [opts] });
    return { imagesDeleted: [], spaceReclaimed: 0 };
  },
  async load(stream: Readable, onProgress?: ProgressFn) {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    if (loadBehaviour === 'fail-early') throw new WharfError('InvalidArgument', 'archive has no manifest.json');
    onProgress?.({ kind: 'layer', id: `sha256:${'c'.repeat(64)}`, action: 'Loading layer', current: 50, total: 100 });
    if (loadBehaviour === 'fail-late') throw new WharfError('InvalidArgument', 'diffID mismatch');
    const msg = `Loaded image: busybox:latest (${Buffer.concat(chunks).length} bytes)`;
    onProgress?.({ kind: 'message', message: msg });
    return { images: [{ id: ID, ref: 'busybox:latest' }], messages: [msg] };
  },
  async save(refs) {
    if (refs.includes('missing')) throw new WharfError('NotFound', 'No such image: missing');
    return Readable.from([Buffer.from(`TAR:${refs.join(',')}`)]);
  },
  async importRootfs(stream: Readable, opts?: ImportOptions) {
    for await (const _c of stream) void _c;
    calls.push({ method: 'import', args: [{ ...opts, signal: undefined }] });
    return { id: ID };
  },
};

let dir: string;
let sock: string;
let server: ApiServer;

function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wharf-images-api-'));
  sock = join(dir, 'api.sock');
  server = new ApiServer({ logger: silentLogger(), routers: [new ImagesRouter(backend, { now: () => 1_800_000_000_000 })], serverVersion: 't' });
  await server.listenUnix(sock);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ImagesRouter', () => {
  it('lists images in Docker shape, with filters parsed from both filter syntaxes', async () => {
    const f = encodeURIComponent(JSON.stringify({ dangling: { false: true }, reference: ['busy*'], label: { 'a=b': true }, until: { '1h': true } }));
    const r = await call('GET', `/v1.47/images/json?filters=${f}`);
    expect(r.status).toBe(200);
    const [img] = JSON.parse(r.body);
    expect(img).toMatchObject({ Id: ID, RepoTags: ['busybox:latest'], Created: 1700000000, Size: 4_000_000, SharedSize: -1, Containers: -1 });
    expect(img.VirtualSize).toBeUndefined();
    expect(calls.at(-1)).toEqual({ method: 'list', args: [{ dangling: false, reference: ['busy*'], label: ['a=b'], until: 1_800_000_000 - 3600 }] });
    const old = JSON.parse((await call('GET', '/v1.41/images/json')).body);
    expect(old[0].VirtualSize).toBe(4_000_000);
  });

  it('refuses unknown and malformed filters with 400', async () => {
    expect((await call('GET', `/images/json?filters=${encodeURIComponent('{"colour":["red"]}')}`)).status).toBe(400);
    expect((await call('GET', '/images/json?filters=%7Bnope')).status).toBe(400);
    expect((await call('GET', `/images/json?filters=${encodeURIComponent('{"dangling":["maybe"]}')}`)).status).toBe(400);
  });

  it('inspects by name and answers Docker 404 for a missing image', async () => {
    const ok = JSON.parse((await call('GET', '/images/busybox:latest/json')).body);
    expect(ok).toMatchObject({ Id: ID, Os: 'linux', Architecture: 'amd64', RootFS: { Type: 'layers' }, GraphDriver: { Name: 'overlay2' } });
    expect(ok.Config.Cmd).toEqual(['sh']);
    const miss = await call('GET', '/images/nothere:latest/json');
    expect(miss.status).toBe(404);
    expect(JSON.parse(miss.body)).toEqual({ message: 'No such image: nothere:latest' });
  });

  it('tags with the fully normalised repo the docker CLI sends', async () => {
    const r = await call('POST', '/v1.47/images/busybox/tag?repo=docker.io%2Flibrary%2Fbusybox&tag=t1');
    expect(r.status).toBe(201);
    expect(calls.at(-1)).toEqual({ method: 'tag', args: ['busybox', 'docker.io/library/busybox', 't1'] });
    expect((await call('POST', '/images/busybox/tag?tag=t1')).status).toBe(400);
  });

  it('removes with force/noprune and returns the Untagged/Deleted list', async () => {
    const r = await call('DELETE', '/images/busybox:t1?force=1&noprune=true');
    expect(JSON.parse(r.body)).toEqual([{ Untagged: 'busybox:t1' }, { Deleted: ID }]);
    expect(calls.at(-1)).toEqual({ method: 'remove', args: ['busybox:t1', { force: true, noprune: true }] });
  });

  it('prunes dangling images by default and all unused ones with dangling=false', async () => {
    const r = await call('POST', '/images/prune');
    expect(JSON.parse(r.body)).toEqual({ ImagesDeleted: null, SpaceReclaimed: 0 });
    expect((calls.at(-1)!.args[0] as PruneOptions).dangling).toBe(true);
    await call('POST', `/images/prune?filters=${encodeURIComponent('{"dangling":["false"],"label!":["keep"]}')}`);
    expect(calls.at(-1)!.args[0]).toEqual({ dangling: false, filters: { labelNot: ['keep'] } });
  });

  it('loads quietly, or with JSON-lines progress; early errors are HTTP errors, late ones error lines', async () => {
    loadBehaviour = 'ok';
    const q = await call('POST', '/images/load?quiet=1', Buffer.alloc(1000), { 'Content-Type': 'application/x-tar' });
    expect(q.status).toBe(200);
    expect(q.body.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ stream: 'Loaded image: busybox:latest (1000 bytes)\n' }]);
    const p = await call('POST', '/images/load', Buffer.alloc(10));
    const lines = p.body.trim().split('\n').map((l) => JSON.parse(l));
    // The store's own "Loaded image" progress line and the result message are sent once.
    expect(lines.filter((l) => String(l.stream).startsWith('Loaded image: busybox:latest'))).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 'Loading layer', id: 'cccccccccccc', progressDetail: { current: 50, total: 100 } });
    expect(lines[0].progress).toMatch(/^\[=+>\s*\]/);
    loadBehaviour = 'fail-early';
    const e = await call('POST', '/images/load?quiet=0', Buffer.alloc(10));
    expect(e.status).toBe(400);
    expect(JSON.parse(e.body)).toEqual({ message: 'archive has no manifest.json' });
    loadBehaviour = 'fail-late';
    const l = await call('POST', '/images/load', Buffer.alloc(10));
    expect(l.status).toBe(200);
    expect(JSON.parse(l.body.trim().split('\n').at(-1)!)).toEqual({ errorDetail: { message: 'diffID mismatch' }, error: 'diffID mismatch' });
    loadBehaviour = 'ok';
  });

  it('saves one or several images as a tar stream, 404 before streaming when one is missing', async () => {
    const r = await call('GET', '/images/get?names=busybox&names=alpine');
    expect(r.headers['content-type']).toBe('application/x-tar');
    expect(r.body).toBe('TAR:busybox,alpine');
    expect((await call('GET', '/images/docker.io/library/busybox:latest/get')).body).toBe('TAR:docker.io/library/busybox:latest');
    expect((await call('GET', '/images/get?names=missing')).status).toBe(404);
    expect((await call('GET', '/images/get')).status).toBe(400);
  });

  it('imports a rootfs with repo, tag, message and repeated changes', async () => {
    const r = await call('POST', '/images/create?fromSrc=-&repo=mine&tag=v1&message=hi&changes=CMD%20%5B%22sh%22%5D&changes=ENV%20A%3Db', Buffer.alloc(512));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.trim())).toEqual({ status: ID });
    expect(calls.at(-1)!.args[0]).toMatchObject({ ref: 'mine:v1', message: 'hi', changes: ['CMD ["sh"]', 'ENV A=b'] });
  });

  it('without a distribution backend refuses pull, push, URL imports and search with clear 501 errors', async () => {
    const pull = await call('POST', '/images/create?fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest');
    expect(pull.status).toBe(501);
    expect(JSON.parse(pull.body).message).toMatch(/pulling images from a registry is not available/);
    expect((await call('POST', '/images/create?fromSrc=http%3A%2F%2Fx%2Fy.tar')).status).toBe(501);
    expect((await call('POST', '/images/create')).status).toBe(400);
    expect((await call('POST', '/images/busybox/push')).status).toBe(501);
  });

  it('pull, push and auth: Docker JSON lines, X-Registry-Auth decoded, early errors as HTTP, late ones as error lines', async () => {
    const seen: unknown[] = [];
    const dist: DistributionBackend = {
      async pull(ref, o) {
        seen.push({ pull: ref, creds: o.creds });
        if (ref.includes('missing')) throw new WharfError('NotFound', `manifest for ${ref} not found: manifest unknown`);
        o.onProgress?.({ status: 'Pulling from library/busybox', id: 'latest' });
        o.onProgress?.({ status: 'Downloading', id: 'abc', current: 5, total: 10 });
        if (ref.includes('late')) throw new WharfError('InvalidArgument', 'filesystem layer verification failed');
        o.onProgress?.({ status: 'Status: Downloaded newer image for busybox:latest' });
        return { id: ID, ref };
      },
      async push(name, tag, o) {
        seen.push({ push: name, tag, creds: o.creds });
        o.onProgress?.({ status: 'latest: digest: sha256:x size: 1' });
        o.onProgress?.({ status: '', aux: { Tag: 'latest', Digest: 'sha256:x', Size: 1 } });
      },
      async login(server, creds) {
        if (creds.password !== 'pw') throw new WharfError('Unauthorized', `login to ${server}: unauthorized: bad credentials`);
      },
    };
    const s2 = new ApiServer({ logger: silentLogger(), routers: [new ImagesRouter(backend, { distribution: dist })], serverVersion: 't' });
    const sock2 = join(dir, 'api2.sock');
    await s2.listenUnix(sock2);
    const prev = sock;
    sock = sock2;
    try {
      const auth = Buffer.from(JSON.stringify({ username: 'u', password: 'p' })).toString('base64url');
      const ok = await call('POST', '/v1.47/images/create?fromImage=busybox&tag=latest', undefined, { 'X-Registry-Auth': auth });
      expect(ok.status).toBe(200);
      const ls = ok.body.trim().split('\n').map((l) => JSON.parse(l));
      expect(ls[0]).toEqual({ status: 'Pulling from library/busybox', progressDetail: {}, id: 'latest' });
      expect(ls[1]).toMatchObject({ status: 'Downloading', progressDetail: { current: 5, total: 10 }, id: 'abc' });
      expect(ls[1].progress).toContain('[');
      expect(seen[0]).toEqual({ pull: 'busybox:latest', creds: { username: 'u', password: 'p' } });
      const byDigest = await call('POST', `/images/create?fromImage=busybox&tag=sha256:${'d'.repeat(64)}`, undefined, { 'X-Registry-Auth': 'e30=' });
      expect(byDigest.status).toBe(200);
      expect(seen[1]).toEqual({ pull: `busybox@sha256:${'d'.repeat(64)}`, creds: {} });
      const missing = await call('POST', '/images/create?fromImage=missing&tag=1');
      expect(missing.status).toBe(404);
      expect(JSON.parse(missing.body).message).toContain('manifest unknown');
      const late = await call('POST', '/images/create?fromImage=late&tag=1');
      expect(late.status).toBe(200);
      expect(JSON.parse(late.body.trim().split('\n').at(-1)!)).toEqual({
        errorDetail: { message: 'filesystem layer verification failed' },
        error: 'filesystem layer verification failed',
      });
      const push = await call('POST', '/images/127.0.0.1:5000/x/y/push?tag=latest', undefined, { 'X-Registry-Auth': auth });
      expect(push.status).toBe(200);
      expect(push.body.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
        { status: 'latest: digest: sha256:x size: 1' },
        { progressDetail: {}, aux: { Tag: 'latest', Digest: 'sha256:x', Size: 1 } },
      ]);
      expect(seen.at(-1)).toEqual({ push: '127.0.0.1:5000/x/y', tag: 'latest', creds: { username: 'u', password: 'p' } });
      const good = await call('POST', '/v1.47/auth', JSON.stringify({ username: 'u', password: 'pw', serveraddress: 'r:1' }));
      expect(good.status).toBe(200);
      expect(JSON.parse(good.body)).toEqual({ Status: 'Login Succeeded', IdentityToken: '' });
      const bad = await call('POST', '/v1.47/auth', JSON.stringify({ username: 'u', password: 'no', serveraddress: 'r:1' }));
      expect(bad.status).toBe(401);
      expect(JSON.parse(bad.body).message).toContain('unauthorized');
      expect((await call('POST', '/images/create?fromImage=x', undefined, { 'X-Registry-Auth': '!!notbase64' })).status).toBe(400);
    } finally {
      sock = prev;
      await s2.close();
    }
  });
});
