import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';

// Container resource usage from cgroups, v1 (this machine: one hierarchy per controller)
// and v2 (unified): what `docker stats` reads. Live limit updates go through
// `ConmonRuntime.update` (`runc update`), with `updateResources()` from spec.ts.

export interface CgroupStats {
  cpu: {
    /** Total CPU time, nanoseconds. */
    usageNs: number;
    userNs: number;
    systemNs: number;
    perCpuNs: number[];
    periods: number;
    throttledPeriods: number;
    throttledTimeNs: number;
  };
  memory: {
    usage: number;
    /** undefined = unlimited. */
    limit: number | undefined;
    maxUsage: number | undefined;
    failcnt: number | undefined;
    /** memory.stat as numbers (v1 keys like cache/rss/total_inactive_file, v2 keys like anon/file/inactive_file). */
    stats: Record<string, number>;
  };
  pids: { current: number; limit: number | undefined };
  blkio: { major: number; minor: number; op: string; value: number }[];
  /** OOM kills counted by the kernel for this cgroup. */
  oomKills: number;
}

export type CgroupVersion = 1 | 2;

/** v2 when /sys/fs/cgroup itself is a cgroup2 mount with controllers; v1 (incl. hybrid) otherwise. */
export async function detectCgroupVersion(root = '/sys/fs/cgroup'): Promise<CgroupVersion> {
  try {
    await stat(join(root, 'cgroup.controllers'));
    return 2;
  } catch {
    return 1;
  }
}

