import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../../core/errors.js';
import { fieldValue, keyFiles, resourceValue } from './projections.js';

const node = { cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi' };
const pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { b: '2', a: '1' } },
  spec: { containers: [{ name: 'c', resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '250m' } } }] },
};

describe('volume projections', () => {
  it('writes every key sorted, or only the items, with per-item modes', () => {
    const cm = { data: { z: 'last', a: 'first' }, binaryData: { bin: Buffer.from([0, 1]).toString('base64') } };
    expect(keyFiles('ConfigMap', 'cm', cm, undefined, 0o644, false).map((f) => f.path)).toEqual(['a', 'bin', 'z']);
    const f = keyFiles('ConfigMap', 'cm', cm, [{ key: 'z', path: 'dir/z.txt', mode: 0o600 }], 0o644, false);
    expect(f).toEqual([{ path: 'dir/z.txt', content: Buffer.from('last'), mode: 0o600 }]);
    expect(keyFiles('Secret', 's', { data: { k: Buffer.from('v').toString('base64') } }, undefined, 0o400, false)[0]!.content.toString()).toBe('v');
  });

  it('a missing object or key is NotFound unless optional', () => {
    const e = (() => { try { keyFiles('Secret', 's', undefined, undefined, 0o644, false); } catch (x) { return x; } })();
    expect(isWharfError(e, 'NotFound') && (e as Error).message).toBe('secret "s" not found');
    expect(keyFiles('Secret', 's', undefined, undefined, 0o644, true)).toEqual([]);
    expect(() => keyFiles('ConfigMap', 'cm', { data: {} }, [{ key: 'k', path: 'k' }], 0o644, false)).toThrow('configured to use key "k"');
    expect(keyFiles('ConfigMap', 'cm', { data: {} }, [{ key: 'k', path: 'k' }], 0o644, true)).toEqual([]);
  });

  it('fills downward API fields and resources like the kubelet', () => {
    expect(fieldValue(pod, 'metadata.labels')).toBe('a="1"\nb="2"');
    expect(fieldValue(pod, "metadata.labels['b']")).toBe('2');
    expect(fieldValue(pod, 'metadata.namespace')).toBe('ns');
    expect(resourceValue(pod, { containerName: 'c', resource: 'limits.cpu' }, node)).toBe('1'); // 500m rounds up to 1 core
    expect(resourceValue(pod, { containerName: 'c', resource: 'limits.cpu', divisor: '1m' }, node)).toBe('500');
    expect(resourceValue(pod, { containerName: 'c', resource: 'limits.memory', divisor: '1Mi' }, node)).toBe('128');
    expect(resourceValue(pod, { containerName: 'c', resource: 'limits.ephemeral-storage', divisor: '1Gi' }, node)).toBe('100');
    expect(resourceValue(pod, { containerName: 'c', resource: 'requests.memory' }, node)).toBe('0');
  });
});
