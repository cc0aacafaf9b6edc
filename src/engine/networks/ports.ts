import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import ipaddr from 'ipaddr.js';
import { invalid } from '../../core/errors.js';

// Published ports: parsing Docker's `-p` syntax into mappings (pure), and checking a host port
// is free by binding it for a moment.

export type Proto = 'tcp' | 'udp';

export interface PortMapping {
  /** Host address to listen on; '' (or 0.0.0.0) means every host address. */
  hostIp: string;
  /** 0 = pick an ephemeral port. */
  hostPort: number;
  /** With hostPort: any free port of hostPort..hostPortEnd will do (`-p 8000-8010:80`). */
  hostPortEnd?: number;
  containerPort: number;
  proto: Proto;
}

function port(s: string, what: string): number {
  if (!/^\d{1,5}$/.test(s)) throw invalid(`invalid ${what} port ${JSON.stringify(s)}`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw invalid(`invalid ${what} port ${n}: out of range 1-65535`);
  return n;
}

function range(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw invalid(`invalid ${what} port ${JSON.stringify(s)}`);
  const a = port(m[1]!, what);
  const b = m[2] === undefined ? a : port(m[2], what);
  if (b < a) throw invalid(`invalid ${what} port range ${s}: end before start`);
  return [a, b];
}

/** Parses one `-p` value: `[ip:][host[-end]:]container[-end][/tcp|udp]`. */
export function parsePortSpec(spec: string): PortMapping[] {
  let s = spec.trim();
  let proto: Proto = 'tcp';
  const slash = s.lastIndexOf('/');
  if (slash >= 0) {
    const p = s.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw invalid(`invalid protocol ${JSON.stringify(p)} in ${spec}: tcp or udp`);
    proto = p;
    s = s.slice(0, slash);
  }
  let hostIp = '';
  let hostPart = '';
  let ctrPart: string;
  // An IPv6 host address is bracketed: [::1]:8080:80
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(s);
  const rest = v6 ? v6[2]!.split(':') : s.split(':');
  if (v6) {
    hostIp = v6[1]!;
    if (rest.length !== 2) throw invalid(`invalid port spec ${JSON.stringify(spec)}`);
    hostPart = rest[0]!;
    ctrPart = rest[1]!;
  } else if (rest.length === 1) {
    ctrPart = rest[0]!;
  } else if (rest.length === 2) {
    hostPart = rest[0]!;
    ctrPart = rest[1]!;
  } else if (rest.length === 3) {
    hostIp = rest[0]!;
    hostPart = rest[1]!;
    ctrPart = rest[2]!;
  } else {
    throw invalid(`invalid port spec ${JSON.stringify(spec)}`);
  }
  if (hostIp && !(ipaddr.IPv4.isValidFourPartDecimal(hostIp) || ipaddr.IPv6.isValid(hostIp))) throw invalid(`invalid host address ${JSON.stringify(hostIp)} in ${spec}`);
  if (hostIp && ipaddr.parse(hostIp).kind() === 'ipv6') throw invalid(`IPv6 host address ${hostIp} is not supported yet`);
  const [c0, c1] = range(ctrPart, 'container');
  const n = c1 - c0 + 1;
  let h0 = 0;
  let hostEnd: number | undefined;
  if (hostPart) {
    const [a, b] = range(hostPart, 'host');
    if (b - a + 1 !== n && !(a !== b && n === 1)) throw invalid(`invalid port spec ${spec}: host and container ranges differ in size`);
    h0 = a;
    // Docker: a host range with one container port means "any free port of the range".
    if (a !== b && n === 1) hostEnd = b;
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort: h0 ? h0 + i : 0, containerPort: c0 + i, proto, ...(hostEnd ? { hostPortEnd: hostEnd } : {}) });
  }
  return out;
}

/** True if host port can be bound now on hostIp (or every address). */
export function portFree(hostIp: string, hostPort: number, proto: Proto): Promise<boolean> {
  const host = hostIp || '0.0.0.0';
  return new Promise((resolve) => {
    if (proto === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(false);
      });
      s.bind({ address: host, port: hostPort, exclusive: true }, () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port: hostPort, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function ephemeralRange(path = '/proc/sys/net/ipv4/ip_local_port_range'): Promise<[number, number]> {
  try {
    const [a, b] = (await readFile(path, 'utf8')).trim().split(/\s+/).map(Number);
    if (a && b && a <= b) return [a, b];
  } catch {
    // fall through
  }
  return [32768, 60999];
}
