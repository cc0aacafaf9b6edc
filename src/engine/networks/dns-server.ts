import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Logger } from '../../core/log.js';

// The embedded DNS: one UDP and one TCP listener per network on its gateway address, port 53. A query is
// answered from the network's names (container names, aliases, links) as seen by the asking
// container (found by its source address); anything else is forwarded unchanged to the host's
// resolvers and the reply relayed. Packets are parsed and built with dns-packet.

/** Answers a name for a client: addresses, or undefined when the name is not a container's. */
export type NameResolver = (clientIp: string, name: string) => string[] | undefined;

export interface Upstream {
  host: string;
  port: number;
}

export interface EmbeddedDnsOptions {
  resolve: NameResolver;
  upstreams: () => Upstream[];
  logger: Logger;
  /** Upstream wait, ms. */
  forwardTimeoutMs?: number;
  ttl?: number;
}

export class EmbeddedDns {
  private readonly sockets = new Map<string, { udp: Socket; tcp: Server }>();

  constructor(private readonly opts: EmbeddedDnsOptions) {}

  /** Starts listening on address:port, UDP and TCP (idempotent). Resolves once bound. */
  async listen(address: string, port = 53): Promise<void> {
    const key = `${address}:${port}`;
    if (this.sockets.has(key)) return;
    const udp = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const boundPort = udp.address().port;
    udp.on('error', (err) => this.opts.logger.warn({ err, address }, 'dns socket error'));
    udp.on('message', (msg, rinfo) => {
      this.answer(msg, rinfo.address, 'udp')
        .then((reply) => {
          if (reply) udp.send(reply, rinfo.port, rinfo.address);
        })
        .catch((err: unknown) => this.opts.logger.warn({ err }, 'dns query failed'));
    });
    const tcp = createServer((conn) => {
      // RFC 1035 4.2.2: each message is prefixed by its 2-byte length; several may follow.
      let buf = Buffer.alloc(0);
      conn.setTimeout(10_000, () => conn.destroy());
      conn.on('error', () => undefined);
      conn.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          this.answer(Buffer.from(msg), conn.remoteAddress?.replace(/^::ffff:/, '') ?? '', 'tcp')
            .then((reply) => {
              if (!reply || conn.destroyed) return;
              const len = Buffer.alloc(2);
              len.writeUInt16BE(reply.length);
              conn.write(Buffer.concat([len, reply]));
            })
            .catch((err: unknown) => this.opts.logger.warn({ err }, 'dns query failed'));
        }
        if (buf.length > 70_000) conn.destroy();
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: boundPort, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', (err) => this.opts.logger.warn({ err, address }, 'dns tcp error'));
    this.sockets.set(key, { udp, tcp });
  }

  /** The port bound for address (useful when listening on port 0 in tests). */
  boundPort(address: string, port = 53): number | undefined {
    return this.sockets.get(`${address}:${port}`)?.udp.address().port;
  }

  async close(address: string, port = 53): Promise<void> {
    const key = `${address}:${port}`;
    const s = this.sockets.get(key);
    if (!s) return;
    this.sockets.delete(key);
    await new Promise<void>((r) => s.udp.close(() => r()));
    await new Promise<void>((r) => s.tcp.close(() => r()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sockets.keys()].map((k) => {
      const i = k.lastIndexOf(':');
      return this.close(k.slice(0, i), Number(k.slice(i + 1)));
    }));
  }

  listening(): string[] {
    return [...this.sockets.keys()];
  }

  /** The reply to one query message, or undefined to drop it (not a DNS query). */
  async answer(msg: Buffer, clientIp: string, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined; // not DNS: drop
    }
    const question = q.questions?.[0];
    if (!question || q.type !== 'query') return undefined;
    const name = question.name.replace(/\.$/, '').toLowerCase();
    const local = this.opts.resolve(clientIp, name);
    if (local !== undefined) {
      const answers: dnsPacket.Answer[] =
        question.type === 'A' ? local.map((ip) => ({ type: 'A', name: question.name, ttl: this.opts.ttl ?? 600, class: 'IN', data: ip })) : [];
      return dnsPacket.encode({
        type: 'response',
        id: q.id ?? 0,
        flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: [question],
        answers,
      });
    }
    const reply = transport === 'tcp' ? await this.forwardTcp(msg) : await this.forward(msg);
    if (reply) return reply;
    return dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, // rcode SERVFAIL
      questions: [question],
    });
  }

  /** TCP to each upstream in turn (for answers too big for UDP). */
  private async forwardTcp(msg: Buffer): Promise<Buffer | undefined> {
    for (const up of this.opts.upstreams()) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const c = connect({ host: up.host, port: up.port });
        let buf = Buffer.alloc(0);
        const done = (b: Buffer | undefined) => {
          clearTimeout(t);
          c.destroy();
          resolve(b);
        };
        const t = setTimeout(() => done(undefined), this.opts.forwardTimeoutMs ?? 2000);
        c.on('error', () => done(undefined));
        c.on('connect', () => {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(msg.length);
          c.write(Buffer.concat([len, msg]));
        });
        c.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        });
      });
      if (reply) return reply;
    }
    return undefined;
  }

  /** Sends the query to each upstream in turn; the first reply wins. */
  private async forward(msg: Buffer): Promise<Buffer | undefined> {
    for (const up of this.opts.upstreams()) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const s = createSocket(up.host.includes(':') ? 'udp6' : 'udp4');
        const done = (b: Buffer | undefined) => {
          clearTimeout(t);
          s.close();
          resolve(b);
        };
        const t = setTimeout(() => done(undefined), this.opts.forwardTimeoutMs ?? 2000);
        s.on('error', () => done(undefined));
        s.on('message', (b) => done(b));
        s.send(msg, up.port, up.host);
      });
      if (reply) return reply;
    }
    return undefined;
  }
}
