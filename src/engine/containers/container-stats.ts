import { readFile } from 'node:fs/promises';
import { WharfError } from '../../core/errors.js';
import { systemCpuUsage, type CgroupStats } from '../runtime/cgroups.js';
import type { ContainerStatus } from './types.js';

// One resource sample of a running container: its cgroup (v1 or v2), the host's CPU time
// (for CPU %), the host memory (the limit of an unlimited container) and the counters of its
// network namespace (/proc/PID/net/dev). The engine reads the kernel; the Docker API only
// turns a sample into StatsJSON.

export interface NetDevCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface StatsSample {
  read: Date;
  cgroup: CgroupStats;
  /** Host CPU time (ns) and online CPUs, for CPU %. */
  system: { systemNs: number; onlineCpus: number };
  /** Host memory in bytes. */
  memTotal: number;
  /** Per interface, loopback left out (as Docker does); empty when unreadable. */
  networks: Record<string, NetDevCounters>;
}

/** What sampling needs of the containers (ContainerService satisfies it). */
export interface StatsHost {
  inspect(ref: string): { id: string; state: { status: ContainerStatus; pid: number } };
  stats(ref: string): Promise<CgroupStats>;
  hostResources(): { memTotal: number };
}

/** /proc/PID/net/dev → counters per interface (loopback left out). */
export function parseNetDev(text: string): Record<string, NetDevCounters> {
  const out: Record<string, NetDevCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    if (f.length < 16) continue;
    out[m[1]!] = { rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]! };
  }
  return out;
}

export class ContainerStatsReader {
  constructor(private readonly host: StatsHost) {}

  /** One sample, or undefined when the container does not run (any more). Unknown container: NotFound. */
  async sample(ref: string): Promise<StatsSample | undefined> {
    const r = this.host.inspect(ref);
    if (r.state.status !== 'running' && r.state.status !== 'paused') return undefined;
    let cgroup: CgroupStats;
    try {
      cgroup = await this.host.stats(r.id);
    } catch (e) {
      if (e instanceof WharfError && e.kind === 'Conflict') return undefined; // stopped meanwhile
      throw e;
    }
    const read = new Date();
    const system = await systemCpuUsage();
    let pid = 0;
    try {
      pid = this.host.inspect(r.id).state.pid;
    } catch {
      /* removed meanwhile */
    }
    const networks = pid > 0 ? parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => '')) : {};
    return { read, cgroup, system, memTotal: this.host.hostResources().memTotal, networks };
  }
}
