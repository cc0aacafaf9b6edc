import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { Transport } from './transport.js';

// The transport against a small local HTTP server: token, retries for reads, none for writes.

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const status = (res: ServerResponse, code: number, reason: string) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: `${reason} now` }));
};

describe('transport', () => {
  it('sends the bearer token and retries a read the server cannot serve yet (503)', async () => {
    const seen: string[] = [];
    const url = await serve((req, res) => {
      seen.push(`${req.method} ${req.headers.authorization}`);
      if (seen.length < 3) return status(res, 503, 'ServiceUnavailable');
      res.end('{"ok":true}');
    });
    const t = new Transport({ server: url, token: 'tok' }, { retry: { baseDelayMs: 1 } });
    expect(await t.json('GET', '/api/v1/pods')).toEqual({ ok: true });
    expect(seen).toEqual(['GET Bearer tok', 'GET Bearer tok', 'GET Bearer tok']);
    await t.close();
  });

  it('gives up after the attempts with the error of the last Status; never retries a write on 503', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      status(res, 503, 'ServiceUnavailable');
    });
    const t = new Transport({ server: url }, { retry: { attempts: 2, baseDelayMs: 1 } });
    const read = await t.json('GET', '/x').catch((e: unknown) => e);
    expect(isWharfError(read, 'Unavailable')).toBe(true);
    expect(n).toBe(2);
    n = 0;
    const write = await t.json('POST', '/x', { body: {} }).catch((e: unknown) => e);
    expect(isWharfError(write, 'Unavailable')).toBe(true);
    expect((write as Error).message).toBe('ServiceUnavailable now');
    expect(n).toBe(1);
    await t.close();
  });

  it('a refused connection is retried, then reported as Unavailable naming the server', async () => {
    const url = await serve((_req, res) => res.end());
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const t = new Transport({ server: url }, { retry: { attempts: 3, baseDelayMs: 1 } });
    const err = await t.json('POST', '/x', { body: {} }).catch((e: unknown) => e);
    expect(isWharfError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toContain(`cannot reach the API server at ${url}`);
    await t.close();
  });

  it('refuses a server that is not an http(s) URL', () => {
    expect(() => new Transport({ server: 'localhost:6443' })).toThrow(/expected http\(s\):\/\/HOST:PORT/);
  });
});
