import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { z } from 'zod';
import { silentLogger } from '../core/log.js';
import { WharfError } from '../core/errors.js';
import { ApiServer } from './server.js';
import { readJson } from './body.js';
import { MultiplexWriter, FrameDecoder, STDOUT, STDERR } from './stdcopy.js';
import type { Route, Router } from './router.js';

// A test-only router exercising every server feature the real routes rely on.
class TestRouter implements Router {
  routes(): Route[] {
    return [
      { method: 'GET', path: '/_ping', handler: (_q, r) => r.text(200, 'OK') },
      { method: 'GET', path: '/echo/:id', handler: (q, r) => r.json(200, { id: q.params.id, version: q.version, a: q.query.get('a') }) },
      { method: 'GET', path: '/images/*name/json', handler: (q, r) => r.json(200, { name: q.params.name }) },
      { method: 'DELETE', path: '/images/*name', handler: (q, r) => r.json(200, [{ Untagged: q.params.name }]) },
      {
        method: 'GET',
        path: '/fail/:kind',
        handler: (q) => {
          throw new WharfError(q.params.kind as 'NotFound', `failed with ${q.params.kind}`);
        },
      },
      { method: 'GET', path: '/crash', handler: () => Promise.reject(new Error('boom')) },
      {
        method: 'POST',
        path: '/body',
        handler: async (q, r) => {
          const body = await readJson(q, z.object({ Name: z.string(), Count: z.number().int().optional() }), 64);
          r.json(201, body);
        },
      },
      {
        method: 'GET',
        path: '/stream',
        handler: async (_q, r) => {
          // Each next line is written only after the client confirmed the previous one: if the
          // server buffered the response, the client would never see line 0 and this would hang.
          const out = r.stream(200, 'application/json');
          for (let i = 0; i < 3; i++) {
            out.write(`${JSON.stringify({ status: `line ${i}` })}\n`);
            if (i < 2) await new Promise<void>((res) => (releaseNext = res));
          }
          out.end();
        },
      },
      {
        // Like attach/exec start: reads the JSON body, then echoes stdin as stdout frames, and
        // writes a final stderr frame only AFTER the client half-closed.
        method: 'POST',
        path: '/containers/:id/attach',
        handler: async (q, r) => {
          const body = await readJson(q, z.object({ Tag: z.string().optional() }));
          const conn = r.hijack('application/vnd.docker.multiplexed-stream');
          const mux = new MultiplexWriter(conn.output);
          mux.write(STDOUT, `hello ${body.Tag ?? q.params.id}\n`);
          for await (const chunk of conn.input) mux.write(STDOUT, chunk as Buffer);
          await new Promise((res) => setTimeout(res, 20));
          mux.write(STDERR, 'bye after half-close\n');
          conn.close();
        },
      },
    ];
  }
}

