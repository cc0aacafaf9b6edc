import { describe, it, expect } from 'vitest';
import { decodeObject, validateObject, validateUpdate } from './validate.js';
import { resourceByAlias, resourceByKind } from './registry.js';
import { isWharfError } from '../../core/errors.js';
import type { KubeObject } from './meta.js';

const info = (av: string, kind: string) => resourceByKind(av, kind)!;
const full = (av: string, kind: string, o: Record<string, unknown>): any => {
  const i = info(av, kind);
  const obj = decodeObject(i, o);
  validateObject(i, obj);
  return obj;
};
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!isWharfError(e, 'InvalidArgument')) throw e;
    return e.message;
  }
  throw new Error('expected an error');
}
const pod = (volumes: unknown[], mounts: unknown[] = []) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p' },
  spec: { volumes, containers: [{ name: 'c', image: 'busybox:1.36', volumeMounts: mounts }] },
});
const claim = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: 'data', namespace: 'default' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...extra },
});

describe('pod volumes', () => {
  it('accepts every supported source and defaults modes and hostPath type', () => {
    const p = full('v1', 'Pod', pod([
      { name: 'a', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
      { name: 'b', hostPath: { path: '/srv/x' } },
      { name: 'c', configMap: { name: 'cm', items: [{ key: 'k', path: 'sub/k', mode: 0o600 }] } },
      { name: 'd', secret: { secretName: 's' } },
      { name: 'e', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'mem', resourceFieldRef: { containerName: 'c', resource: 'limits.memory' } }] } },
      { name: 'f', projected: { sources: [{ configMap: { name: 'cm' } }, { secret: { name: 's' } }, { downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: "metadata.annotations['x']" } }] } }] } },
      { name: 'g', persistentVolumeClaim: { claimName: 'data' } },
      { name: 'h' },
    ], [{ name: 'a', mountPath: '/a' }, { name: 'g', mountPath: '/g', subPath: 'inner' }]));
    expect(p.spec.volumes[1].hostPath.type).toBe('');
    expect(p.spec.volumes[3].secret.defaultMode).toBe(0o644);
    expect(p.spec.volumes[5].projected.defaultMode).toBe(0o644);
    expect(p.spec.volumes[7].emptyDir).toEqual({});
  });

  it('refuses a hostPath type Kubernetes does not know', () => {
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'b', hostPath: { path: '/x', type: 'Dir' } }])))).toContain('spec.volumes[0].hostPath.type: Unsupported value');
  });

  it('refuses escaping paths, bad modes and two sources', () => {
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'c', configMap: { name: 'cm', items: [{ key: 'k', path: '../etc/passwd' }] } }])))).toContain("spec.volumes[0].configMap.items[0].path: Invalid value: \"../etc/passwd\": must not contain '..'");
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'c', secret: { secretName: 's', defaultMode: 0o1777 } }])))).toContain('spec.volumes[0].secret.defaultMode');
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'c', emptyDir: {}, hostPath: { path: '/x' } }])))).toContain('may not specify more than 1 volume type');
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'b', hostPath: { path: 'rel' } }])))).toContain('must be an absolute path');
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'a', emptyDir: {} }], [{ name: 'a', mountPath: '/a', subPath: '/abs' }])))).toContain('subPath');
  });

  it('refuses downwardAPI fields it cannot fill and a projected service account token, naming them', () => {
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'e', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } }])))).toContain('spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "status.podIP"');
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'f', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }])))).toContain('projected serviceAccountToken is not supported');
    expect(messageOf(() => full('v1', 'Pod', pod([{ name: 'a', emptyDir: {} }], [{ name: 'a', mountPath: '/a', mountPropagation: 'Bidirectional' }])))).toContain('mountPropagation');
  });
});

describe('storage kinds', () => {
  it('serves PV, PVC, StorageClass, StatefulSet under their kubectl names', () => {
    expect(resourceByAlias('pvc')?.kind).toBe('PersistentVolumeClaim');
    expect(resourceByAlias('pv')?.namespaced).toBe(false);
    expect(resourceByAlias('sc')?.group).toBe('storage.k8s.io');
    expect(resourceByAlias('sts')?.subresources).toContain('scale');
  });

  it('validates a PersistentVolumeClaim and keeps its spec immutable', () => {
    const c = full('v1', 'PersistentVolumeClaim', claim());
    expect(c.spec.volumeMode).toBe('Filesystem');
    expect(messageOf(() => full('v1', 'PersistentVolumeClaim', claim({ accessModes: [] })))).toContain('spec.accessModes: Required value');
    expect(messageOf(() => full('v1', 'PersistentVolumeClaim', claim({ resources: {} })))).toContain('spec.resources.requests[storage]: Required value');
    const i = info('v1', 'PersistentVolumeClaim');
    // Binding and the default class may be set once; the access modes never change.
    validateUpdate(i, { ...c, spec: { ...c.spec, volumeName: 'pv-1', storageClassName: 'local-path' } } as KubeObject, c as KubeObject);
    expect(messageOf(() => validateUpdate(i, { ...c, spec: { ...c.spec, accessModes: ['ReadOnlyMany'] } } as KubeObject, c as KubeObject))).toContain('spec: Forbidden');
  });

  it('requires node affinity on a local PersistentVolume', () => {
    const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv1' }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], local: { path: '/data' } } };
    expect(messageOf(() => full('v1', 'PersistentVolume', pv))).toContain('Local volume requires node affinity');
    const ok = full('v1', 'PersistentVolume', { ...pv, spec: { ...pv.spec, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } } } });
    expect(ok.spec.persistentVolumeReclaimPolicy).toBe('Retain');
  });

  it('defaults a StorageClass and refuses changing its provisioner', () => {
    const sc = full('storage.k8s.io/v1', 'StorageClass', { metadata: { name: 'fast' }, provisioner: 'wharf.dev/local-path' });
    expect(sc.reclaimPolicy).toBe('Delete');
    expect(sc.volumeBindingMode).toBe('Immediate');
    expect(messageOf(() => validateUpdate(info('storage.k8s.io/v1', 'StorageClass'), { ...sc, provisioner: 'x.io/y' }, sc))).toContain('provisioner: Forbidden');
  });

  it('validates a StatefulSet: claim templates are mountable by name, defaults as Kubernetes', () => {
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'default' },
      spec: {
        selector: { matchLabels: { app: 'db' } },
        serviceName: 'db',
        template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
      },
    };
    const s = full('apps/v1', 'StatefulSet', sts);
    expect(s.spec.podManagementPolicy).toBe('OrderedReady');
    expect(s.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    expect(s.spec.replicas).toBe(1);
    const noClaim = structuredClone(sts);
    noClaim.spec.volumeClaimTemplates = [];
    expect(messageOf(() => full('apps/v1', 'StatefulSet', noClaim))).toContain('volumeMounts[0].name: Not found: "data"');
    expect(messageOf(() => validateUpdate(info('apps/v1', 'StatefulSet'), { ...s, spec: { ...s.spec, podManagementPolicy: 'Parallel' } }, s))).toContain("updates to statefulset spec for fields other than 'replicas'");
    validateUpdate(info('apps/v1', 'StatefulSet'), { ...s, spec: { ...s.spec, replicas: 3 } }, s);
  });
});
