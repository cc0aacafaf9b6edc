import type { Readable } from 'node:stream';
import { WharfError } from '../../core/errors.js';
import type { ContainerChange, PruneFilters, PutArchiveOptions } from '../../engine/containers/container-fs.js';
import { encodePathStat, type PathStat } from '../../engine/containers/rootfs-path.js';
import { parseFilters, parseTimestamp } from '../filters.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';

// A container's files: archive HEAD/GET/PUT (docker cp), export, changes (docker diff), prune.

/** What these routes need (ContainerFs satisfies it). */
export interface ContainerFsBackend {
  stat(ref: string, path: string): Promise<PathStat>;
  getArchive(ref: string, path: string, begin: (stat: PathStat) => NodeJS.WritableStream): Promise<void>;
  putArchive(ref: string, path: string, body: Readable, opts: PutArchiveOptions): Promise<void>;
  export(ref: string, begin: () => NodeJS.WritableStream): Promise<void>;
  changes(ref: string): Promise<ContainerChange[]>;
  prune(f: PruneFilters): Promise<{ deleted: string[]; reclaimed: number }>;
}

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

export class ContainerFsRouter implements Router {
  constructor(
    private readonly be: ContainerFsBackend,
    private readonly opts: { now?: () => number; onPrune?: (reclaimed: number) => void } = {},
  ) {}

  routes(): readonly Route[] {
    return [
      { method: 'HEAD', path: '/containers/:id/archive', handler: (q, r) => this.head(q, r) },
      { method: 'GET', path: '/containers/:id/archive', handler: (q, r) => this.get(q, r) },
      { method: 'PUT', path: '/containers/:id/archive', handler: (q, r) => this.put(q, r) },
      { method: 'GET', path: '/containers/:id/export', handler: (q, r) => this.be.export(q.params.id!, () => r.stream(200, 'application/x-tar')) },
      { method: 'GET', path: '/containers/:id/changes', handler: async (q, r) => r.json(200, await this.be.changes(q.params.id!)) },
      { method: 'POST', path: '/containers/prune', handler: (q, r) => this.prune(q, r) },
    ];
  }

  private async head(req: ApiRequest, res: ApiResponse): Promise<void> {
    const st = await this.be.stat(req.params.id!, pathParam(req));
    res.setHeader(STAT_HEADER, encodePathStat(st));
    res.empty(200);
  }

  private async get(req: ApiRequest, res: ApiResponse): Promise<void> {
    await this.be.getArchive(req.params.id!, pathParam(req), (st) => {
      res.setHeader(STAT_HEADER, encodePathStat(st));
      return res.stream(200, 'application/x-tar');
    });
  }

  private async put(req: ApiRequest, res: ApiResponse): Promise<void> {
    await this.be.putArchive(req.params.id!, pathParam(req), req.body, {
      noOverwriteDirNonDir: boolParam(req.query, 'noOverwriteDirNonDir'),
      copyUIDGID: boolParam(req.query, 'copyUIDGID'),
    });
    res.empty(200);
  }

  private async prune(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), ['until', 'label', 'label!']);
    const pf: PruneFilters = {};
    const until = f.get('until');
    if (until?.length) pf.until = Math.min(...until.map((u) => parseTimestamp(u, this.opts.now?.() ?? Date.now())));
    if (f.get('label')?.length) pf.label = f.get('label')!;
    if (f.get('label!')?.length) pf.labelNot = f.get('label!')!;
    const r = await this.be.prune(pf);
    this.opts.onPrune?.(r.reclaimed);
    res.json(200, { ContainersDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.reclaimed });
  }
}

function pathParam(req: ApiRequest): string {
  const p = req.query.get('path');
  if (!p) throw new WharfError('InvalidArgument', 'path is required');
  return p;
}
