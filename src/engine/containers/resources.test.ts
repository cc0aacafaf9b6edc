import { describe, expect, it } from 'vitest';
import { checkResources, effectiveMemorySwap, mergeUpdate, parseCpuset, type HostResources } from './resources.js';

const host: HostResources = { ncpu: 2, cpusetCpus: '0-1', cpusetMems: '0', blkioWeight: true, swapLimit: true, memTotal: 8 << 30 };
const msg = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('checkResources (dockerd verifyPlatformContainerResources)', () => {
  it('refuses what Docker refuses, with its messages', () => {
    expect(msg(() => checkResources({ memory: 1 << 20 }, host))).toBe('Minimum memory limit allowed is 6MB');
    expect(msg(() => checkResources({ nanoCpus: 3e9 }, host))).toBe('Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
    expect(msg(() => checkResources({ memorySwap: 64 << 20 }, host))).toBe('You should always set the Memory limit when using Memoryswap limit, see usage');
    expect(msg(() => checkResources({ memory: 64 << 20, memorySwap: 32 << 20 }, host))).toContain('Minimum memoryswap limit');
    expect(msg(() => checkResources({ cpusetCpus: '0-3' }, host))).toBe('Requested CPUs are not available - requested 0-3, available: 0-1');
    expect(msg(() => checkResources({ cpusetCpus: 'x' }, host))).toBe('Invalid value x for cpuset cpus');
    expect(msg(() => checkResources({ nanoCpus: 1e9, cpuQuota: 50000 }, host))).toContain('Nano CPUs and CPU Quota');
    expect(msg(() => checkResources({ blkioWeight: 5 }, host))).toBe('Range of blkio weight is from 10 to 1000');
  });
  it('adjusts with warnings where Docker does', () => {
    expect(checkResources({ cpuShares: 1 }, host)).toEqual({ resources: { cpuShares: 2 }, warnings: ['Changing requested CPUShares of 1 to minimum allowed of 2'] });
    const noBlkio = checkResources({ blkioWeight: 300 }, { ...host, blkioWeight: false });
    expect(noBlkio.resources.blkioWeight).toBeUndefined();
    expect(noBlkio.warnings[0]).toContain('Block I/O weight');
    expect(checkResources({ pidsLimit: -1 }, host).resources).toEqual({});
  });
  it('parses cpusets', () => {
    expect(parseCpuset('0-2,4')).toEqual([0, 1, 2, 4]);
    expect(parseCpuset('2-1')).toBeUndefined();
  });
});

describe('mergeUpdate', () => {
  it('changes only what is given; nano CPUs replace quota/period; pids -1 is unlimited', () => {
    expect(mergeUpdate({ memory: 64 << 20, cpuQuota: 50000, cpuPeriod: 100000, pidsLimit: 20 }, { memory: 128 << 20, nanoCpus: 5e8, pidsLimit: -1 })).toEqual({ memory: 128 << 20, nanoCpus: 5e8 });
    expect(mergeUpdate({ nanoCpus: 5e8 }, { cpuQuota: 20000 })).toEqual({ cpuQuota: 20000 });
  });
  it('a memory limit above an explicit swap limit needs the swap too (moby)', () => {
    expect(msg(() => mergeUpdate({ memory: 64 << 20, memorySwap: 96 << 20 }, { memory: 128 << 20 }))).toContain('update the memoryswap at the same time');
    expect(effectiveMemorySwap(mergeUpdate({ memory: 64 << 20 }, { memory: 128 << 20 }))).toBe(256 << 20);
  });
});
