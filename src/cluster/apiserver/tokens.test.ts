import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenFileStore, authorize } from './tokens.js';
import type { Clock } from '../../core/clock.js';

const dir = mkdtempSync('/var/tmp/wharf-test-tokens-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('token file', () => {
  it('creates, authenticates, revokes; stores only hashes, mode 0600', () => {
    let now = 1_000_000;
    const clock: Clock = { now: () => now, sleep: async () => undefined };
    const f = new TokenFileStore(join(dir, 'tokens.json'), clock);
    const { token } = f.create('ops', 'admin');
    expect(f.authenticate(token)).toMatchObject({ name: 'ops', role: 'admin' });
    expect(f.authenticate(`${token}x`)).toBeUndefined();
    expect(readFileSync(join(dir, 'tokens.json'), 'utf8')).not.toContain(token.split('.')[1]);
    expect(statSync(join(dir, 'tokens.json')).mode & 0o777).toBe(0o600);
    expect(() => f.create('ops', 'admin')).toThrow(/already exists/);
    expect(() => f.create('x', 'root' as never)).toThrow(/unknown role/);
    // Another process (the CLI) revokes it: the server's instance notices after its check interval.
    new TokenFileStore(join(dir, 'tokens.json'), clock).revoke('ops');
    now += 600;
    expect(f.authenticate(token)).toBeUndefined();
  });
});

describe('authorize', () => {
  const node = { id: '1', name: 'join', role: 'node' as const };
  it('lets admins do anything and nodes only their part', () => {
    expect(authorize({ ...node, role: 'admin' }, { verb: 'delete', group: 'apps', resource: 'deployments', namespace: 'x' })).toBeUndefined();
    expect(authorize(node, { verb: 'create', group: '', resource: 'nodes' })).toBeUndefined();
    expect(authorize(node, { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' })).toBeUndefined();
    expect(authorize(node, { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default' })).toMatch(/cannot update/);
    expect(authorize(node, { verb: 'watch', group: '', resource: 'pods', fieldSelector: 'spec.nodeName=n1' })).toBeUndefined();
    expect(authorize(node, { verb: 'list', group: '', resource: 'pods' })).toMatch(/cannot list resource "pods"/);
    expect(authorize(node, { verb: 'patch', group: '', resource: 'pods', subresource: 'status', namespace: 'a' })).toBeUndefined();
    expect(authorize(node, { verb: 'create', group: '', resource: 'pods', subresource: 'binding', namespace: 'a' })).toMatch(/pods\/binding/);
    expect(authorize(node, { verb: 'list', group: '', resource: 'secrets', namespace: 'a' })).toMatch(/cannot list/);
  });
});
