import { z } from 'zod';
import { WharfError } from '../../core/errors.js';
import type { ContainerUpdate } from '../../engine/containers/container-service.js';
import { effectiveMemorySwap } from '../../engine/containers/resources.js';
import type { LogOptions, RestartPolicy } from '../../engine/containers/types.js';
import type { Resources } from '../../engine/runtime/spec.js';
import { readJson } from '../body.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';

// Resources and log options of the Docker API (HostConfig fields of create, the
// `POST /containers/{id}/update` body) ⇄ the engine's Resources / LogOptions, and the
// update route. Kept apart from containers.ts so the create path only calls two functions.

const int = z.number().int().nullish();
const ResourceFields = z.object({
  Memory: int,
  MemoryReservation: int,
  MemorySwap: int,
  MemorySwappiness: int,
  CpuShares: int,
  NanoCpus: int,
  CpuQuota: int,
  CpuPeriod: int,
  CpusetCpus: z.string().nullish(),
  CpusetMems: z.string().nullish(),
  PidsLimit: int,
  BlkioWeight: int,
  OomKillDisable: z.boolean().nullish(),
});
type ResourceFields = z.infer<typeof ResourceFields>;

const LogConfig = z.object({ Type: z.string().nullish(), Config: z.record(z.string(), z.string()).nullish() }).nullish();

