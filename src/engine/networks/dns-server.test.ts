import { afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { silentLogger } from '../../core/log.js';
import { EmbeddedDns } from './dns-server.js';

// The embedded DNS on loopback, with a fake upstream on loopback: no traffic leaves the machine.

function query(port: number, name: string, type: 'A' | 'AAAA' = 'A'): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('no reply'));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(dnsPacket.decode(m));
    });
    s.send(dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }), port, '127.0.0.1');
  });
}

async function listenUdp(handler: (s: Socket, m: Buffer, r: { address: string; port: number }) => void): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket('udp4');
  sock.on('message', (m, r) => handler(sock, m, r));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, port: sock.address().port };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('EmbeddedDns', () => {
  it('answers container names for the asking client and forwards the rest to the upstream', async () => {
    const upstream = await listenUdp((s, m, r) => {
      const q = dnsPacket.decode(m);
      s.send(
        dnsPacket.encode({ type: 'response', id: q.id ?? 0, questions: q.questions ?? [], answers: [{ type: 'A', name: q.questions![0]!.name, data: '192.0.2.99', ttl: 5 }] }),
        r.port,
        r.address,
      );
    });
    cleanups.push(() => void upstream.sock.close());
    const seen: string[] = [];
    const dns = new EmbeddedDns({
      resolve: (client, name) => {
        seen.push(`${client} ${name}`);
        return name === 'web' ? ['10.210.0.5'] : undefined;
      },
      upstreams: () => [{ host: '127.0.0.1', port: upstream.port }],
      logger: silentLogger(),
    });
    await dns.listen('127.0.0.1', 0);
    cleanups.push(() => dns.stop());
    const port = dns.boundPort('127.0.0.1', 0)!;

    const local = await query(port, 'WEB.');
    expect(local.id).toBe(4242);
    expect(local.answers?.map((a) => (a as { data: unknown }).data)).toEqual(['10.210.0.5']);
    expect(seen).toContain('127.0.0.1 web');
    const v6 = await query(port, 'web', 'AAAA');
    expect(v6.answers).toEqual([]);
    const fwd = await query(port, 'example.org');
    expect(fwd.answers?.map((a) => (a as { data: unknown }).data)).toEqual(['192.0.2.99']);
    // TCP on the same port: length-prefixed messages.
    const tcp = await new Promise<dnsPacket.Packet>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port }, () => {
        const q = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'web', class: 'IN' }] });
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length);
        c.write(Buffer.concat([len, q]));
      });
      let buf = Buffer.alloc(0);
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          c.destroy();
          resolve(dnsPacket.decode(buf.subarray(2)));
        }
      });
      c.on('error', reject);
    });
    expect(tcp.id).toBe(7);
    expect(tcp.answers?.map((a) => (a as { data: unknown }).data)).toEqual(['10.210.0.5']);
  });

  it('returns SERVFAIL when no upstream answers', async () => {
    const silent = await listenUdp(() => undefined);
    cleanups.push(() => void silent.sock.close());
    const dns = new EmbeddedDns({ resolve: () => undefined, upstreams: () => [{ host: '127.0.0.1', port: silent.port }], logger: silentLogger(), forwardTimeoutMs: 200 });
    await dns.listen('127.0.0.1', 0);
    cleanups.push(() => dns.stop());
    const r = await query(dns.boundPort('127.0.0.1', 0)!, 'nowhere.example');
    expect((r as { rcode?: string }).rcode).toBe('SERVFAIL');
  });
});
