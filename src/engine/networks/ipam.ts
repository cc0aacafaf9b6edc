import ipaddr from 'ipaddr.js';
import { conflict, invalid, WharfError } from '../../core/errors.js';

// IPv4 address management: pure subnet arithmetic and validation, plus an allocator over an
// `IpamStore` port (SQLite in the daemon, in-memory in unit tests). Addresses are uint32 numbers
// inside; strings at the edges.

export interface Cidr {
  /** Network address as uint32. */
  base: number;
  prefix: number;
}

export function parseIp(s: string): number {
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) throw invalid(`invalid IPv4 address ${JSON.stringify(s)}`);
  const o = ipaddr.IPv4.parse(s).octets;
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n". Host bits must be zero unless `allowHostBits` (then they are cleared). */
export function parseCidr(s: string, opts: { allowHostBits?: boolean; what?: string } = {}): Cidr {
  const what = opts.what ?? 'subnet';
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) throw invalid(`invalid ${what} ${JSON.stringify(s)}: expected CIDR like 10.210.0.0/16`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw invalid(`invalid ${what} ${JSON.stringify(s)}: prefix length over 32`);
  const ip = parseIp(m[1]!);
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip && !opts.allowHostBits) throw invalid(`invalid ${what} ${JSON.stringify(s)}: host bits set (did you mean ${formatIp(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

export interface IpamConfig {
  subnet: string;
  gateway?: string;
  ipRange?: string;
}

export interface ResolvedIpam {
  subnet: string;
  gateway: string;
  ipRange?: string;
}

/** A subnet already in use, by a network or a host route, for overlap checks. */
export interface UsedSubnet {
  subnet: string;
  owner: string;
}

/**
 * Validates an IPAM config against the subnets already in use: gateway inside the subnet and not
 * its network/broadcast address, ip-range inside the subnet, no overlap. Returns the config with
 * the gateway defaulted to the first host address.
 */
export function resolveIpam(cfg: IpamConfig, used: readonly UsedSubnet[]): ResolvedIpam {
  const sub = parseCidr(cfg.subnet);
  if (sub.prefix > 30) throw invalid(`subnet ${cfg.subnet} is too small: at most /30`);
  const last = (sub.base + cidrSize(sub) - 1) >>> 0;
  let gw: number;
  if (cfg.gateway) {
    gw = parseIp(cfg.gateway);
    if (!contains(sub, gw)) throw invalid(`gateway ${cfg.gateway} is not inside subnet ${cfg.subnet}`);
    if (gw === sub.base || gw === last) throw invalid(`gateway ${cfg.gateway} is the network or broadcast address of ${cfg.subnet}`);
  } else {
    gw = sub.base + 1;
  }
  let range: string | undefined;
  if (cfg.ipRange) {
    const r = parseCidr(cfg.ipRange, { what: 'ip-range' });
    if (r.prefix < sub.prefix || !contains(sub, r.base)) throw invalid(`ip-range ${cfg.ipRange} is not inside subnet ${cfg.subnet}`);
    range = formatCidr(r);
  }
  for (const u of used) {
    let other: Cidr;
    try {
      other = parseCidr(u.subnet, { allowHostBits: true });
    } catch {
      continue;
    }
    if (other.prefix === 0) continue; // a default route overlaps everything and means nothing here
    if (overlaps(sub, other)) throw new WharfError('Conflict', `subnet ${cfg.subnet} overlaps ${u.subnet} (${u.owner})`);
  }
  return { subnet: formatCidr(sub), gateway: formatIp(gw), ...(range ? { ipRange: range } : {}) };
}

/** Picks a free subnet of the given prefix from a pool (e.g. 10.210.0.0/16 → /24s), avoiding used ones. */
export function pickSubnet(pool: string, prefix: number, used: readonly UsedSubnet[]): string {
  const p = parseCidr(pool);
  if (prefix < p.prefix) throw invalid(`cannot pick a /${prefix} from ${pool}`);
  const step = 2 ** (32 - prefix);
  const usedC = used.flatMap((u) => {
    try {
      const c = parseCidr(u.subnet, { allowHostBits: true });
      return c.prefix === 0 ? [] : [c];
    } catch {
      return [];
    }
  });
  for (let base = p.base; base < p.base + cidrSize(p); base += step) {
    const c = { base: base >>> 0, prefix };
    if (!usedC.some((u) => overlaps(u, c))) return formatCidr(c);
  }
  throw new WharfError('Unavailable', `no free /${prefix} subnet left in ${pool}`);
}

/** Persisted address reservations: the port the allocator writes through. */
export interface IpamStore {
  /** Reserves ip on network for owner; false if it is already reserved. Atomic. */
  reserve(networkId: string, ip: string, owner: string): boolean;
  release(networkId: string, ip: string): void;
  reserved(networkId: string): Map<string, string>;
  releaseNetwork(networkId: string): void;
}

export class MemoryIpamStore implements IpamStore {
  private readonly m = new Map<string, Map<string, string>>();
  reserve(networkId: string, ip: string, owner: string): boolean {
    let n = this.m.get(networkId);
    if (!n) this.m.set(networkId, (n = new Map()));
    if (n.has(ip)) return false;
    n.set(ip, owner);
    return true;
  }
  release(networkId: string, ip: string): void {
    this.m.get(networkId)?.delete(ip);
  }
  reserved(networkId: string): Map<string, string> {
    return new Map(this.m.get(networkId) ?? []);
  }
  releaseNetwork(networkId: string): void {
    this.m.delete(networkId);
  }
}

/** Allocates and releases container addresses of one network. */
export class Ipam {
  constructor(private readonly store: IpamStore) {}

  /**
   * Reserves `requested` (checked: inside subnet, not gateway/network/broadcast, free) or the
   * lowest free address of the ip-range (or subnet).
   */
  allocate(networkId: string, cfg: ResolvedIpam, owner: string, requested?: string): string {
    const sub = parseCidr(cfg.subnet);
    const gw = parseIp(cfg.gateway);
    const last = (sub.base + cidrSize(sub) - 1) >>> 0;
    if (requested) {
      const ip = parseIp(requested);
      if (!contains(sub, ip)) throw invalid(`address ${requested} is not inside subnet ${cfg.subnet}`);
      if (ip === sub.base || ip === last || ip === gw) throw invalid(`address ${requested} is reserved in ${cfg.subnet}`);
      if (!this.store.reserve(networkId, formatIp(ip), owner)) throw conflict(`address ${requested} is already in use`);
      return formatIp(ip);
    }
    const range = cfg.ipRange ? parseCidr(cfg.ipRange) : sub;
    const taken = this.store.reserved(networkId);
    const start = Math.max(range.base + 1, sub.base + 1); // never the range's .0-like first address
    const end = Math.min(range.base + cidrSize(range) - 1, last - 1);
    for (let n = start; n <= end; n++) {
      if (n === gw) continue;
      const s = formatIp(n >>> 0);
      if (taken.has(s)) continue;
      if (this.store.reserve(networkId, s, owner)) return s;
    }
    throw new WharfError('Unavailable', `no free address left in ${cfg.ipRange ?? cfg.subnet}`);
  }

  release(networkId: string, ip: string): void {
    this.store.release(networkId, ip);
  }
}
