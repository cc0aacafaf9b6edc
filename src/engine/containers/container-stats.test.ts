import { describe, expect, it } from 'vitest';
import { WharfError } from '../../core/errors.js';
import type { CgroupStats } from '../runtime/cgroups.js';
import { ContainerStatsReader, parseNetDev } from './container-stats.js';

const CG: CgroupStats = { cpu: { usageNs: 5, userNs: 3, systemNs: 2, perCpuNs: [], periods: 0, throttledPeriods: 0, throttledTimeNs: 0 }, memory: { usage: 10, limit: undefined, maxUsage: undefined, failcnt: undefined, stats: {} }, pids: { current: 2, limit: undefined }, blkio: [], oomKills: 0 };

describe('container stats', () => {
  it('reads /proc/PID/net/dev without loopback', () => {
    const t = 'Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n  eth0: 100 2 0 1 0 0 0 0 200 3 0 0 0 0 0 0\n';
    expect(parseNetDev(t)).toEqual({ eth0: { rxBytes: 100, rxPackets: 2, rxErrors: 0, rxDropped: 1, txBytes: 200, txPackets: 3, txErrors: 0, txDropped: 0 } });
  });

  it('samples a running container (its own /proc net counters) and nothing for a stopped one', async () => {
    let status: 'running' | 'exited' = 'running';
    let stopRace = false;
    const reader = new ContainerStatsReader({
      inspect: () => ({ id: 'c1', state: { status, pid: process.pid } }),
      stats: async () => {
        if (stopRace) throw new WharfError('Conflict', 'not running');
        return CG;
      },
      hostResources: () => ({ memTotal: 1000 }),
    });
    const s = await reader.sample('c1');
    expect(s?.cgroup).toBe(CG);
    expect(s?.memTotal).toBe(1000);
    expect(s?.system.onlineCpus).toBeGreaterThan(0);
    expect(s?.networks.lo).toBeUndefined();
    stopRace = true;
    expect(await reader.sample('c1')).toBeUndefined();
    status = 'exited';
    expect(await reader.sample('c1')).toBeUndefined();
  });
});
