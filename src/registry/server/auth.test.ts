import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allowedActions, hashPassword, parseRule, parseUsersFile, TokenIssuer, verifyPassword } from './auth.js';

const dir = mkdtempSync('/var/tmp/wharf-test-regauth-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('registry auth', () => {
  it('verifies scrypt hashes and rejects other passwords', () => {
    const h = hashPassword('s3cret');
    expect(verifyPassword('s3cret', h)).toBe(true);
    expect(verifyPassword('s3cret!', h)).toBe(false);
    expect(verifyPassword('s3cret', 'plain')).toBe(false);
  });

  it('grants by glob, push implies pull, delete implies both', () => {
    const rules = ['team/*: push', 'team/secret: delete', 'other: pull'].map(parseRule);
    expect([...allowedActions(rules, 'team/a/b')].sort()).toEqual(['pull', 'push']);
    expect([...allowedActions(rules, 'team/secret')].sort()).toEqual(['delete', 'pull', 'push']);
    expect([...allowedActions(rules, 'other')]).toEqual(['pull']);
    expect([...allowedActions(rules, 'others')]).toEqual([]);
    expect(() => parseRule('x: fly')).toThrow(/unknown action/);
    expect(() => parseUsersFile('users: [{name: a, password: plain}]')).toThrow(/scrypt/);
  });

  it('refuses tampered, expired and other-service tokens', () => {
    const t = new TokenIssuer(join(dir, 'key'), 'svc', 60);
    const { token } = t.issue('alice', [{ type: 'repository', name: 'a', actions: ['pull'] }], 1_000_000);
    expect(t.verify(token, 1_000_000)?.sub).toBe('alice');
    expect(t.verify(token, 1_000_000 + 61_000)).toBeUndefined();
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = Buffer.from(Buffer.from(p, 'base64url').toString().replace('"pull"', '"push"')).toString('base64url');
    expect(t.verify(`${h}.${forged}.${s}`, 1_000_000)).toBeUndefined();
    expect(new TokenIssuer(join(dir, 'key'), 'other').verify(token, 1_000_000)).toBeUndefined();
  });
});
