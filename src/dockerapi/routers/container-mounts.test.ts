import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import type { ContainerRecord } from '../../engine/containers/types.js';
import { mountFromApi, mountPointsJson, storageFromApi } from './container-mounts.js';

const invalidOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (isWharfError(e, 'InvalidArgument')) return e.message;
    throw e;
  }
  throw new Error('expected InvalidArgument');
};

describe('HostConfig.Mounts → mount requests', () => {
  it('bind with propagation and read-only; a missing source is not created (CreateMountpoint false)', () => {
    expect(mountFromApi({ Type: 'bind', Source: '/srv/x/', Target: '/x/', ReadOnly: true, BindOptions: { Propagation: 'rslave' } })).toEqual({
      type: 'bind', source: '/srv/x', target: '/x', readOnly: true, createSource: false, propagation: 'rslave',
    });
  });
  it('volume with NoCopy, labels, driver options; anonymous when Source is empty', () => {
    expect(mountFromApi({ Type: 'volume', Source: 'cache', Target: '/c', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } } })).toEqual({
      type: 'volume', name: 'cache', target: '/c', readOnly: false, noCopy: true, labels: { a: 'b' }, driver: 'local', driverOptions: { type: 'tmpfs', device: 'tmpfs' },
    });
    expect(mountFromApi({ Type: 'volume', Target: '/anon' })).toMatchObject({ type: 'volume', name: '' });
  });
  it('tmpfs with SizeBytes and Mode', () => {
    expect(mountFromApi({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 8 << 20, Mode: 0o1770 } })).toEqual({ type: 'tmpfs', target: '/t', readOnly: false, sizeBytes: 8 << 20, mode: 0o1770 });
  });
  it('refuses relative targets, wrong option blocks, unknown types and bad names', () => {
    expect(invalidOf(() => mountFromApi({ Type: 'volume', Target: 'rel' }))).toMatch(/mount path must be absolute/);
    expect(invalidOf(() => mountFromApi({ Type: 'bind', Source: 'rel', Target: '/x' }))).toMatch(/must be absolute/);
    expect(invalidOf(() => mountFromApi({ Type: 'bind', Source: '/a', Target: '/x', VolumeOptions: {} }))).toMatch(/VolumeOptions/);
    expect(invalidOf(() => mountFromApi({ Type: 'tmpfs', Source: '/a', Target: '/x' }))).toMatch(/Source/);
    expect(invalidOf(() => mountFromApi({ Type: 'npipe', Target: '/x' }))).toMatch(/mount type unknown/);
    expect(invalidOf(() => mountFromApi({ Type: 'bind', Source: '/a', Target: '/x', BindOptions: { Propagation: 'weird' } }))).toMatch(/propagation/);
    expect(invalidOf(() => mountFromApi({ Type: 'volume', Source: 'b@d', Target: '/x' }))).toMatch(/invalid volume name/);
    expect(invalidOf(() => mountFromApi({ Type: 'volume', Target: '/' }))).toMatch(/destination can't be/);
  });
});

describe('create body storage fields', () => {
  it('Binds, Mounts, Config.Volumes (not when already covered), VolumesFrom and Tmpfs', () => {
    const r = storageFromApi({
      Binds: ['/h:/b:ro', 'named:/n'],
      Mounts: [{ Type: 'tmpfs', Target: '/t' }],
      Volumes: { '/anon': {}, '/n': {} },
      VolumesFrom: ['other:ro', 'third'],
      Tmpfs: { '/run': 'size=1m' },
    });
    expect(r.tmpfs).toEqual({ '/run': 'size=1m' });
    expect(r.storage?.mounts?.map((m) => [m.type, m.target])).toEqual([['bind', '/b'], ['volume', '/n'], ['tmpfs', '/t'], ['volume', '/anon']]);
    expect(r.storage?.volumesFrom).toEqual([{ container: 'other', mode: 'ro' }, { container: 'third' }]);
    expect(storageFromApi({ Binds: [], Mounts: null, Volumes: {} })).toEqual({});
  });
  it('names the bad bind in the error', () => {
    expect(invalidOf(() => storageFromApi({ Binds: ['/h:rel'] }))).toMatch(/^invalid volume specification: '\/h:rel': .*must be absolute/);
    expect(invalidOf(() => storageFromApi({ VolumesFrom: ['x:rx'] }))).toMatch(/invalid mode for volumes-from: rx/);
    expect(invalidOf(() => storageFromApi({ Tmpfs: { run: '' } }))).toMatch(/absolute/);
  });
});

describe('inspect Mounts', () => {
  it("has Docker's shape per type", () => {
    const r = {
      mounts: [
        { type: 'volume', name: 'v', driver: 'local', source: '/d/volumes/v/_data', destination: '/v', readOnly: false, mode: 'z', propagation: '', copyUp: true, oci: { destination: '/v', type: 'bind', source: '/d/volumes/v/_data', options: [] } },
        { type: 'bind', source: '/h', destination: '/b', readOnly: true, mode: 'ro', propagation: 'rprivate', copyUp: false, oci: { destination: '/b', type: 'bind', source: '/h', options: [] } },
        { type: 'tmpfs', source: '', destination: '/t', readOnly: false, mode: '', propagation: '', copyUp: false, oci: { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: [] } },
      ],
    } as unknown as ContainerRecord;
    expect(mountPointsJson(r)).toEqual([
      { Type: 'volume', Name: 'v', Source: '/d/volumes/v/_data', Destination: '/v', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
      { Type: 'bind', Source: '/h', Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' },
      { Type: 'tmpfs', Source: '', Destination: '/t', Mode: '', RW: true, Propagation: '' },
    ]);
  });
});
