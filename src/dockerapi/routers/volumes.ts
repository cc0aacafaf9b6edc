import { z } from 'zod';
import { invalid } from '../../core/errors.js';
import type { VolumeFilters, VolumeInspect, VolumeRecord } from '../../engine/volumes/volume-service.js';
import { readJson } from '../body.js';
import { boolFilter, parseFilters } from '../filters.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';

// The volume routes of the Docker Engine API: list (filters name, label, driver, dangling),
// create (local driver; idempotent for an existing name), inspect, remove (409 in use unless
// force), prune (anonymous volumes only unless the `all` filter).

/** What these routes need from the engine (VolumeService satisfies it). */
export interface VolumesBackend {
  list(filters?: VolumeFilters): VolumeRecord[];
  inspect(name: string): VolumeInspect;
  create(req: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string> }): Promise<VolumeRecord>;
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  prune(opts?: { all?: boolean; label?: string[] }): Promise<{ deleted: string[]; spaceReclaimed: number }>;
}

/** RFC 3339 without fractions, as moby prints volume CreatedAt. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** moby's volume.Volume JSON. */
export function volumeJson(v: VolumeRecord, usage?: { size: number; refCount: number }): Record<string, unknown> {
  return {
    CreatedAt: rfc3339(v.created),
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length ? v.options : null,
    Scope: 'local',
    ...(usage ? { UsageData: { Size: usage.size, RefCount: usage.refCount } } : {}),
  };
}

const CreateBody = z
  .object({
    Name: z.string().nullish(),
    Driver: z.string().nullish(),
    DriverOpts: z.record(z.string(), z.string()).nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
    ClusterVolumeSpec: z.unknown().optional(),
  })
  .passthrough();

const LIST_FILTERS = ['name', 'label', 'driver', 'dangling'] as const;
const PRUNE_FILTERS = ['label', 'all'] as const;

export class VolumesRouter implements Router {
  constructor(private readonly be: VolumesBackend) {}

  routes(): readonly Route[] {
    return [
      { method: 'GET', path: '/volumes', handler: (q, r) => this.list(q, r) },
      { method: 'POST', path: '/volumes/create', handler: (q, r) => this.create(q, r) },
      { method: 'POST', path: '/volumes/prune', handler: (q, r) => this.prune(q, r) },
      { method: 'GET', path: '/volumes/:name', handler: (q, r) => r.json(200, volumeJson(this.be.inspect(q.params.name!))) },
      { method: 'DELETE', path: '/volumes/:name', handler: (q, r) => this.remove(q, r) },
    ];
  }

  private list(req: ApiRequest, res: ApiResponse): void {
    const f = parseFilters(req.query.get('filters'), LIST_FILTERS);
    const filters: VolumeFilters = {};
    const name = f.get('name');
    if (name?.length) filters.name = name;
    const label = f.get('label');
    if (label?.length) filters.label = label;
    const driver = f.get('driver');
    if (driver?.length) filters.driver = driver;
    const dangling = boolFilter(f, 'dangling');
    if (dangling !== undefined) filters.dangling = dangling;
    res.json(200, { Volumes: this.be.list(filters).map((v) => volumeJson(v)), Warnings: null });
  }

  private async create(req: ApiRequest, res: ApiResponse): Promise<void> {
    const b = await readJson(req, CreateBody);
    if (b.ClusterVolumeSpec !== undefined && b.ClusterVolumeSpec !== null) throw invalid('cluster volumes need swarm mode, which Wharf does not have');
    const v = await this.be.create({
      ...(b.Name ? { name: b.Name } : {}),
      ...(b.Driver ? { driver: b.Driver } : {}),
      ...(b.Labels ? { labels: b.Labels } : {}),
      ...(b.DriverOpts ? { options: b.DriverOpts } : {}),
    });
    res.json(201, volumeJson(v));
  }

  private async remove(req: ApiRequest, res: ApiResponse): Promise<void> {
    await this.be.remove(req.params.name!, { force: boolParam(req.query, 'force') });
    res.empty(204);
  }

  private async prune(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), PRUNE_FILTERS);
    const all = boolFilter(f, 'all') === true;
    const label = f.get('label');
    const r = await this.be.prune({ all, ...(label?.length ? { label } : {}) });
    res.json(200, { VolumesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed });
  }
}
