import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { invalid } from '../../core/errors.js';
import type { Resources } from '../runtime/spec.js';

// Docker's daemon-side checks of container resources (moby daemon/daemon_unix.go
// verifyPlatformContainerResources), against what this host offers: the same messages,
// the same adjustments with warnings (CPU shares clamped, unsupported controllers
// dropped). Pure given a `HostResources`; `readHostResources()` reads the host once.

export interface HostResources {
  /** Online CPUs (Docker's NumCPU). */
  ncpu: number;
  /** CPUs and memory nodes the cpuset controller offers ("0-1"). */
  cpusetCpus: string;
  cpusetMems: string;
  /** Block I/O weight supported (v1: blkio.weight or blkio.bfq.weight; v2: io.weight or io.bfq.weight). */
  blkioWeight: boolean;
  /** memory+swap limits supported (v1 memsw files; v2 memory.swap.max). */
  swapLimit: boolean;
  /** Host memory, bytes (the `limit` stats report for an unlimited container). */
  memTotal: number;
}

export const MIN_MEMORY = 6 * 1024 * 1024;

/** Reads the host's cgroup capabilities (v1 hybrid or v2) under `parent` (created by runc at first start). */
export function readHostResources(cgroupVersion: 1 | 2, root = '/sys/fs/cgroup'): HostResources {
  const read = (p: string, d: string) => {
    try {
      return readFileSync(p, 'utf8').trim() || d;
    } catch {
      return d;
    }
  };
  const ncpu = cpus().length;
  const allCpus = ncpu > 1 ? `0-${ncpu - 1}` : '0';
  if (cgroupVersion === 2) {
    return {
      ncpu,
      cpusetCpus: read(join(root, 'cpuset.cpus.effective'), allCpus),
      cpusetMems: read(join(root, 'cpuset.mems.effective'), '0'),
      // io.bfq.weight only appears in child groups; the io controller being available is the test.
      blkioWeight: read(join(root, 'cgroup.controllers'), '').split(/\s+/).includes('io'),
      swapLimit: true,
      memTotal: totalmem(),
    };
  }
  // The bfq weight file exists only below the root: look at any child directory of blkio.
  const blkio = join(root, 'blkio');
  const weightIn = (d: string) => existsSync(join(d, 'blkio.weight')) || existsSync(join(d, 'blkio.bfq.weight'));
  let blkioWeight = weightIn(blkio);
  if (!blkioWeight) {
    try {
      blkioWeight = readdirDirs(blkio).some((d) => weightIn(join(blkio, d)));
    } catch {
      blkioWeight = false;
    }
  }
  return {
    ncpu,
    cpusetCpus: read(join(root, 'cpuset', 'cpuset.effective_cpus'), allCpus),
    cpusetMems: read(join(root, 'cpuset', 'cpuset.effective_mems'), '0'),
    blkioWeight,
    swapLimit: existsSync(join(root, 'memory', 'memory.memsw.limit_in_bytes')),
    memTotal: totalmem(),
  };
}

function readdirDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
}

