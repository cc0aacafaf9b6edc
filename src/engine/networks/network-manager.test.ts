import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../core/log.js';
import type { RunOptions, RunResult } from '../../core/exec/run.js';
import { MemoryNetworkStore } from './network-store.js';
import { NetworkManager } from './network-manager.js';

// NetworkManager logic over a fake `ip`/`nft` (records command lines, keeps a fake link table):
// validation, bad input changing nothing, IPAM, ports, DNS names, restore. The real kernel path
// is covered by test/integration/networks.test.ts.

const dir = mkdtempSync('/var/tmp/wharf-test-nm-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function netns(name: string): string {
  const p = join(dir, name);
  writeFileSync(p, '');
  return p;
}

class FakeKernel {
  links = new Map<string, { master?: string; kind?: string }>();
  routes: Array<{ dst: string; dev?: string }> = [{ dst: 'default', dev: 'eth0' }, { dst: '192.0.2.0/24', dev: 'eth0' }];
  nft: string[] = [];
  calls: string[] = [];
  failNsenter = false;
  runner = async (argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> => {
    const input = typeof opts.input === 'string' ? opts.input : '';
    this.calls.push(argv.join(' '));
    const ok = (stdout = ''): RunResult => ({ code: 0, signal: null, stdout, stderr: '' });
    if (argv[0] === 'nft') {
      this.nft.push(input);
      return ok();
    }
    if (argv[0] === 'nsenter') return this.failNsenter ? { code: 1, signal: null, stdout: '', stderr: 'boom' } : ok();
    if (argv.includes('-json') && argv.includes('link')) {
      return ok(JSON.stringify([...this.links].map(([ifname, l]) => ({ ifname, mtu: 1500, ...(l.master ? { master: l.master } : {}), linkinfo: { info_kind: l.kind } }))));
    }
    if (argv.includes('-json') && argv.includes('route')) return ok(JSON.stringify(this.routes));
    for (const line of input.split('\n')) {
      let m = /^link add (\S+) type bridge/.exec(line);
      if (m) this.links.set(m[1]!, { kind: 'bridge' });
      m = /^link add (\S+) mtu \d+ type veth/.exec(line);
      if (m) this.links.set(m[1]!, { kind: 'veth' });
      m = /^link set dev (\S+) master (\S+)/.exec(line);
      if (m) this.links.set(m[1]!, { kind: 'veth', master: m[2]! });
      m = /^link del dev (\S+)/.exec(line);
      if (m) this.links.delete(m[1]!);
    }
    return ok();
  };
}

let k: FakeKernel;
let store: MemoryNetworkStore;
const mk = () =>
  new NetworkManager({ runner: k.runner, logger: silentLogger(), clock: { now: () => 1000, sleep: async () => undefined }, store, daemonName: 'unit', dns: false, ipForward: false });

beforeEach(() => {
  k = new FakeKernel();
  store = new MemoryNetworkStore();
});

describe('NetworkManager', () => {
  it('creates the default network from flags at restore and refuses to remove it', async () => {
    const m = mk();
    await m.restore(() => true);
    const def = m.inspect('bridge');
    expect(def).toMatchObject({ bridge: 'wharf0', subnet: '10.209.0.0/16', gateway: '10.209.0.1', isDefault: true });
    expect(k.links.has('wharf0')).toBe(true);
    await expect(m.removeNetwork('bridge')).rejects.toMatchObject({ kind: 'Forbidden' });
    expect(k.nft.at(-1)).toContain('table ip wharf-unit {');
  });

  it('validates user networks and changes nothing on bad input', async () => {
    const m = mk();
    await m.createNetwork({ name: 'front', subnet: '10.210.7.0/24' });
    const before = { links: [...k.links.keys()], nets: store.listNetworks().length };
    await expect(m.createNetwork({ name: 'front', subnet: '10.211.0.0/24' })).rejects.toMatchObject({ kind: 'AlreadyExists' });
    await expect(m.createNetwork({ name: 'b2', subnet: '10.210.0.0/16' })).rejects.toMatchObject({ kind: 'Conflict' });
    await expect(m.createNetwork({ name: 'b3', subnet: '192.0.2.0/25' })).rejects.toThrow(/host route on eth0/);
    await expect(m.createNetwork({ name: 'b4', subnet: '10.212.0.0/24', gateway: '10.99.0.1' })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.createNetwork({ name: 'bad name!' })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    await expect(m.createNetwork({ name: 'ov', driver: 'overlay' })).rejects.toMatchObject({ kind: 'Unsupported' });
    await expect(m.createNetwork({ name: 'host' })).rejects.toMatchObject({ kind: 'Forbidden' });
    expect({ links: [...k.links.keys()], nets: store.listNetworks().length }).toEqual(before);
    // Without a subnet: the first free /24 of the pool.
    expect((await m.createNetwork({ name: 'auto' })).subnet).toBe('10.210.0.0/24');
    expect((await m.createNetwork({ name: 'auto2' })).subnet).toBe('10.210.1.0/24');
  });

  it('attaches with IPAM, names interfaces eth0/eth1, serves names per network, detaches', async () => {
    const m = mk();
    await m.createNetwork({ name: 'n1', subnet: '10.210.7.0/24' });
    await m.createNetwork({ name: 'n2', subnet: '10.210.8.0/24', internal: true });
    const ns = netns('a');
    const e1 = await m.attach('ca', ns, { network: 'n1', containerName: '/alpha', aliases: ['db'] });
    const e2 = await m.attach('ca', ns, { network: 'n2', containerName: 'alpha' });
    expect([e1.ifName, e1.ip, e1.gateway, e1.mac]).toEqual(['eth0', '10.210.7.2', '10.210.7.1', '02:42:0a:d2:07:02']);
    expect([e2.ifName, e2.gateway]).toEqual(['eth1', '']);
    const eb = await m.attach('cb', netns('b'), { network: 'n1', containerName: 'bravo', ip: '10.210.7.50' });
    expect(eb.ip).toBe('10.210.7.50');
    await expect(m.attach('cc', netns('c'), { network: 'n1', containerName: 'c', ip: '10.210.7.50' })).rejects.toMatchObject({ kind: 'Conflict' });
    await expect(m.attach('cb', netns('b'), { network: 'n1', containerName: 'bravo' })).rejects.toMatchObject({ kind: 'Conflict' });
    await expect(m.attach('cd', netns('d'), { network: 'nope', containerName: 'd' })).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(m.attach('ce', join(dir, 'missing'), { network: 'n1', containerName: 'e' })).rejects.toMatchObject({ kind: 'InvalidArgument' });
    // DNS as seen from bravo: alpha and its alias on n1; nothing for unknown clients.
    expect(m.resolveName('10.210.7.50', 'alpha')).toEqual(['10.210.7.2']);
    expect(m.resolveName('10.210.7.50', 'db')).toEqual(['10.210.7.2']);
    expect(m.resolveName('10.210.7.50', 'nosuch')).toBeUndefined();
    expect(m.resolveName('10.9.9.9', 'alpha')).toBeUndefined();
    await expect(m.removeNetwork('n1')).rejects.toMatchObject({ kind: 'Conflict' });
    await m.detach('ca');
    expect(m.endpoints('ca')).toEqual([]);
    expect(store.reserved(m.inspect('n1').id).has('10.210.7.2')).toBe(false);
    await expect(m.detach('ca', 'n1')).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('no name resolution on the default bridge except links', async () => {
    const m = mk();
    await m.restore(() => true);
    const a = await m.attach('ca', netns('la'), { network: 'bridge', containerName: 'alpha' });
    const b = await m.attach('cb', netns('lb'), { network: 'bridge', containerName: 'bravo', links: [{ name: 'alpha', alias: 'db' }] });
    expect(m.resolveName(b.ip, 'alpha')).toEqual([a.ip]);
    expect(m.resolveName(b.ip, 'db')).toEqual([a.ip]);
    expect(m.resolveName(a.ip, 'bravo')).toBeUndefined();
  });

  it('publishes ports: refuses a port another endpoint has, picks ephemeral ones, renders DNAT', async () => {
    const m = mk();
    await m.createNetwork({ name: 'n1', subnet: '10.210.7.0/24' });
    const a = await m.attach('ca', netns('pa'), { network: 'n1', containerName: 'a', ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, proto: 'tcp' }] });
    const port = a.ports[0]!.hostPort;
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(k.nft.at(-1)).toContain(`ip daddr 127.0.0.1 tcp dport ${port} dnat to 10.210.7.2:80`);
    const before = store.listEndpoints().length;
    await expect(
      m.attach('cb', netns('pb'), { network: 'n1', containerName: 'b', ports: [{ hostIp: '', hostPort: port, containerPort: 80, proto: 'tcp' }] }),
    ).rejects.toMatchObject({ kind: 'Conflict', message: expect.stringContaining('port is already allocated') });
    expect(store.listEndpoints().length).toBe(before);
    // Same port on UDP is fine.
    await m.attach('cb', netns('pb'), { network: 'n1', containerName: 'b', ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 53, proto: 'udp' }] });
    // A host range: the first free port of it (the one taken above is skipped).
    const c = await m.attach('cc', netns('pc'), {
      network: 'n1',
      containerName: 'c',
      ports: [{ hostIp: '127.0.0.1', hostPort: port, hostPortEnd: port + 5, containerPort: 80, proto: 'tcp' }],
    });
    expect(c.ports[0]!.hostPort).toBeGreaterThan(port);
    expect(c.ports[0]!.hostPort).toBeLessThanOrEqual(port + 5);
    expect(c.ports[0]).not.toHaveProperty('hostPortEnd');
    await m.detach('ca');
    expect(k.nft.at(-1)).not.toContain(`tcp dport ${port}`);
  });

  it('rolls back a failed attach: no endpoint, address free, host veth deleted', async () => {
    const m = mk();
    await m.createNetwork({ name: 'n1', subnet: '10.210.7.0/24' });
    k.failNsenter = true;
    await expect(m.attach('ca', netns('fa'), { network: 'n1', containerName: 'a' })).rejects.toThrow(/boom/);
    expect(store.listEndpoints()).toEqual([]);
    expect(store.reserved(m.inspect('n1').id).size).toBe(0);
    expect([...k.links.keys()].filter((l) => l.startsWith('wh'))).toEqual([]);
  });

  it('restore drops the endpoint of a live container whose veth vanished, freeing its address', async () => {
    const m = mk();
    await m.createNetwork({ name: 'n1', subnet: '10.210.7.0/24' });
    const e = await m.attach('live', netns('v1'), { network: 'n1', containerName: 'live' });
    k.links.delete(m.endpoints('live')[0]!.hostIf);
    const r = await mk().restore(() => true);
    expect(r.broken).toEqual(['live']);
    expect(store.listEndpoints()).toEqual([]);
    expect(store.reserved(m.inspect('n1').id).has(e.ip)).toBe(false);
  });

  it('restore keeps live endpoints, drops dead ones and orphan veths, and prunes unused networks', async () => {
    const m = mk();
    await m.restore(() => true);
    await m.createNetwork({ name: 'n1', subnet: '10.210.7.0/24' });
    await m.createNetwork({ name: 'unused', subnet: '10.210.9.0/24', labels: { team: 'x' } });
    await m.attach('live', netns('r1'), { network: 'n1', containerName: 'live' });
    await m.attach('dead', netns('r2'), { network: 'n1', containerName: 'dead' });
    k.links.set('whorphan', { kind: 'veth', master: m.inspect('n1').bridge });
    const m2 = mk();
    const r = await m2.restore((id) => id === 'live');
    expect(r).toEqual({ kept: 1, removed: 2, broken: [] });
    expect(m2.endpoints().map((e) => e.containerId)).toEqual(['live']);
    expect(k.links.has('whorphan')).toBe(false);
    expect(m2.list({ label: ['team=x'] }).map((n) => n.name)).toEqual(['unused']);
    expect(m2.list({ type: ['builtin'] }).map((n) => n.name)).toEqual(['bridge']);
    expect(await m2.prune()).toEqual(['unused']);
  });
});
