import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { run } from '../../src/core/exec/run.js';
import { isWharfError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { LOCAL_PATH_ROOT_ANNOTATION } from '../../src/cluster/apis/storage-v1.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { startControllerManager, type RunningControllerManager } from '../../src/cluster/controllers/manager.js';
import type { Obj } from '../../src/cluster/controllers/objects.js';
import { LocalPathReaper } from '../../src/cluster/agent/volumes/local-path-reaper.js';
import { PodVolumes, mountsUnder, type VolumeObjectReader } from '../../src/cluster/agent/volumes/pod-volumes.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';

// The local provisioner on a real API server (in process, SQLite): the default StorageClass
// local-path, WaitForFirstConsumer, a PV made on the consumer's node and bound both ways, the
// agent's volume module making the directory on the real filesystem, data kept across pods,
// reclaimPolicy Delete removing the directory through the node's reaper; and static PVs.

const log = silentLogger();
const sfx = Math.random().toString(36).slice(2, 7);
const node = `pv-node-${sfx}`;
let srv: TestApiServer;
let cluster: ClusterClient;
let cm: RunningControllerManager;
let tmp = '';
type Any = Record<string, any>;

async function until<T>(what: string, f: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const api = (av: string, kind: string) => cluster.resource<Obj & Any>(av, kind);
const reader: VolumeObjectReader = {
  get: async (kind: string, ns: string | undefined, name: string) => {
    try {
      return await api(kind === 'StorageClass' ? 'storage.k8s.io/v1' : 'v1', kind).get(ns, name);
    } catch (err) {
      if (isWharfError(err, 'NotFound')) return undefined;
      throw err;
    }
  },
};
const claim = (name: string, extra: Any = {}) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra } });
const pod = (name: string, claimName: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox:1.36' }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }] } });

beforeAll(async () => {
  tmp = mkdtempSync('/var/tmp/wharf-test-lpp-');
  srv = await startTestApiServer();
  cluster = new ClusterClient({ server: srv.url, token: srv.adminToken, caPem: srv.caPem });
  cm = startControllerManager(cluster, { clock: systemClock, log, leaderElection: false, controllers: ['persistentvolume-binder'] });
  await api('v1', 'Node').create({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'kubernetes.io/hostname': node }, annotations: { [LOCAL_PATH_ROOT_ANNOTATION]: join(tmp, 'storage') } } });
});

