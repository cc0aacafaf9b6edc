import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { loadClientConfig } from '../../src/cluster/client/config.js';
import { isWharfError } from '../../src/core/errors.js';
import type { KubeObject } from '../../src/cluster/apis/meta.js';

// Two API servers on one real etcd serve the same state: a write on one is seen by a watch on the other.

let etcd: EtcdCluster;
let a: TestApiServer;
let b: TestApiServer;
let ca: ClusterClient;
let cb: ClusterClient;

beforeAll(async () => {
  etcd = await startEtcdCluster({ members: 1 });
  a = await startTestApiServer({ datastore: etcd.datastoreUrl });
  b = await startTestApiServer({ datastore: etcd.datastoreUrl });
  ca = new ClusterClient(loadClientConfig({ config: a.configPath }));
  cb = new ClusterClient(loadClientConfig({ config: b.configPath }));
});

afterAll(async () => {
  await ca?.close();
  await cb?.close();
  await a?.stop();
  await b?.stop();
  await etcd?.stop();
});

describe('two wharf servers on one etcd', () => {
  it('a write on one server is seen by a watch on the other; CAS holds across servers', async () => {
    const onA = ca.resource('v1', 'ConfigMap');
    const onB = cb.resource('v1', 'ConfigMap');
    const start = await onB.list({ namespace: 'default' });
    const ac = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of onB.watch({ namespace: 'default', resourceVersion: start.resourceVersion, signal: ac.signal, timeoutSeconds: 20 })) {
        seen.push(`${ev.type} ${ev.object.metadata.name}`);
        if (seen.length === 2) ac.abort();
      }
    })();
    const created = await onA.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', namespace: 'default' }, data: { v: '1' } } as KubeObject);
    await onA.patch('default', 'shared', { data: { v: '2' } });
    await watching;
    expect(seen).toEqual(['ADDED shared', 'MODIFIED shared']);
    // B reads what A wrote, and rejects a stale update A's first version would make.
    expect((await onB.get('default', 'shared') as any).data.v).toBe('2');
    let conflict = false;
    try {
      await onB.update({ ...created, data: { v: 'stale' } } as KubeObject);
    } catch (e) {
      conflict = isWharfError(e, 'Conflict');
    }
    expect(conflict).toBe(true);
    // Both servers created the built-in namespaces without fighting.
    expect((await cb.resource('v1', 'Namespace').list()).items.map((n) => n.metadata.name)).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-node-lease']));
  });
});
