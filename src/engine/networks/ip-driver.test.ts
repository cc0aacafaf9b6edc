import { describe, expect, it } from 'vitest';
import { IpDriver, bridgeBatch, macForIp, vethContainerBatch, vethHostBatch, type Runner } from './ip-driver.js';

const veth = {
  bridge: 'wharf0',
  hostIf: 'wh0123456789abc',
  containerIf: 'eth0',
  netnsPath: '/proc/42/ns/net',
  mtu: 1500,
  mac: '02:42:0a:d1:00:02',
  address: '10.209.0.2/16',
  gateway: '10.209.0.1',
  hairpin: true,
};

describe('ip command lines (golden)', () => {
  it('bridge', () => {
    expect(bridgeBatch({ name: 'wharf0', mtu: 1500, address: '10.209.0.1/16', mac: '02:42:0a:d1:00:01' })).toEqual([
      'link add wharf0 type bridge',
      'link set dev wharf0 address 02:42:0a:d1:00:01',
      'link set dev wharf0 mtu 1500',
      'addr replace 10.209.0.1/16 dev wharf0',
      'link set dev wharf0 up',
    ]);
  });
  it('veth host and container sides', () => {
    expect(vethHostBatch(veth)).toEqual([
      'link add wh0123456789abc mtu 1500 type veth peer name eth0 mtu 1500 address 02:42:0a:d1:00:02 netns /proc/42/ns/net',
      'link set dev wh0123456789abc master wharf0 up',
      'link set dev wh0123456789abc type bridge_slave hairpin on',
    ]);
    expect(vethContainerBatch(veth, { setupLoopback: true })).toEqual([
      'addr add 10.209.0.2/16 dev eth0',
      'link set dev eth0 up',
      'link set dev lo up',
      'route replace default via 10.209.0.1 dev eth0',
    ]);
    const { gateway: _g, ...internal } = veth;
    expect(vethContainerBatch(internal, { setupLoopback: false })).toEqual(['addr add 10.209.0.2/16 dev eth0', 'link set dev eth0 up']);
  });
  it('rejects names and paths that would break the batch', () => {
    expect(() => vethHostBatch({ ...veth, hostIf: 'way-too-long-interface' })).toThrow(/interface name/);
    expect(() => vethHostBatch({ ...veth, netnsPath: '/x\nlink del wharf0' })).toThrow(/namespace path/);
    expect(() => bridgeBatch({ name: 'a b', mtu: 1500, address: '1.2.3.4/8', mac: '02:42:01:02:03:04' })).toThrow(/interface name/);
  });
  it('derives MACs like Docker', () => {
    expect(macForIp('172.17.0.2')).toBe('02:42:ac:11:00:02');
  });
});

describe('IpDriver', () => {
  it('attaches with two processes: a host batch and an nsenter batch', async () => {
    const calls: Array<{ argv: readonly string[]; input?: string }> = [];
    const runner: Runner = async (argv, opts) => {
      calls.push({ argv, ...(typeof opts?.input === 'string' ? { input: opts.input } : {}) });
      return { code: 0, signal: null, stdout: '', stderr: '' };
    };
    const d = new IpDriver(runner);
    await d.addVeth(veth);
    expect(calls.map((c) => c.argv)).toEqual([
      ['ip', '-batch', '-'],
      ['nsenter', '--net=/proc/42/ns/net', '--', 'ip', '-batch', '-'],
    ]);
    expect(calls[1]!.input).toContain('route replace default via 10.209.0.1');
    expect(d.spawns).toBe(2);
  });
  it('removes the host end when the container side fails', async () => {
    const calls: string[] = [];
    const runner: Runner = async (argv, opts) => {
      calls.push(`${argv.join(' ')} <<${String(opts?.input ?? '').trim()}`);
      if (argv[0] === 'nsenter') return { code: 1, signal: null, stdout: '', stderr: 'RTNETLINK answers: File exists' };
      return { code: 0, signal: null, stdout: '', stderr: '' };
    };
    await expect(new IpDriver(runner).addVeth(veth)).rejects.toThrow(/File exists/);
    expect(calls.at(-1)).toBe('ip -force -batch - <<link del dev wh0123456789abc');
  });
});