afterAll(async () => {
  await cm?.stop();
  await cluster?.close();
  await srv?.stop();
  for (const mp of await mountsUnder(tmp)) await run(['umount', '-l', mp], { allowFailure: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('local provisioner', () => {
  it('provisions on the first consumer\'s node, keeps data across pods, and Delete removes the directory', async () => {
    const sc = await until('default StorageClass', () => api('storage.k8s.io/v1', 'StorageClass').get(undefined, 'local-path'));
    expect(sc).toMatchObject({ provisioner: 'wharf.dev/local-path', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Delete' });
    await api('v1', 'PersistentVolumeClaim').create(claim(`data-${sfx}`));
    // No consumer yet: the default class is assigned, the claim waits.
    const waiting = await until('default class assigned', async () => {
      const c = await api('v1', 'PersistentVolumeClaim').get('default', `data-${sfx}`);
      return c.spec.storageClassName === 'local-path' && c.status?.phase === 'Pending' && c;
    });
    expect(waiting.spec.volumeName).toBeUndefined();
    const evs = await until('WaitForFirstConsumer event', async () => {
      const l = await api('v1', 'Event').list({ namespace: 'default' });
      return l.items.find((e) => e.reason === 'WaitForFirstConsumer' && e.involvedObject?.name === `data-${sfx}`);
    });
    expect(evs.message).toBe('waiting for first consumer to be created before binding');

    const p1 = await api('v1', 'Pod').create(pod(`user1-${sfx}`, `data-${sfx}`));
    const bound = await until('claim bound', async () => {
      const c = await api('v1', 'PersistentVolumeClaim').get('default', `data-${sfx}`);
      return c.status?.phase === 'Bound' && c;
    });
    expect(bound.status.capacity).toEqual({ storage: '1Gi' });
    const pv = await api('v1', 'PersistentVolume').get(undefined, bound.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0]).toEqual({ key: 'kubernetes.io/hostname', operator: 'In', values: [node] });
    expect(pv.spec.claimRef).toMatchObject({ name: `data-${sfx}`, uid: bound.metadata.uid });
    expect(pv.spec.persistentVolumeReclaimPolicy).toBe('Delete');
    expect(pv.spec.local.path.startsWith(join(tmp, 'storage'))).toBe(true);
    await until('PV Bound', async () => (await api('v1', 'PersistentVolume').get(undefined, String(pv.metadata.name))).status?.phase === 'Bound');

    // The node's volume module makes the directory; data outlives the pod.
    const vols = new PodVolumes({ dataRoot: join(tmp, 'agent'), nodeName: node, reader, run, clock: systemClock, log, allocatable: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '1Gi' } });
    const m1 = await vols.prepare(p1);
    writeFileSync(join(m1.get('data')!.hostPath, 'kept.txt'), 'hello');
    await vols.cleanup(String(p1.metadata.uid));
    await api('v1', 'Pod').delete('default', `user1-${sfx}`, { gracePeriodSeconds: 0 });
    const p2 = await api('v1', 'Pod').create(pod(`user2-${sfx}`, `data-${sfx}`));
    const m2 = await vols.prepare(p2);
    expect(readFileSync(join(m2.get('data')!.hostPath, 'kept.txt'), 'utf8')).toBe('hello');
    await vols.cleanup(String(p2.metadata.uid));
    await api('v1', 'Pod').delete('default', `user2-${sfx}`, { gracePeriodSeconds: 0 });

    // Delete: the controller deletes the PV, the node's reaper removes the directory and the finalizer.
    await api('v1', 'PersistentVolumeClaim').delete('default', `data-${sfx}`);
    await until('PV deleting', async () => !!(await api('v1', 'PersistentVolume').get(undefined, String(pv.metadata.name))).metadata.deletionTimestamp);
    expect(existsSync(pv.spec.local.path)).toBe(true);
    const reaper = new LocalPathReaper(api('v1', 'PersistentVolume') as never, node, log);
    const other = new LocalPathReaper(api('v1', 'PersistentVolume') as never, 'some-other-node', log);
    expect(await other.reapOnce()).toEqual([]); // only the node that holds it
    expect(await reaper.reapOnce()).toEqual([pv.metadata.name]);
    expect(existsSync(pv.spec.local.path)).toBe(false);
    await until('PV gone', async () => (await reader.get('PersistentVolume', undefined, String(pv.metadata.name))) === undefined);
  });

  it('binds a claim to a matching static PV; Retain leaves it Released', async () => {
    const path = join(tmp, 'static');
    await api('v1', 'PersistentVolume').create({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `static-${sfx}` }, spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'manual', hostPath: { path, type: 'DirectoryOrCreate' } } });
    await api('v1', 'PersistentVolumeClaim').create(claim(`small-${sfx}`, { storageClassName: 'manual', resources: { requests: { storage: '10Gi' } } }));
    await api('v1', 'PersistentVolumeClaim').create(claim(`fits-${sfx}`, { storageClassName: 'manual' }));
    const c = await until('static bind', async () => {
      const x = await api('v1', 'PersistentVolumeClaim').get('default', `fits-${sfx}`);
      return x.status?.phase === 'Bound' && x;
    });
    expect(c.spec.volumeName).toBe(`static-${sfx}`);
    expect((await api('v1', 'PersistentVolumeClaim').get('default', `small-${sfx}`)).status?.phase).toBe('Pending'); // 10Gi does not fit 5Gi
    await api('v1', 'PersistentVolumeClaim').delete('default', `fits-${sfx}`);
    const pv = await until('Released', async () => {
      const v = await api('v1', 'PersistentVolume').get(undefined, `static-${sfx}`);
      return v.status?.phase === 'Released' && v;
    });
    expect(pv.status.message).toContain('reclaimPolicy Retain');
  });
});
