import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { parsePortSpec, portFree } from './ports.js';

describe('parsePortSpec', () => {
  it('parses Docker -p forms', () => {
    expect(parsePortSpec('80')).toEqual([{ hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp' }]);
    expect(parsePortSpec('8080:80')).toEqual([{ hostIp: '', hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    expect(parsePortSpec('127.0.0.1:8080:80/udp')).toEqual([{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, proto: 'udp' }]);
    expect(parsePortSpec('127.0.0.1::80')).toEqual([{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, proto: 'tcp' }]);
    expect(parsePortSpec('0.0.0.0:8080:80')[0]!.hostIp).toBe('');
  });
  it('expands ranges pairwise', () => {
    expect(parsePortSpec('8000-8002:9000-9002').map((m) => [m.hostPort, m.containerPort])).toEqual([
      [8000, 9000],
      [8001, 9001],
      [8002, 9002],
    ]);
  });
  it('a host range for one container port means any free port of the range', () => {
    expect(parsePortSpec('8000-8010:80')).toEqual([{ hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, proto: 'tcp' }]);
  });
  it('rejects bad input with clear messages', () => {
    expect(() => parsePortSpec('70000')).toThrow(/out of range/);
    expect(() => parsePortSpec('80/sctp')).toThrow(/protocol/);
    expect(() => parsePortSpec('8000-8001:80-82')).toThrow(/differ in size/);
    expect(() => parsePortSpec('nope:80')).toThrow(/host port/);
    expect(() => parsePortSpec('1.2.3:80:80')).toThrow(/host address/);
    expect(() => parsePortSpec('90-80')).toThrow(/end before start/);
  });
});

describe('portFree', () => {
  it('sees a port bound by someone else as taken', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    try {
      expect(await portFree('127.0.0.1', port, 'tcp')).toBe(false);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    expect(await portFree('127.0.0.1', port, 'tcp')).toBe(true);
  });
});