const V1_UNLIMITED = 0x7ffffffffffff000; // PAGE_COUNTER_MAX * 4096 as the kernel prints it (approximately)

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function readNum(path: string): Promise<number | undefined> {
  const t = (await readText(path))?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines → record. */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?[0-9]+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** v1 blkio "8:0 Read 1234" lines (the Total line dropped). */
export function parseBlkioV1(text: string | undefined): CgroupStats['blkio'] {
  const out: CgroupStats['blkio'] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^([0-9]+):([0-9]+)\s+(\S+)\s+([0-9]+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** v2 io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4" → Docker's v1-shaped entries (Read/Write bytes). */
export function parseIoStatV2(text: string | undefined): CgroupStats['blkio'] {
  const out: CgroupStats['blkio'] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^([0-9]+):([0-9]+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const kv = Object.fromEntries(m[3]!.split(/\s+/).map((p) => p.split('=') as [string, string]));
    const major = Number(m[1]);
    const minor = Number(m[2]);
    out.push({ major, minor, op: 'Read', value: Number(kv.rbytes ?? 0) }, { major, minor, op: 'Write', value: Number(kv.wbytes ?? 0) });
  }
  return out;
}

export class Cgroups {
  constructor(
    readonly version: CgroupVersion,
    private readonly root = '/sys/fs/cgroup',
  ) {}

  static async detect(root = '/sys/fs/cgroup'): Promise<Cgroups> {
    return new Cgroups(await detectCgroupVersion(root), root);
  }

  /** True if the container's cgroup exists (memory hierarchy on v1). */
  async exists(cgroupsPath: string): Promise<boolean> {
    const dir = this.version === 2 ? join(this.root, cgroupsPath) : join(this.root, 'memory', cgroupsPath);
    try {
      return (await stat(dir)).isDirectory();
    } catch {
      return false;
    }
  }

  async stats(cgroupsPath: string): Promise<CgroupStats> {
    return this.version === 2 ? this.statsV2(cgroupsPath) : this.statsV1(cgroupsPath);
  }

  async oomKills(cgroupsPath: string): Promise<number> {
    if (this.version === 2) return parseKeyValues(await readText(join(this.root, cgroupsPath, 'memory.events'))).oom_kill ?? 0;
    return parseKeyValues(await readText(join(this.root, 'memory', cgroupsPath, 'memory.oom_control'))).oom_kill ?? 0;
  }

  private async statsV1(p: string): Promise<CgroupStats> {
    const d = (ctl: string, file: string) => join(this.root, ctl, p, file);
    const hz = 100; // USER_HZ
    const cpuacct = parseKeyValues(await readText(d('cpuacct', 'cpuacct.stat')));
    const cpuStat = parseKeyValues(await readText(d('cpu', 'cpu.stat')));
    const perCpu = ((await readText(d('cpuacct', 'cpuacct.usage_percpu'))) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const limit = await readNum(d('memory', 'memory.limit_in_bytes'));
    const pidsMax = await readNum(d('pids', 'pids.max'));
    return {
      cpu: {
        usageNs: (await readNum(d('cpuacct', 'cpuacct.usage'))) ?? 0,
        userNs: ((cpuacct.user ?? 0) * 1e9) / hz,
        systemNs: ((cpuacct.system ?? 0) * 1e9) / hz,
        perCpuNs: perCpu,
        periods: cpuStat.nr_periods ?? 0,
        throttledPeriods: cpuStat.nr_throttled ?? 0,
        throttledTimeNs: cpuStat.throttled_time ?? 0,
      },
      memory: {
        usage: (await readNum(d('memory', 'memory.usage_in_bytes'))) ?? 0,
        limit: limit === undefined || limit >= V1_UNLIMITED ? undefined : limit,
        maxUsage: await readNum(d('memory', 'memory.max_usage_in_bytes')),
        failcnt: await readNum(d('memory', 'memory.failcnt')),
        stats: parseKeyValues(await readText(d('memory', 'memory.stat'))),
      },
      pids: { current: (await readNum(d('pids', 'pids.current'))) ?? 0, limit: pidsMax },
      blkio: parseBlkioV1(await readText(d('blkio', 'blkio.throttle.io_service_bytes_recursive'))),
      oomKills: await this.oomKills(p),
    };
  }

  private async statsV2(p: string): Promise<CgroupStats> {
    const d = (file: string) => join(this.root, p, file);
    const cpu = parseKeyValues(await readText(d('cpu.stat')));
    return {
      cpu: {
        usageNs: (cpu.usage_usec ?? 0) * 1000,
        userNs: (cpu.user_usec ?? 0) * 1000,
        systemNs: (cpu.system_usec ?? 0) * 1000,
        perCpuNs: [],
        periods: cpu.nr_periods ?? 0,
        throttledPeriods: cpu.nr_throttled ?? 0,
        throttledTimeNs: (cpu.throttled_usec ?? 0) * 1000,
      },
      memory: {
        usage: (await readNum(d('memory.current'))) ?? 0,
        limit: await readNum(d('memory.max')),
        maxUsage: await readNum(d('memory.peak')),
        failcnt: undefined,
        stats: parseKeyValues(await readText(d('memory.stat'))),
      },
      pids: { current: (await readNum(d('pids.current'))) ?? 0, limit: await readNum(d('pids.max')) },
      blkio: parseIoStatV2(await readText(d('io.stat'))),
      oomKills: await this.oomKills(p),
    };
  }

  /** The PIDs in a container's cgroup (pids hierarchy on v1), for `top`. */
  async pids(cgroupsPath: string): Promise<number[]> {
    const file = this.version === 2 ? join(this.root, cgroupsPath, 'cgroup.procs') : join(this.root, 'pids', cgroupsPath, 'cgroup.procs');
    const text = (await readText(file)) ?? '';
    return text.split('\n').map((l) => Number.parseInt(l, 10)).filter((n) => Number.isInteger(n) && n > 0);
  }

  /** Lists child cgroups of a parent (e.g. to find leftovers at start-up). */
  async children(parent: string): Promise<string[]> {
    const dir = this.version === 2 ? join(this.root, parent) : join(this.root, 'memory', parent);
    try {
      return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  }
}

/** Host CPU time in nanoseconds from /proc/stat (Docker's `system_cpu_usage`) and the online CPU count. */
export async function systemCpuUsage(): Promise<{ systemNs: number; onlineCpus: number }> {
  const text = (await readText('/proc/stat')) ?? '';
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  const ticks = (line ?? '').split(/\s+/).slice(1, 8).map(Number).filter(Number.isFinite).reduce((a, b) => a + b, 0);
  return { systemNs: (ticks * 1e9) / 100, onlineCpus: cpus().length };
}
