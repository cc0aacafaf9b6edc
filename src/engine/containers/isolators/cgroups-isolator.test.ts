import { describe, expect, it } from 'vitest';
import type { HostResources } from '../resources.js';
import { CgroupsIsolator } from './cgroups-isolator.js';
import { draft, launch, record } from './test-fixtures.js';

describe('CgroupsIsolator', () => {
  const host: HostResources = { ncpu: 2, cpusetCpus: '0-1', cpusetMems: '0', blkioWeight: false, swapLimit: false, memTotal: 8 << 30 };
  const iso = new CgroupsIsolator({ pathOf: (id) => `/wharf-test/${id}`, version: async () => 2, hostResources: () => host });

  it('puts every run in its cgroup under the engine parent', async () => {
    const l = launch();
    await iso.start(record(), l);
    expect(l.spec).toEqual({ cgroupsPath: '/wharf-test/c1', cgroupV2: true });
  });

  it('checks resources at create: invalid ones refused, empty ones dropped', () => {
    const d = draft({ options: { resources: {} } });
    iso.validate(d);
    expect(d.options.resources).toBeUndefined();
    const ok = draft({ options: { resources: { memory: 64 << 20 } } });
    iso.validate(ok);
    expect(ok.options.resources).toMatchObject({ memory: 64 << 20 });
    expect(() => iso.validate(draft({ options: { resources: { memory: -5 } } }))).toThrow();
  });
});
