import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectKind } from './testsuite.js';
import { openStore, parseDatastoreUrl } from './open-store.js';

describe('parseDatastoreUrl', () => {
  it('parses sqlite and etcd URLs', () => {
    expect(parseDatastoreUrl('sqlite:///var/lib/wharf/cluster.db')).toEqual({ kind: 'sqlite', path: '/var/lib/wharf/cluster.db' });
    expect(parseDatastoreUrl('etcd://127.0.0.1:2379,h2:2380')).toEqual({
      kind: 'etcd',
      endpoints: ['http://127.0.0.1:2379', 'http://h2:2380'],
      prefix: undefined,
    });
    expect(parseDatastoreUrl('etcd://[::1]:2379/wharf-a')).toMatchObject({ endpoints: ['http://[::1]:2379'], prefix: '/wharf-a' });
  });

  it('rejects malformed URLs with a clear error', () => {
    for (const bad of ['sqlite://relative.db', 'etcd://', 'etcd://host', 'etcd://h:99999', 'etcd://h:1/p/', 'mysql://x', '']) {
      expect(() => parseDatastoreUrl(bad), bad).toThrow(/datastore/);
    }
  });
});

describe('openStore', () => {
  it('opens a working SQLite store from a URL', async () => {
    const dir = mkdtempSync('/var/tmp/wharf-test-open-');
    try {
      const s = await openStore(`sqlite://${join(dir, 'sub', 'c.db')}`);
      await s.create('/a', '1');
      expect((await s.get('/a'))?.value).toBe('1');
      await s.close();
      await expectKind(openStore('sqlite://relative'), 'InvalidArgument');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
