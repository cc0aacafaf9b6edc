import { describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Cgroups, parseBlkioV1, parseIoStatV2, parseKeyValues } from './cgroups.js';

describe('cgroup parsing', () => {
  it('parses key/value, v1 blkio and v2 io.stat', () => {
    expect(parseKeyValues('cache 10\nrss 20\n')).toEqual({ cache: 10, rss: 20 });
    expect(parseBlkioV1('8:0 Read 100\n8:0 Write 5\nTotal 105\n')).toEqual([{ major: 8, minor: 0, op: 'Read', value: 100 }, { major: 8, minor: 0, op: 'Write', value: 5 }]);
    expect(parseIoStatV2('254:0 rbytes=7 wbytes=9 rios=1 wios=2\n')).toEqual([{ major: 254, minor: 0, op: 'Read', value: 7 }, { major: 254, minor: 0, op: 'Write', value: 9 }]);
  });
  it('reads a v2 tree (fake files)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wharf-cg-'));
    try {
      const d = join(root, 'wharf/c1');
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n');
      await writeFile(join(d, 'memory.current'), '4096\n');
      await writeFile(join(d, 'memory.max'), 'max\n');
      await writeFile(join(d, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
      await writeFile(join(d, 'pids.current'), '2\n');
      await writeFile(join(d, 'pids.max'), '50\n');
      const s = await new Cgroups(2, root).stats('/wharf/c1');
      expect(s.cpu).toMatchObject({ usageNs: 1_500_000, userNs: 1_000_000, throttledPeriods: 1, throttledTimeNs: 20_000 });
      expect(s.memory).toMatchObject({ usage: 4096, limit: undefined });
      expect(s.pids).toEqual({ current: 2, limit: 50 });
      expect(s.oomKills).toBe(1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
