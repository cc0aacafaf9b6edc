import { describe, expect, it } from 'vitest';
import { logOptionsFromHostConfig, parseRamSize, resourcesFromHostConfig, resourcesToHostConfig } from './container-resources.js';
import { networksJson, toStatsJson } from './container-stats.js';

describe('HostConfig resources ⇄ engine', () => {
  it('maps what the docker CLI sends (zeros are unset)', () => {
    const h = { Memory: 67108864, MemorySwap: 0, MemoryReservation: 0, CpuShares: 512, NanoCpus: 5e8, CpuQuota: 0, CpuPeriod: 0, CpusetCpus: '0', CpusetMems: '', PidsLimit: 20, BlkioWeight: 300, MemorySwappiness: null, OomKillDisable: false };
    expect(resourcesFromHostConfig(h)).toEqual({ memory: 67108864, cpuShares: 512, nanoCpus: 5e8, cpusetCpus: '0', pidsLimit: 20, blkioWeight: 300 });
    expect(() => resourcesFromHostConfig({ Memory: 'x' })).toThrow(/HostConfig.Memory/);
    expect(resourcesToHostConfig({ memory: 64 << 20 }, undefined)).toMatchObject({ Memory: 64 << 20, MemorySwap: 128 << 20, PidsLimit: null });
  });
  it('parses log options like Docker (units.RAMInBytes)', () => {
    expect(parseRamSize('10m')).toBe(10 << 20);
    expect(parseRamSize('1.5k')).toBe(1536);
    expect(() => parseRamSize('ten')).toThrow();
    expect(logOptionsFromHostConfig({ LogConfig: { Type: 'json-file', Config: { 'max-size': '1k', 'max-file': '2' } } })).toEqual({ maxSize: 1024, maxFiles: 2 });
    expect(logOptionsFromHostConfig({ LogConfig: { Type: '', Config: {} } })).toBeUndefined();
    expect(() => logOptionsFromHostConfig({ LogConfig: { Type: 'syslog', Config: {} } })).toThrow(/not supported/);
    expect(() => logOptionsFromHostConfig({ LogConfig: { Type: 'json-file', Config: { 'max-file': '0' } } })).toThrow('max-file cannot be less than 1');
  });
});

describe('stats JSON', () => {
  it("maps the engine's interface counters to Docker's networks", () => {
    const n = { rxBytes: 100, rxPackets: 2, rxErrors: 0, rxDropped: 1, txBytes: 200, txPackets: 3, txErrors: 0, txDropped: 0 };
    expect(networksJson({ eth0: n })).toEqual({ eth0: { rx_bytes: 100, rx_packets: 2, rx_errors: 0, rx_dropped: 1, tx_bytes: 200, tx_packets: 3, tx_errors: 0, tx_dropped: 0 } });
  });
  it('caps an unlimited memory limit at the host memory (as moby)', () => {
    const s = { cpu: { usageNs: 5, userNs: 3, systemNs: 2, perCpuNs: [], periods: 0, throttledPeriods: 0, throttledTimeNs: 0 }, memory: { usage: 10, limit: undefined, maxUsage: undefined, failcnt: undefined, stats: { inactive_file: 1 } }, pids: { current: 2, limit: undefined }, blkio: [], oomKills: 0 };
    const j = toStatsJson(s, { systemNs: 100, onlineCpus: 2 }, 1000, new Date(0));
    expect(j.memory_stats).toEqual({ usage: 10, stats: { inactive_file: 1 }, limit: 1000 });
    expect(j.pids_stats).toEqual({ current: 2 });
    expect((j.cpu_stats as { online_cpus: number }).online_cpus).toBe(2);
  });
});
