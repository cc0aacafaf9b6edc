import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import type { Logger } from '../../core/log.js';

// The embedded DNS: one UDP listener per network on its gateway address, port 53. A query is
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
  private readonly sockets = new Map<string, Socket>();

  constructor(private readonly opts: EmbeddedDnsOptions) {}

  /** Starts listening on address:port (idempotent). Resolves once bound. */
  async listen(address: string, port = 53): Promise<void> {
    const key = `${address}:${port}`;
    if (this.sockets.has(key)) return;
    const sock = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ address, port, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (err) => this.opts.logger.warn({ err, address }, 'dns socket error'));
    sock.on('message', (msg, rinfo) => {
      this.handle(sock, msg, rinfo.address, rinfo.port).catch((err: unknown) => this.opts.logger.warn({ err }, 'dns query failed'));
    });
    this.sockets.set(key, sock);
  }

  async close(address: string, port = 53): Promise<void> {
    const key = `${address}:${port}`;
    const s = this.sockets.get(key);
    if (!s) return;
    this.sockets.delete(key);
    await new Promise<void>((r) => s.close(() => r()));
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

  private async handle(sock: Socket, msg: Buffer, clientIp: string, clientPort: number): Promise<void> {
    let q: dnsPacket.Packet;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return; // not DNS: drop
    }
    const question = q.questions?.[0];
    if (!question || q.type !== 'query') return;
    const name = question.name.replace(/\.$/, '').toLowerCase();
    const local = this.opts.resolve(clientIp, name);
    if (local !== undefined) {
      const answers: dnsPacket.Answer[] =
        question.type === 'A' ? local.map((ip) => ({ type: 'A', name: question.name, ttl: this.opts.ttl ?? 600, class: 'IN', data: ip })) : [];
      const reply = dnsPacket.encode({
        type: 'response',
        id: q.id ?? 0,
        flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
        questions: [question],
        answers,
      });
      sock.send(reply, clientPort, clientIp);
      return;
    }
    const reply = await this.forward(msg);
    if (reply) {
      sock.send(reply, clientPort, clientIp);
      return;
    }
    const fail = dnsPacket.encode({
      type: 'response',
      id: q.id ?? 0,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | 2, // rcode SERVFAIL
      questions: [question],
    });
    sock.send(fail, clientPort, clientIp);
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
