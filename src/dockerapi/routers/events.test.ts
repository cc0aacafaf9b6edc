import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../core/log.js';
import { systemClock } from '../../core/clock.js';
import { ApiServer } from '../server.js';
import { EventBus } from '../../engine/events/event-bus.js';
import { EventsRouter } from './events.js';

let dir: string;
let sock: string;
let server: ApiServer;
const log = new EventBus(systemClock, 5);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wharf-events-'));
  sock = join(dir, 'api.sock');
  server = new ApiServer({ logger: silentLogger(), routers: [new EventsRouter(log, systemClock)], serverVersion: 't' });
  await server.listenUnix(sock);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(path: string, onLine?: (l: Record<string, unknown>, abort: () => void) => void) {
  return new Promise<{ status: number; lines: Record<string, unknown>[] }>((resolve, reject) => {
    const lines: Record<string, unknown>[] = [];
    const req = request({ socketPath: sock, path }, (res) => {
      let buf = '';
      res.on('data', (b: Buffer) => {
        buf += b.toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const l = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
          buf = buf.slice(nl + 1);
          lines.push(l);
          onLine?.(l, () => {
            req.destroy();
            resolve({ status: res.statusCode ?? 0, lines });
          });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, lines }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, lines }));
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}

describe('GET /events', () => {
  it('replays since…until, filtered, and ends the stream at until', async () => {
    const t0 = Date.now() / 1000 - 1;
    log.emit('image', 'tag', 'a:1', { name: 'a:1' });
    log.emit('image', 'delete', 'sha256:abc', {});
    log.emit('container', 'start', 'c1', { name: 'web' });
    const t1 = Date.now() / 1000 + 0.2;
    const all = await get(`/v1.47/events?since=${t0}&until=${t1}`);
    expect(all.status).toBe(200);
    expect(all.lines.map((l) => l.Action)).toEqual(['tag', 'delete', 'start']);
    const f = encodeURIComponent(JSON.stringify({ type: { image: true }, event: { tag: true } }));
    const tags = await get(`/events?since=${t0}&until=${t1}&filters=${f}`);
    expect(tags.lines).toMatchObject([{ Type: 'image', Action: 'tag', Actor: { ID: 'a:1', Attributes: { name: 'a:1' } }, scope: 'local' }]);
  });

  it('streams live events to a follower as they happen', async () => {
    const started = get('/events?filters=' + encodeURIComponent('{"type":["image"]}'), (l, abort) => {
      if (l.Action === 'untag') abort();
    });
    for (let i = 0; i < 200 && log.subscribers === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(log.subscribers).toBe(1);
    log.emit('container', 'die', 'c1');
    log.emit('image', 'untag', 'b:2');
    const r = await started;
    expect(r.lines.map((l) => [l.Type, l.Action, (l.Actor as { ID: string }).ID])).toEqual([['image', 'untag', 'b:2']]);
    for (let i = 0; i < 200 && log.subscribers > 0; i++) await new Promise((res) => setTimeout(res, 25));
    expect(log.subscribers).toBe(0);
  });

  it('refuses bad filters and since after until', async () => {
    expect((await get('/events?filters=' + encodeURIComponent('{"colour":["x"]}'))).status).toBe(400);
    expect((await get('/events?since=200&until=100')).status).toBe(400);
  });
});
