import { describe, expect, it } from 'vitest';
import { Ipam, MemoryIpamStore, formatIp, parseCidr, parseIp, pickSubnet, resolveIpam } from './ipam.js';

describe('subnet validation', () => {
  it('defaults the gateway to the first host address', () => {
    expect(resolveIpam({ subnet: '10.210.3.0/24' }, [])).toEqual({ subnet: '10.210.3.0/24', gateway: '10.210.3.1' });
  });
  it('rejects a gateway outside the subnet or on its network/broadcast address', () => {
    expect(() => resolveIpam({ subnet: '10.210.3.0/24', gateway: '10.210.4.1' }, [])).toThrow(/not inside subnet/);
    expect(() => resolveIpam({ subnet: '10.210.3.0/24', gateway: '10.210.3.255' }, [])).toThrow(/broadcast/);
  });
  it('rejects host bits, bad prefixes and garbage with InvalidArgument', () => {
    expect(() => parseCidr('10.210.3.1/24')).toThrow(/host bits set/);
    expect(() => parseCidr('10.210.3.0/33')).toThrow(/prefix/);
    expect(() => parseCidr('banana')).toThrow(/CIDR/);
    expect(() => parseIp('300.1.1.1')).toThrow(/invalid IPv4/);
  });
  it('rejects overlaps with other networks and host routes (Conflict)', () => {
    try {
      resolveIpam({ subnet: '10.210.0.0/16' }, [{ subnet: '10.210.5.0/24', owner: 'network x' }]);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ kind: 'Conflict' });
      expect(String(e)).toMatch(/overlaps 10.210.5.0\/24 \(network x\)/);
    }
    expect(() => resolveIpam({ subnet: '192.0.2.0/25' }, [{ subnet: '192.0.2.0/24', owner: 'host route on eth0' }])).toThrow(/host route/);
    expect(resolveIpam({ subnet: '10.211.0.0/24' }, [{ subnet: '10.210.0.0/24', owner: 'n' }, { subnet: '0.0.0.0/0', owner: 'default' }]).subnet).toBe('10.211.0.0/24');
  });
  it('checks the ip-range is inside the subnet', () => {
    expect(() => resolveIpam({ subnet: '10.210.3.0/24', ipRange: '10.210.4.0/28' }, [])).toThrow(/ip-range/);
    expect(resolveIpam({ subnet: '10.210.0.0/16', ipRange: '10.210.7.0/24' }, []).ipRange).toBe('10.210.7.0/24');
  });
  it('picks the first free /24 of a pool', () => {
    expect(pickSubnet('10.210.0.0/16', 24, [{ subnet: '10.210.0.0/24', owner: 'a' }, { subnet: '10.210.1.128/25', owner: 'b' }])).toBe('10.210.2.0/24');
    expect(() => pickSubnet('10.210.0.0/23', 24, [{ subnet: '10.210.0.0/23', owner: 'a' }])).toThrow(/no free/);
  });
});

describe('Ipam allocation', () => {
  const cfg = { subnet: '10.210.3.0/29', gateway: '10.210.3.1' };
  it('allocates lowest free addresses, skipping gateway, network and broadcast, and reuses released ones', () => {
    const ipam = new Ipam(new MemoryIpamStore());
    const got = [1, 2, 3, 4, 5].map((i) => ipam.allocate('n', cfg, `c${i}`));
    expect(got).toEqual(['10.210.3.2', '10.210.3.3', '10.210.3.4', '10.210.3.5', '10.210.3.6']);
    expect(() => ipam.allocate('n', cfg, 'c6')).toThrow(/no free address/);
    ipam.release('n', '10.210.3.4');
    expect(ipam.allocate('n', cfg, 'c7')).toBe('10.210.3.4');
  });
  it('honours a requested address and refuses a taken or reserved one', () => {
    const ipam = new Ipam(new MemoryIpamStore());
    expect(ipam.allocate('n', cfg, 'a', '10.210.3.5')).toBe('10.210.3.5');
    expect(() => ipam.allocate('n', cfg, 'b', '10.210.3.5')).toThrow(/already in use/);
    expect(() => ipam.allocate('n', cfg, 'b', '10.210.3.1')).toThrow(/reserved/);
    expect(() => ipam.allocate('n', cfg, 'b', '10.210.4.2')).toThrow(/not inside/);
  });
  it('allocates from the ip-range only', () => {
    const ipam = new Ipam(new MemoryIpamStore());
    expect(ipam.allocate('n', { subnet: '10.210.0.0/16', gateway: '10.210.0.1', ipRange: '10.210.9.0/30' }, 'a')).toBe('10.210.9.1');
  });
  it('formats and parses round-trip', () => {
    for (const s of ['0.0.0.0', '10.210.3.255', '255.255.255.255']) expect(formatIp(parseIp(s))).toBe(s);
  });
});