/** "0-2,4" → [0,1,2,4]; undefined when malformed. */
export function parseCpuset(s: string): number[] | undefined {
  if (!/^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/.test(s)) return undefined;
  const out = new Set<number>();
  for (const part of s.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    const end = b ?? a;
    if (end < a || end - a > 4096) return undefined;
    for (let i = a; i <= end; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

export interface CheckedResources {
  resources: Resources;
  warnings: string[];
}

/**
 * Validates and adjusts resources as dockerd does at create (and at update, with `update`):
 * errors are InvalidArgument with Docker's messages; adjustments come back as warnings.
 */
export function checkResources(input: Resources, host: HostResources, opts: { update?: boolean } = {}): CheckedResources {
  const r: Resources = { ...input };
  const warnings: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw invalid(`invalid value for ${k}: ${v}`);
  }
  const mem = r.memory ?? 0;
  if (mem < 0) throw invalid(`invalid memory limit: ${mem}`);
  if (mem > 0 && mem < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  const swap = r.memorySwap ?? 0;
  if (swap !== 0 && !host.swapLimit) {
    warnings.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    delete r.memorySwap;
  } else {
    if (swap < -1) throw invalid(`invalid memory swap: ${swap}`);
    if (mem > 0 && swap > 0 && swap < mem) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    if (mem === 0 && swap > 0 && !opts.update) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (r.memorySwappiness !== undefined && r.memorySwappiness !== -1 && (r.memorySwappiness < 0 || r.memorySwappiness > 100)) {
    throw invalid(`Invalid value: ${r.memorySwappiness}, valid memory swappiness range is 0-100`);
  }
  const resv = r.memoryReservation ?? 0;
  if (resv < 0) throw invalid(`invalid memory reservation: ${resv}`);
  if (resv > 0 && resv < MIN_MEMORY) throw invalid('Minimum memory reservation allowed is 6MB');
  if (mem > 0 && resv > 0 && mem < resv) throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');

  const nano = r.nanoCpus ?? 0;
  if (nano > 0 && (r.cpuPeriod ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && (r.cpuQuota ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano < 0 || nano > host.ncpu * 1e9 || (nano > 0 && nano < 1e7)) {
    throw invalid(`Range of CPUs is from 0.01 to ${host.ncpu}.00, as there are only ${host.ncpu} CPUs available`);
  }
  if (r.cpuShares !== undefined && r.cpuShares !== 0) {
    if (r.cpuShares < 0) throw invalid(`invalid CPU shares: ${r.cpuShares}`);
    if (r.cpuShares < 2) {
      warnings.push(`Changing requested CPUShares of ${r.cpuShares} to minimum allowed of 2`);
      r.cpuShares = 2;
    } else if (r.cpuShares > 262144) {
      warnings.push(`Changing requested CPUShares of ${r.cpuShares} to maximum allowed of 262144`);
      r.cpuShares = 262144;
    }
  }
  const period = r.cpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1_000_000)) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  const quota = r.cpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (quota < -1) throw invalid(`invalid CPU quota: ${quota}`);

  const avail = (requested: string, offered: string, what: 'cpus' | 'mems') => {
    const req = parseCpuset(requested);
    if (!req) throw invalid(`Invalid value ${requested} for cpuset ${what}`);
    const have = new Set(parseCpuset(offered) ?? []);
    if (!req.every((c) => have.has(c))) {
      throw invalid(
        what === 'cpus'
          ? `Requested CPUs are not available - requested ${requested}, available: ${offered}`
          : `Requested memory nodes are not available - requested ${requested}, available: ${offered}`,
      );
    }
  };
  if (r.cpusetCpus) avail(r.cpusetCpus, host.cpusetCpus, 'cpus');
  if (r.cpusetMems) avail(r.cpusetMems, host.cpusetMems, 'mems');

  if (r.blkioWeight !== undefined && r.blkioWeight !== 0) {
    if (!host.blkioWeight) {
      warnings.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
      delete r.blkioWeight;
    } else if (r.blkioWeight < 10 || r.blkioWeight > 1000) throw invalid('Range of blkio weight is from 10 to 1000');
  }
  if (r.pidsLimit !== undefined && r.pidsLimit <= 0 && !opts.update) delete r.pidsLimit; // 0 and -1: unlimited
  return { resources: r, warnings };
}

/**
 * The resources after `docker update` (only the fields given change, as moby's
 * UpdateContainer): a new memory limit with no swap given keeps Docker's default of
 * swap = 2 × memory unless the user had set swap explicitly, which must stay ≥ memory.
 */
export function mergeUpdate(old: Resources, upd: Resources): Resources {
  const next: Resources = { ...old };
  const set = <K extends keyof Resources>(k: K) => {
    const v = upd[k];
    if (v !== undefined && v !== 0 && v !== '') next[k] = v;
  };
  if (upd.memory !== undefined && upd.memory !== 0) {
    const explicitSwap = old.memorySwap !== undefined && old.memorySwap !== 0;
    if (upd.memorySwap === undefined || upd.memorySwap === 0) {
      if (explicitSwap && old.memorySwap !== -1 && upd.memory > old.memorySwap!) {
        throw invalid('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
      }
    }
  }
  for (const k of ['memory', 'memoryReservation', 'memorySwap', 'cpuShares', 'cpuPeriod', 'cpuQuota', 'nanoCpus', 'cpusetCpus', 'cpusetMems', 'blkioWeight'] as const) set(k);
  if (upd.nanoCpus !== undefined && upd.nanoCpus > 0) {
    // As moby: NanoCPUs replaces a period/quota pair and vice versa.
    delete next.cpuPeriod;
    delete next.cpuQuota;
  }
  if ((upd.cpuQuota ?? 0) !== 0 || (upd.cpuPeriod ?? 0) !== 0) delete next.nanoCpus;
  if (upd.pidsLimit !== undefined && upd.pidsLimit !== 0) {
    if (upd.pidsLimit > 0) next.pidsLimit = upd.pidsLimit;
    else delete next.pidsLimit;
  }
  return next;
}

/** Docker's effective MemorySwap for inspect: 2 × Memory when a limit is set and swap is not. */
export function effectiveMemorySwap(r: Resources | undefined): number {
  const mem = r?.memory ?? 0;
  const swap = r?.memorySwap ?? 0;
  if (swap !== 0) return swap;
  return mem > 0 ? 2 * mem : 0;
}
