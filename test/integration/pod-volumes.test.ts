import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { isWharfError } from '../../src/core/errors.js';
import { LOCAL_PATH_ANNOTATION, MountFailure, PodVolumes, mountsUnder, type VolumeObjectReader } from '../../src/cluster/agent/volumes/pod-volumes.js';

// The agent's pod volumes on the real kernel: tmpfs for secrets and memory emptyDirs, files and
// modes, the ..data swap on update, hostPath type checks, PVC directories, cleanup leaving nothing.

type Obj = Record<string, any>;
let root = '';
const objects = new Map<string, Obj>();
const reader: VolumeObjectReader = {
  get: async (kind: string, ns: string | undefined, name: string) => objects.get(`${kind}/${ns ?? ''}/${name}`),
};
const put = (kind: string, ns: string | undefined, name: string, o: Obj) => objects.set(`${kind}/${ns ?? ''}/${name}`, o);
let vols: PodVolumes;

const b64 = (s: string) => Buffer.from(s).toString('base64');
const mode = (p: string) => statSync(p).mode & 0o777;
function fsTypeOf(dir: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
}

beforeAll(() => {
  root = mkdtempSync('/var/tmp/wharf-test-podvol-');
  vols = new PodVolumes({ dataRoot: join(root, 'agent'), nodeName: 'node-a', reader, run, clock: systemClock, log: silentLogger(), allocatable: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' } });
});

afterAll(async () => {
  for (const mp of await mountsUnder(root)) await run(['umount', '-l', mp], { allowFailure: true });
  rmSync(root, { recursive: true, force: true });
});

const pod = (uid: string, volumes: Obj[]): Obj => ({
  metadata: { name: 'web', namespace: 'ns1', uid, labels: { app: 'web', tier: 'front' }, annotations: { note: 'a "quoted" value' } },
  spec: { containers: [{ name: 'c', image: 'busybox', resources: { limits: { memory: '64Mi' } } }], volumes },
});

describe('pod volumes on the real kernel', () => {
  it('sets up emptyDir, tmpfs, configMap, secret, downwardAPI and projected files with their modes, and cleans up everything', async () => {
    put('ConfigMap', 'ns1', 'cfg', { data: { 'app.conf': 'port=80\n', other: 'x' } });
    put('Secret', 'ns1', 'creds', { data: { password: b64('s3cret') } });
    const p = pod('11111111-aaaa', [
      { name: 'scratch', emptyDir: {} },
      { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
      { name: 'cfg', configMap: { name: 'cfg', defaultMode: 0o644, items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
      { name: 'creds', secret: { secretName: 'creds', defaultMode: 0o400 } },
      { name: 'info', downwardAPI: { defaultMode: 0o644, items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }, { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }, { path: 'mem', resourceFieldRef: { containerName: 'c', resource: 'limits.memory', divisor: '1Mi' } }, { path: 'cpu', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu' } }] } },
      { name: 'all', projected: { defaultMode: 0o640, sources: [{ configMap: { name: 'cfg', items: [{ key: 'other', path: 'other' }] } }, { secret: { name: 'creds' } }, { downwardAPI: { items: [{ path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } }] } }] } },
    ]);
    const m = await vols.prepare(p);
    const at = (n: string) => m.get(n)!.hostPath;
    expect(fsTypeOf(at('scratch'))).not.toBe('tmpfs');
    expect(mode(at('scratch'))).toBe(0o777);
    expect(fsTypeOf(at('mem'))).toBe('tmpfs');
    expect(execFileSync('df', ['-B1', '--output=size', at('mem')], { encoding: 'utf8' })).toContain(String(8 * 1024 * 1024));
    expect(readFileSync(join(at('cfg'), 'conf/app.conf'), 'utf8')).toBe('port=80\n');
    expect(mode(join(at('cfg'), 'conf/app.conf'))).toBe(0o600);
    expect(existsSync(join(at('cfg'), 'other'))).toBe(false); // items select keys
    expect(m.get('cfg')!.readOnly).toBe(true);
    expect(fsTypeOf(at('creds'))).toBe('tmpfs');
    expect(readFileSync(join(at('creds'), 'password'), 'utf8')).toBe('s3cret');
    expect(mode(join(at('creds'), 'password'))).toBe(0o400);
    expect(lstatSync(join(at('creds'), 'password')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(at('creds'), 'password'))).toBe('..data/password');
    expect(readFileSync(join(at('info'), 'name'), 'utf8')).toBe('web');
    expect(readFileSync(join(at('info'), 'labels'), 'utf8')).toBe('app="web"\ntier="front"');
    expect(readFileSync(join(at('info'), 'annotations'), 'utf8')).toBe('note="a \\"quoted\\" value"');
    expect(readFileSync(join(at('info'), 'mem'), 'utf8')).toBe('64');
    expect(readFileSync(join(at('info'), 'cpu'), 'utf8')).toBe('2'); // no limit: the node's allocatable
    expect(fsTypeOf(at('all'))).toBe('tmpfs');
    expect(readFileSync(join(at('all'), 'other'), 'utf8')).toBe('x');
    expect(readFileSync(join(at('all'), 'password'), 'utf8')).toBe('s3cret');
    expect(readFileSync(join(at('all'), 'uid'), 'utf8')).toBe('11111111-aaaa');
    expect(mode(join(at('all'), 'uid'))).toBe(0o640);

    // An update swaps ..data: new content, the old hidden directory gone.
    const before = readlinkSync(join(at('cfg'), '..data'));
    put('ConfigMap', 'ns1', 'cfg', { data: { 'app.conf': 'port=8080\n', other: 'x' } });
    expect(await vols.refresh(p)).toEqual(['cfg']); // 'all' projects only the unchanged key
    expect(readFileSync(join(at('cfg'), 'conf/app.conf'), 'utf8')).toBe('port=8080\n');
    expect(readlinkSync(join(at('cfg'), '..data'))).not.toBe(before);
    expect(existsSync(join(at('cfg'), before))).toBe(false);
    expect(await vols.refresh(p)).toEqual([]); // unchanged: nothing rewritten

    const podDir = vols.podDir('11111111-aaaa');
    expect((await mountsUnder(podDir)).length).toBe(3);
    await vols.cleanup('11111111-aaaa');
    expect(await mountsUnder(podDir)).toEqual([]);
    expect(existsSync(podDir)).toBe(false);
  });

  it('fails a missing configMap or secret with a clear message and succeeds once it appears; optional ones are empty', async () => {
    const p = pod('22222222-bbbb', [{ name: 'c', configMap: { name: 'late', defaultMode: 0o644 } }, { name: 'o', secret: { secretName: 'nope', optional: true } }]);
    const err = await vols.prepare(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MountFailure);
    expect((err as Error).message).toBe('MountVolume.SetUp failed for volume "c" : configmap "late" not found');
    expect(isWharfError(err, 'NotFound')).toBe(true);
    put('ConfigMap', 'ns1', 'late', { data: { k: 'v' } });
    const m = await vols.prepare(p);
    expect(readFileSync(join(m.get('c')!.hostPath, 'k'), 'utf8')).toBe('v');
    await vols.cleanup('22222222-bbbb');
    expect(existsSync(vols.podDir('22222222-bbbb'))).toBe(false);
    expect(await mountsUnder(join(root, 'agent'))).toEqual([]);
  });

  it('checks hostPath types', async () => {
    const d = join(root, 'host');
    mkdirSync(d);
    writeFileSync(join(d, 'file'), 'f');
    const prep = (hostPath: Obj) => vols.prepare(pod('33333333-cccc', [{ name: 'h', hostPath }]));
    await expect(prep({ path: join(d, 'missing'), type: 'Directory' })).rejects.toThrow(`hostPath type check failed: ${join(d, 'missing')} does not exist`);
    await expect(prep({ path: join(d, 'file'), type: 'Directory' })).rejects.toThrow('is not a directory');
    await expect(prep({ path: d, type: 'File' })).rejects.toThrow('is not a file');
    await expect(prep({ path: '/dev/null', type: 'BlockDevice' })).rejects.toThrow('is not a block device');
    await expect(prep({ path: d, type: 'Socket' })).rejects.toThrow('is not a socket file');
    expect((await prep({ path: '/dev/null', type: 'CharDevice' })).get('h')!.hostPath).toBe('/dev/null');
    await prep({ path: join(d, 'made'), type: 'DirectoryOrCreate' });
    expect(statSync(join(d, 'made')).isDirectory()).toBe(true);
    await prep({ path: join(d, 'made.txt'), type: 'FileOrCreate' });
    expect(statSync(join(d, 'made.txt')).isFile()).toBe(true);
    await vols.cleanup('33333333-cccc');
    expect(existsSync(join(d, 'made'))).toBe(true); // the host's own files stay
  });

  it('mounts a bound claim: the provisioned directory is made on its node; refused on another node or unbound', async () => {
    const dir = join(root, 'storage', 'pvc-1');
    put('PersistentVolumeClaim', 'ns1', 'data', { metadata: { name: 'data' }, spec: { volumeName: 'pvc-1' }, status: { phase: 'Bound' } });
    put('PersistentVolume', undefined, 'pvc-1', { metadata: { name: 'pvc-1', annotations: { [LOCAL_PATH_ANNOTATION]: 'yes' } }, spec: { local: { path: dir }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } } } });
    const m = await vols.prepare(pod('44444444-dddd', [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }]));
    expect(m.get('d')).toEqual({ hostPath: dir, readOnly: false });
    expect(mode(dir)).toBe(0o777);
    put('PersistentVolume', undefined, 'pvc-1', { metadata: { name: 'pvc-1' }, spec: { local: { path: dir }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-b'] }] }] } } } });
    await expect(vols.prepare(pod('44444444-dddd', [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }]))).rejects.toThrow('persistentvolume "pvc-1" is on node(s) node-b, not on node-a');
    put('PersistentVolumeClaim', 'ns1', 'pending', { metadata: { name: 'pending' }, spec: {}, status: { phase: 'Pending' } });
    await expect(vols.prepare(pod('44444444-dddd', [{ name: 'd', persistentVolumeClaim: { claimName: 'pending' } }]))).rejects.toThrow('persistentvolumeclaim "pending" is not bound yet');
    await vols.cleanup('44444444-dddd');
    expect(existsSync(dir)).toBe(true); // the claim's data outlives the pod
  });

  it('recover removes the volumes of pods that are gone and keeps live ones', async () => {
    put('Secret', 'ns1', 'creds', { data: { password: b64('s3cret') } });
    await vols.prepare(pod('55555555-eeee', [{ name: 's', secret: { secretName: 'creds' } }]));
    await vols.prepare(pod('66666666-ffff', [{ name: 's', secret: { secretName: 'creds' } }]));
    expect(await vols.recover(['66666666-ffff'])).toEqual(['55555555-eeee']);
    expect(existsSync(vols.podDir('55555555-eeee'))).toBe(false);
    expect((await mountsUnder(vols.podDir('66666666-ffff'))).length).toBe(1);
    await vols.cleanup('66666666-ffff');
    expect(await mountsUnder(join(root, 'agent'))).toEqual([]);
  });
});
