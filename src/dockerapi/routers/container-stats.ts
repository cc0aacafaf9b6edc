import { WharfError } from '../../core/errors.js';
import type { CgroupStats } from '../../engine/runtime/cgroups.js';
import type { NetDevCounters, StatsSample } from '../../engine/containers/container-stats.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';

// `GET /containers/{id}/stats`: Docker's StatsJSON from the engine's samples (the container's
// cgroup, v1 or v2, and its network namespace's counters). As moby: `stream=false` waits for a second
// sample one interval later so precpu_stats is filled (what `docker stats --no-stream`
// prints as CPU %); `one-shot=true` answers at once with an empty precpu_stats; a stream
// sends one object per interval until the client goes away or the container stops.

/** What these routes need (the engine's ContainerStatsReader satisfies it). */
export interface ContainerStatsBackend {
  inspect(ref: string): { id: string; name: string };
  /** One sample, or undefined when the container does not run. */
  sample(ref: string): Promise<StatsSample | undefined>;
}

export interface StatsRouterOptions {
  /** Sampling interval (Docker: 1 s). */
  intervalMs?: number;
}

type Json = Record<string, unknown>;

const EMPTY_CPU: Json = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The engine's interface counters → Docker's `networks`. */
export function networksJson(nets: Record<string, NetDevCounters>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [name, n] of Object.entries(nets)) {
    out[name] = {
      rx_bytes: n.rxBytes, rx_packets: n.rxPackets, rx_errors: n.rxErrors, rx_dropped: n.rxDropped,
      tx_bytes: n.txBytes, tx_packets: n.txPackets, tx_errors: n.txErrors, tx_dropped: n.txDropped,
    };
  }
  return out;
}

/** The engine's cgroup sample → Docker's StatsJSON fields (without name/id/pre*). */
export function toStatsJson(s: CgroupStats, sys: { systemNs: number; onlineCpus: number }, memTotal: number, read: Date): Json {
  const limit = s.memory.limit === undefined || s.memory.limit > memTotal ? memTotal : s.memory.limit;
  const blk = (op: string) => s.blkio.filter((b) => b.op.toLowerCase() === op);
  const ioBytes = [...blk('read'), ...blk('write'), ...blk('sync'), ...blk('async'), ...blk('discard'), ...blk('total')];
  return {
    read: read.toISOString(),
    pids_stats: { current: s.pids.current, ...(s.pids.limit !== undefined ? { limit: s.pids.limit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: ioBytes.length ? ioBytes.map((b) => ({ major: b.major, minor: b.minor, op: b.op, value: b.value })) : null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: {
      cpu_usage: {
        total_usage: s.cpu.usageNs,
        ...(s.cpu.perCpuNs.length ? { percpu_usage: s.cpu.perCpuNs } : {}),
        usage_in_kernelmode: s.cpu.systemNs,
        usage_in_usermode: s.cpu.userNs,
      },
      system_cpu_usage: sys.systemNs,
      online_cpus: sys.onlineCpus,
      throttling_data: { periods: s.cpu.periods, throttled_periods: s.cpu.throttledPeriods, throttled_time: s.cpu.throttledTimeNs },
    },
    memory_stats: {
      usage: s.memory.usage,
      ...(s.memory.maxUsage !== undefined ? { max_usage: s.memory.maxUsage } : {}),
      stats: s.memory.stats,
      ...(s.memory.failcnt !== undefined ? { failcnt: s.memory.failcnt } : {}),
      limit,
    },
  };
}

export class ContainerStatsRouter implements Router {
  private readonly intervalMs: number;

  constructor(
    private readonly be: ContainerStatsBackend,
    opts: StatsRouterOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
  }

  routes(): readonly Route[] {
    return [{ method: 'GET', path: '/containers/:id/stats', handler: (q, r) => this.stats(q, r) }];
  }

  /** One sample as StatsJSON, or undefined when the container does not run (any more). */
  private async sample(id: string): Promise<Json | undefined> {
    const s = await this.be.sample(id);
    if (!s) return undefined;
    const json = toStatsJson(s.cgroup, s.system, s.memTotal, s.read);
    if (Object.keys(s.networks).length) json.networks = networksJson(s.networks);
    return json;
  }

  private async stats(req: ApiRequest, res: ApiResponse): Promise<void> {
    const rec = this.be.inspect(req.params.id!);
    const stream = req.query.has('stream') ? boolParam(req.query, 'stream') : true;
    const oneShot = boolParam(req.query, 'one-shot');
    if (stream && oneShot) throw new WharfError('InvalidArgument', 'cannot have stream=true and one-shot=true');
    const base = { name: `/${rec.name}`, id: rec.id };
    let pre: Json = { cpu: EMPTY_CPU, read: ZERO_TIME };
    const frame = (s: Json): string => {
      const out = { ...s, preread: pre.read, precpu_stats: pre.cpu, ...base };
      pre = { cpu: s.cpu_stats as Json, read: s.read as string };
      return `${JSON.stringify(out)}\n`;
    };
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        req.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    let first = await this.sample(rec.id);
    if (!first) {
      // As moby: a container that does not run gets an empty StatsJSON (name and id only).
      res.json(200, { read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: {}, num_procs: 0, storage_stats: {}, cpu_stats: EMPTY_CPU, precpu_stats: EMPTY_CPU, memory_stats: {}, ...base });
      return;
    }
    if (!stream) {
      if (!oneShot) {
        // Prime precpu_stats with a first sample, answer with the second.
        frame(first);
        await sleep(this.intervalMs);
        first = (await this.sample(rec.id)) ?? first;
      }
      res.json(200, JSON.parse(frame(first)) as Json);
      return;
    }
    const out = res.stream(200, 'application/json');
    frame(first); // the first frame only primes precpu (moby skips it too)
    let closed = false;
    out.on('close', () => (closed = true));
    while (!req.signal.aborted && !closed) {
      await sleep(this.intervalMs);
      if (req.signal.aborted || closed) break;
      const s = await this.sample(rec.id).catch(() => undefined);
      if (!s) break;
      out.write(frame(s));
    }
    out.end();
  }
}
