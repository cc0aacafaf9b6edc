import { describe, expect, it } from 'vitest';
import type { MountsStep } from '../container-mounts.js';
import type { MountPoint } from '../types.js';
import { MountsIsolator, refuseMounts } from './mounts-isolator.js';
import { draft, launch, record } from './test-fixtures.js';

const MP: MountPoint = { type: 'volume', name: 'v', source: '/v', destination: '/data', readOnly: false, mode: '', propagation: '', copyUp: true, oci: { destination: '/data', type: 'bind', source: '/v', options: ['rbind'] } };

function fake() {
  const calls: string[] = [];
  const step: MountsStep & { recover(all: unknown[]): Promise<void> } = {
    prepare: async (id) => (calls.push(`prepare ${id}`), [MP]),
    atStart: async (r, rootfs) => (calls.push(`start ${r.id} ${rootfs}`), [MP.oci]),
    atExit: (r) => void calls.push(`exit ${r.id}`),
    atRemove: async (r, v) => void calls.push(`remove ${r.id} ${v}`),
    recover: async (all) => void calls.push(`recover ${all.length}`),
  };
  return { calls, iso: new MountsIsolator(step) };
}

describe('MountsIsolator', () => {
  it('resolves mounts only when the container or its image asks for some', async () => {
    const { calls, iso } = fake();
    const none = draft();
    await iso.prepare(none);
    expect(none.mounts).toBeUndefined();
    const withImageVolume = draft({ imageVolumes: ['/data'] });
    await iso.prepare(withImageVolume);
    expect(withImageVolume.mounts).toEqual([MP]);
    expect(calls).toEqual(['prepare c1']);
  });

  it('adds its OCI mounts at start, releases at exit and removal, recovers', async () => {
    const { calls, iso } = fake();
    const l = launch();
    await iso.start(record(), l);
    expect(l.spec.mounts).toBeUndefined(); // no mounts: nothing to do
    await iso.start(record({ mounts: [MP] }), l);
    expect(l.spec.mounts).toEqual([MP.oci]);
    await iso.cleanup(record({ mounts: [MP] }), { kind: 'exit' });
    await iso.cleanup(record({ mounts: [MP] }), { kind: 'remove', removeVolumes: true });
    await iso.cleanup(record(), { kind: 'remove', removeVolumes: true });
    await iso.recover([record()]);
    expect(calls).toEqual(['start c1 /r', 'exit c1', 'remove c1 true', 'recover 1']);
  });

  it('without the isolator, a request for mounts is refused', () => {
    expect(() => refuseMounts(draft({ storage: { mounts: [{ type: 'bind', source: '/a', target: '/b' } as never] } }))).toThrow(/not implemented/);
    expect(() => refuseMounts(draft())).not.toThrow();
  });
});
