import { describe, expect, it } from 'vitest';
import { basicHeader, decodeRegistryAuth, encodeRegistryAuth, parseChallenges } from './auth.js';
import { isLoopbackHost, registryErrorText } from './registry-client.js';

describe('registry auth helpers', () => {
  it('parses Bearer and Basic challenges, quoted commas included', () => {
    expect(parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } },
    ]);
    expect(parseChallenges('Basic realm="wharf"')).toEqual([{ scheme: 'basic', params: { realm: 'wharf' } }]);
    expect(parseChallenges(['Basic realm="x"', 'Bearer realm="http://h/token"']).map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(parseChallenges('Negotiate abc')).toEqual([]);
    expect(parseChallenges(undefined)).toEqual([]);
  });

  it('decodes X-Registry-Auth as the docker CLI sends it (base64url JSON; e30= is anonymous)', () => {
    expect(decodeRegistryAuth('e30=')).toEqual({});
    expect(decodeRegistryAuth(undefined)).toEqual({});
    const enc = encodeRegistryAuth({ username: 'alice', password: 'p>?w', serveraddress: '127.0.0.1:5000' });
    expect(decodeRegistryAuth(enc)).toEqual({ username: 'alice', password: 'p>?w', serveraddress: '127.0.0.1:5000' });
    expect(decodeRegistryAuth(Buffer.from('{"username":"u","password":"p>?"}').toString('base64'))).toEqual({ username: 'u', password: 'p>?' });
    expect(() => decodeRegistryAuth('bm90IGpzb24')).toThrow(/X-Registry-Auth/);
    expect(basicHeader({ username: 'a', password: 'b' })).toBe(`Basic ${Buffer.from('a:b').toString('base64')}`);
    expect(basicHeader({})).toBeUndefined();
  });

  it('treats 127.0.0.0/8, localhost and ::1 as loopback (plain HTTP allowed), nothing else', () => {
    for (const h of ['127.0.0.1:5000', '127.8.9.10', 'localhost:5000', '[::1]:5000', 'localhost']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.1:5000', 'registry.example', 'localhost.example:5000', '128.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('turns the registry error body into Docker-like text', () => {
    expect(registryErrorText(Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'))).toBe('manifest unknown: manifest unknown');
    expect(registryErrorText(Buffer.alloc(0))).toBeUndefined();
  });
});
