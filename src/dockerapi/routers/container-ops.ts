import { WharfError } from '../../core/errors.js';
import type { TopResult } from '../../engine/containers/top.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';

// Container operations beside the lifecycle: resize, pause/unpause, rename, top.

/** What these routes need (ContainerService + top satisfy it). */
export interface ContainerOpsBackend {
  resize(ref: string, rows: number, cols: number): Promise<void>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  rename(ref: string, newName: string): void;
  top(ref: string, psArgs: string): Promise<TopResult>;
}

export class ContainerOpsRouter implements Router {
  constructor(private readonly be: ContainerOpsBackend) {}

  routes(): readonly Route[] {
    return [
      { method: 'POST', path: '/containers/:id/resize', handler: (q, r) => this.resize(q, r) },
      { method: 'POST', path: '/containers/:id/pause', handler: async (q, r) => (await this.be.pause(q.params.id!), r.empty(204)) },
      { method: 'POST', path: '/containers/:id/unpause', handler: async (q, r) => (await this.be.unpause(q.params.id!), r.empty(204)) },
      { method: 'POST', path: '/containers/:id/rename', handler: (q, r) => this.rename(q, r) },
      { method: 'GET', path: '/containers/:id/top', handler: async (q, r) => r.json(200, await this.be.top(q.params.id!, q.query.get('ps_args') ?? '')) },
    ];
  }

  private async resize(req: ApiRequest, res: ApiResponse): Promise<void> {
    const h = sizeParam(req.query.get('h'), 'h');
    const w = sizeParam(req.query.get('w'), 'w');
    await this.be.resize(req.params.id!, h, w);
    res.empty(200);
  }

  private rename(req: ApiRequest, res: ApiResponse): void {
    const name = req.query.get('name') ?? '';
    if (name.trim() === '') throw new WharfError('InvalidArgument', 'Neither old nor new names may be empty');
    this.be.rename(req.params.id!, name);
    res.empty(204);
  }
}

function sizeParam(v: string | null, name: string): number {
  const n = Number(v);
  if (v === null || v === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new WharfError('InvalidArgument', `invalid ${name}: ${JSON.stringify(v)}`);
  return n;
}