/** Docker's `units.RAMInBytes`: "10m", "1.5g", "512k", "100" (bytes), case-insensitive, optional "b"/"ib". */
export function parseRamSize(s: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(s);
  if (!m) throw new WharfError('InvalidArgument', `invalid size: '${s}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as '' | 'k'];
  return Math.floor(Number(m[1]) * mult);
}

function fieldError(where: string, e: z.ZodError): WharfError {
  const issue = e.issues[0]!;
  return new WharfError('InvalidArgument', `invalid request body: ${[where, ...issue.path.map(String)].join('.')}: ${issue.message}`);
}

/** The resource fields of a HostConfig (create) or an update body → engine Resources (zeros and nulls dropped). */
export function resourcesFromHostConfig(h: Record<string, unknown>, where = 'HostConfig'): Resources {
  const p = ResourceFields.safeParse(h);
  if (!p.success) throw fieldError(where, p.error);
  const f: ResourceFields = p.data;
  const r: Resources = {};
  const num = (v: number | null | undefined, k: keyof Resources, keepNegative = false) => {
    if (v == null || v === 0) return;
    if (v < 0 && !keepNegative) throw new WharfError('InvalidArgument', `invalid value for ${String(k)}: ${v}`);
    (r as Record<string, number>)[k] = v;
  };
  num(f.Memory, 'memory');
  num(f.MemoryReservation, 'memoryReservation');
  num(f.MemorySwap, 'memorySwap', true);
  if (f.MemorySwappiness != null && f.MemorySwappiness !== -1) r.memorySwappiness = f.MemorySwappiness;
  num(f.CpuShares, 'cpuShares', true);
  num(f.NanoCpus, 'nanoCpus', true);
  num(f.CpuQuota, 'cpuQuota', true);
  num(f.CpuPeriod, 'cpuPeriod', true);
  if (f.CpusetCpus) r.cpusetCpus = f.CpusetCpus;
  if (f.CpusetMems) r.cpusetMems = f.CpusetMems;
  num(f.PidsLimit, 'pidsLimit', true);
  num(f.BlkioWeight, 'blkioWeight', true);
  if (f.OomKillDisable) r.oomKillDisable = true;
  return r;
}

const FILE_LOG_DRIVERS = ['', 'json-file', 'local', 'k8s-file'];

/** HostConfig.LogConfig → engine log options. Logs are always files on disk, rotated (default 10 MB × 3). */
export function logOptionsFromHostConfig(h: Record<string, unknown>): LogOptions | undefined {
  const p = LogConfig.safeParse(h.LogConfig);
  if (!p.success) throw fieldError('HostConfig.LogConfig', p.error);
  const lc = p.data;
  if (!lc) return undefined;
  const type = lc.Type ?? '';
  if (!FILE_LOG_DRIVERS.includes(type)) {
    throw new WharfError('Unsupported', `log driver ${type} is not supported: Wharf keeps logs in rotated files on disk (json-file/local options max-size and max-file apply)`);
  }
  const out: LogOptions = {};
  for (const [k, v] of Object.entries(lc.Config ?? {})) {
    if (k === 'max-size') {
      const n = parseRamSize(v);
      if (n < 1) throw new WharfError('InvalidArgument', `invalid max-size: ${v}`);
      out.maxSize = n;
    } else if (k === 'max-file') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new WharfError('InvalidArgument', 'max-file cannot be less than 1');
      out.maxFiles = n;
    } else if (k !== 'compress' && k !== 'mode' && k !== 'max-buffer-size') {
      throw new WharfError('InvalidArgument', `unknown log opt '${k}' for ${type || 'json-file'} log driver`);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/** Engine resources → Docker's HostConfig fields (for inspect), Docker's defaults filled in. */
export function resourcesToHostConfig(r: Resources | undefined, log: LogOptions | undefined): Record<string, unknown> {
  return {
    Memory: r?.memory ?? 0,
    MemoryReservation: r?.memoryReservation ?? 0,
    MemorySwap: effectiveMemorySwap(r),
    MemorySwappiness: r?.memorySwappiness ?? null,
    CpuShares: r?.cpuShares ?? 0,
    NanoCpus: r?.nanoCpus ?? 0,
    CpuQuota: r?.cpuQuota ?? 0,
    CpuPeriod: r?.cpuPeriod ?? 0,
    CpusetCpus: r?.cpusetCpus ?? '',
    CpusetMems: r?.cpusetMems ?? '',
    PidsLimit: r?.pidsLimit ?? null,
    BlkioWeight: r?.blkioWeight ?? 0,
    OomKillDisable: r?.oomKillDisable ?? false,
    LogConfig: {
      Type: 'json-file',
      Config: {
        ...(log?.maxSize ? { 'max-size': String(log.maxSize) } : {}),
        ...(log?.maxFiles ? { 'max-file': String(log.maxFiles) } : {}),
      },
    },
  };
}

const UpdateBody = ResourceFields.extend({
  RestartPolicy: z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().int().nullish() }).nullish(),
}).passthrough();

/** Fields of the update body Wharf does not apply: refused, never silently ignored. */
const UNSUPPORTED_UPDATE = ['KernelMemory', 'KernelMemoryTCP', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'DeviceCgroupRules', 'Ulimits', 'CpuCount', 'CpuPercent', 'IOMaximumIOps', 'IOMaximumBandwidth'];

export interface ContainerUpdateBackend {
  update(ref: string, upd: ContainerUpdate): Promise<{ warnings: string[] }>;
}

/** `POST /containers/{id}/update`. */
export class ContainerUpdateRouter implements Router {
  constructor(private readonly be: ContainerUpdateBackend) {}

  routes(): readonly Route[] {
    return [{ method: 'POST', path: '/containers/:id/update', handler: (q, r) => this.update(q, r) }];
  }

  private async update(req: ApiRequest, res: ApiResponse): Promise<void> {
    const body = (await readJson(req, UpdateBody)) as Record<string, unknown> & z.infer<typeof UpdateBody>;
    const bad = UNSUPPORTED_UPDATE.filter((k) => {
      const v = body[k];
      return v !== undefined && v !== null && v !== 0 && !(Array.isArray(v) && v.length === 0);
    });
    if (bad.length) throw new WharfError('Unsupported', `not implemented yet in update: ${bad.join(', ')}`);
    const upd: ContainerUpdate = { resources: resourcesFromHostConfig(body, 'body') };
    const rp = body.RestartPolicy;
    if (rp?.Name) {
      upd.restartPolicy = { name: rp.Name as RestartPolicy['name'], ...(rp.MaximumRetryCount ? { maximumRetryCount: rp.MaximumRetryCount } : {}) };
    }
    const r = await this.be.update(req.params.id!, upd);
    res.json(200, { Warnings: r.warnings });
  }
}
