import { randomInt } from 'node:crypto';
import { WharfError, isWharfError } from '../../core/errors.js';
import type { Store } from '../../store/store.js';

// ClusterIP allocation for Services: one store key per allocated address
// (`/registry/ranges/serviceips/IP`), taken with the store's create (atomic, also across API
// servers on one etcd). A crash between allocation and the Service's create leaks one address.

const PREFIX = '/registry/ranges/serviceips/';

export function parseCidr(cidr: string): { base: number; size: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new WharfError('InvalidArgument', `service CIDR ${JSON.stringify(cidr)}: expected an IPv4 CIDR like 10.96.0.0/16`);
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits < 8 || bits > 30) throw new WharfError('InvalidArgument', `service CIDR ${cidr}: prefix must be /8 to /30`);
  const ip = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), size };
}

const toIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const fromIp = (s: string): number | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!;
};

export class ServiceIpAllocator {
  private readonly range: { base: number; size: number };

  constructor(
    private readonly store: Store,
    readonly cidr = '10.96.0.0/16',
  ) {
    this.range = parseCidr(cidr);
  }

  /** Reserves `ip` (when given) or a free address; returns it. */
  async allocate(owner: string, ip?: string): Promise<string> {
    const { base, size } = this.range;
    if (ip !== undefined) {
      const n = fromIp(ip);
      // The network address, the first address (the API service's by convention) and the broadcast are not handed out.
      if (n === undefined || n <= base || n >= base + size - 1) {
        throw new WharfError('InvalidArgument', `spec.clusterIP: Invalid value: "${ip}": provided IP is not in the valid range ${this.cidr}`, {
          details: { reason: 'Invalid', kind: 'Service', causes: [{ reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: `spec.clusterIP: Invalid value: "${ip}": provided IP is not in the valid range ${this.cidr}` }] },
        });
      }
      try {
        await this.store.create(PREFIX + ip, owner);
        return ip;
      } catch (e) {
        if (!isWharfError(e, 'AlreadyExists')) throw e;
        throw new WharfError('InvalidArgument', `spec.clusterIP: Invalid value: "${ip}": provided IP is already allocated`, {
          details: { reason: 'Invalid', kind: 'Service', causes: [{ reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: `spec.clusterIP: Invalid value: "${ip}": provided IP is already allocated` }] },
        });
      }
    }
    const usable = size - 3;
    const start = randomInt(usable);
    for (let i = 0; i < usable; i++) {
      const cand = toIp(base + 2 + ((start + i) % usable));
      try {
        await this.store.create(PREFIX + cand, owner);
        return cand;
      } catch (e) {
        if (!isWharfError(e, 'AlreadyExists')) throw e;
      }
    }
    throw new WharfError('Internal', `no free ClusterIP left in ${this.cidr}`);
  }

  async release(ip: string): Promise<void> {
    try {
      await this.store.delete(PREFIX + ip);
    } catch (e) {
      if (!isWharfError(e, 'NotFound')) throw e;
    }
  }
}
