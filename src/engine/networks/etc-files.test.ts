import { describe, expect, it } from 'vitest';
import { parseAddHost, renderHosts, renderResolvConf } from './etc-files.js';

describe('/etc/hosts', () => {
  it('has localhost lines, extra hosts and the container line', () => {
    const text = renderHosts({ hostname: 'web1', ip: '10.210.0.2', selfNames: ['web'], extraHosts: [parseAddHost('db:10.0.0.9')] });
    expect(text.split('\n')).toEqual([
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'ff00::0\tip6-mcastprefix',
      'ff02::1\tip6-allnodes',
      'ff02::2\tip6-allrouters',
      '10.0.0.9\tdb',
      '10.210.0.2\tweb1 web',
      '',
    ]);
  });
  it('parses --add-host forms and host-gateway', () => {
    expect(parseAddHost('gw:host-gateway', '10.209.0.1')).toEqual({ name: 'gw', ip: '10.209.0.1' });
    expect(parseAddHost('v6=[::1]')).toEqual({ name: 'v6', ip: '::1' });
    expect(() => parseAddHost('nocolon')).toThrow(/expected name:ip/);
    expect(() => parseAddHost('x:999.1.1.1')).toThrow(/invalid IP/);
    expect(() => parseAddHost('gw:host-gateway')).toThrow(/host gateway/);
  });
});

describe('/etc/resolv.conf', () => {
  const host = 'search corp.example\nnameserver 127.0.0.53\nnameserver 10.255.255.53\noptions edns0\n';
  it('uses the embedded DNS when there is one, keeping search and options', () => {
    expect(renderResolvConf({ host, embeddedDns: '10.210.0.1' })).toBe('search corp.example\nnameserver 10.210.0.1\noptions edns0\n');
  });
  it('drops loopback resolvers when copying the host file', () => {
    expect(renderResolvConf({ host })).toBe('search corp.example\nnameserver 10.255.255.53\noptions edns0\n');
  });
  it('--dns, --dns-search, --dns-option override', () => {
    expect(renderResolvConf({ host, embeddedDns: '10.210.0.1', dns: ['1.1.1.1'], dnsSearch: ['a.example'], dnsOptions: ['ndots:2'] })).toBe(
      'search a.example\nnameserver 1.1.1.1\noptions ndots:2\n',
    );
    expect(() => renderResolvConf({ host, dns: ['bogus'] })).toThrow(/invalid --dns/);
  });
});