let dir: string;
let sock: string;
let server: ApiServer;
let releaseNext: () => void = () => undefined;

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
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
  dir = mkdtempSync(join(tmpdir(), 'wharf-api-'));
  sock = join(dir, 'api.sock');
  server = new ApiServer({ logger: silentLogger(), routers: [new TestRouter()], serverVersion: '0.0.0-test' });
  await server.listenUnix(sock);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ApiServer', () => {
  it('routes versioned and unversioned paths and sets Docker headers', async () => {
    const a = await call('GET', '/v1.41/echo/x1?a=b');
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toEqual({ id: 'x1', version: '1.41', a: 'b' });
    expect(a.headers['api-version']).toBe('1.47');
    expect(a.headers['ostype']).toBe('linux');
    const b = await call('GET', '/echo/x2');
    expect(JSON.parse(b.body)).toMatchObject({ id: 'x2', version: '1.47' });
  });

  it('refuses too old and too new API versions with Docker messages', async () => {
    const old = await call('GET', '/v1.23/echo/x');
    expect(old.status).toBe(400);
    expect(JSON.parse(old.body).message).toBe(
      'client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
    );
    const young = await call('GET', '/v1.99/echo/x');
    expect(young.status).toBe(400);
    expect(JSON.parse(young.body).message).toMatch(/too new/);
  });

  it('matches image names containing slashes and colons', async () => {
    const r = await call('GET', '/v1.47/images/docker.io/library/busybox:latest/json');
    expect(JSON.parse(r.body)).toEqual({ name: 'docker.io/library/busybox:latest' });
    const d = await call('DELETE', '/images/localhost:5000/a/b:1');
    expect(JSON.parse(d.body)).toEqual([{ Untagged: 'localhost:5000/a/b:1' }]);
    const enc = await call('GET', '/images/sha256%3Aabc/json');
    expect(JSON.parse(enc.body)).toEqual({ name: 'sha256:abc' });
  });

  it('answers unknown paths with 404 page not found', async () => {
    const r = await call('GET', '/nope');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ message: 'page not found' });
  });

  it('maps error kinds to statuses through the one table', async () => {
    for (const [kind, status] of [
      ['NotFound', 404],
      ['Conflict', 409],
      ['InvalidArgument', 400],
      ['Unsupported', 501],
      ['Internal', 500],
    ] as const) {
      const r = await call('GET', `/fail/${kind}`);
      expect(r.status).toBe(status);
      expect(JSON.parse(r.body)).toEqual({ message: `failed with ${kind}` });
    }
    const nm = await call('GET', '/fail/NotModified');
    expect(nm.status).toBe(304);
    expect(nm.body).toBe('');
    const crash = await call('GET', '/crash');
    expect(crash.status).toBe(500);
    expect(JSON.parse(crash.body)).toEqual({ message: 'boom' });
  });

  it('validates JSON bodies with clear 400s and limits their size', async () => {
    const ok = await call('POST', '/body', '{"Name":"x","Count":2}', { 'Content-Type': 'application/json' });
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body)).toEqual({ Name: 'x', Count: 2 });
    const bad = await call('POST', '/body', '{"Name":', { 'Content-Type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toMatch(/^invalid JSON body/);
    const wrong = await call('POST', '/body', '{"Name":"x","Count":"2"}', { 'Content-Type': 'application/json' });
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body).message).toMatch(/^invalid request body: Count:/);
    const big = await call('POST', '/body', JSON.stringify({ Name: 'x'.repeat(100) }), { 'Content-Type': 'application/json' });
    expect(big.status).toBe(413);
    const ct = await call('POST', '/body', '{"Name":"x"}', { 'Content-Type': 'text/plain' });
    expect(ct.status).toBe(400);
  });

  it('streams chunked responses line by line before the handler ends', async () => {
    const lines = await new Promise<string[]>((resolve, reject) => {
      const req = request({ socketPath: sock, path: '/stream' }, (res) => {
        expect(res.headers['transfer-encoding']).toBe('chunked');
        const got: string[] = [];
        let buf = '';
        res.on('data', (b: Buffer) => {
          buf += b.toString();
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            got.push(JSON.parse(buf.slice(0, nl)).status as string);
            buf = buf.slice(nl + 1);
            releaseNext();
          }
        });
        res.on('end', () => resolve(got));
      });
      req.on('error', reject);
      req.end();
    });
    expect(lines).toEqual(['line 0', 'line 1', 'line 2']);
  });

  it('hijacks an Upgrade request: 101 UPGRADED, body read, stdin echoed, writes after half-close', async () => {
    const body = '{"Tag":"t1"}';
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(sock);
      const parts: Buffer[] = [];
      s.on('data', (b: Buffer) => parts.push(b));
      s.on('end', () => resolve(Buffer.concat(parts)));
      s.on('error', reject);
      s.write(
        `POST /v1.47/containers/c1/attach?stream=1 HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}stdin-data`,
      );
      setTimeout(() => s.end(), 50); // half-close: no more stdin
    });
    const sep = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, sep).toString();
    expect(head).toMatch(/^HTTP\/1\.1 101 UPGRADED\r\n/);
    expect(head).toMatch(/Content-Type: application\/vnd\.docker\.multiplexed-stream/);
    expect(head).toMatch(/Upgrade: tcp/);
    const frames = new FrameDecoder().push(raw.subarray(sep + 4));
    const stdout = Buffer.concat(frames.filter((f) => f.stream === STDOUT).map((f) => f.payload)).toString();
    const stderr = Buffer.concat(frames.filter((f) => f.stream === STDERR).map((f) => f.payload)).toString();
    expect(stdout).toBe('hello t1\nstdin-data');
    expect(stderr).toBe('bye after half-close\n');
  });

  it('serves hijacked streams to dockerode (upgrade and plain HTTP forms)', async () => {
    const docker = new Docker({ socketPath: sock });
    const c = docker.getContainer('c2');
    const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream;
    const out = new PassThrough();
    const err = new PassThrough();
    docker.modem.demuxStream(stream, out, err);
    const outText: string[] = [];
    const errText: string[] = [];
    out.on('data', (b: Buffer) => outText.push(b.toString()));
    err.on('data', (b: Buffer) => errText.push(b.toString()));
    stream.write('from-dockerode');
    stream.end();
    await new Promise((res) => stream.on('end', res));
    expect(outText.join('')).toBe('hello c2\nfrom-dockerode');
    expect(errText.join('')).toBe('bye after half-close\n');

    // Without hijack dockerode sends a plain POST: the server answers 200 with the stream as body.
    const plain = (await c.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    const chunks: Buffer[] = [];
    for await (const b of plain) chunks.push(b as Buffer);
    const frames = new FrameDecoder().push(Buffer.concat(chunks));
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      [STDOUT, 'hello c2\n'],
      [STDERR, 'bye after half-close\n'],
    ]);
  });

  it('close() stops listening and removes the socket', async () => {
    const s2 = join(dir, 'second.sock');
    const srv = new ApiServer({ logger: silentLogger(), routers: [new TestRouter()], serverVersion: 't' });
    await srv.listenUnix(s2);
    expect(existsSync(s2)).toBe(true);
    await srv.close();
    expect(existsSync(s2)).toBe(false);
  });
});
