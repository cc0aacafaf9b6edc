import { z } from 'zod';
import { WharfError } from '../../core/errors.js';
import type { CreateNetworkRequest, NetworkFilters, NetworkInspect } from '../../engine/networks/network-manager.js';
import type { NetworkRecord } from '../../engine/networks/types.js';
import { readJson } from '../body.js';
import { boolFilter, parseFilters } from '../filters.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';

// The network routes of the Docker Engine API: list/inspect/create/remove/prune and
// connect/disconnect of containers. Wire types keep Docker's PascalCase; the engine's records
// are converted here.

export interface NetworksBackend {
  list(filters?: NetworkFilters): NetworkRecord[];
  inspect(ref: string): NetworkInspect;
  createNetwork(req: CreateNetworkRequest): Promise<NetworkRecord>;
  removeNetwork(ref: string): Promise<void>;
  prune(filters?: { label?: string[] }): Promise<string[]>;
}

export interface NetworkContainersBackend {
  /** Resolves when containers' networking being freed in the background is gone. */
  idle(): Promise<void>;
  connect(network: string, container: string, cfg?: { ipv4?: string; aliases?: string[] }): Promise<void>;
  disconnect(network: string, container: string, opts?: { force?: boolean }): Promise<void>;
}

export interface NetworksRouterOptions {
  networks: NetworksBackend;
  containers: NetworkContainersBackend;
  onEvent?: (action: 'create' | 'destroy', n: NetworkRecord) => void;
}

const CreateBody = z
  .object({
    Name: z.string().min(1, 'Name is required'),
    Driver: z.string().nullish(),
    CheckDuplicate: z.boolean().nullish(),
    Internal: z.boolean().nullish(),
    Attachable: z.boolean().nullish(),
    Ingress: z.boolean().nullish(),
    EnableIPv6: z.boolean().nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
    Options: z.record(z.string(), z.string()).nullish(),
    Scope: z.string().nullish(),
    ConfigOnly: z.boolean().nullish(),
    ConfigFrom: z.object({ Network: z.string().nullish() }).passthrough().nullish(),
    IPAM: z
      .object({
        Driver: z.string().nullish(),
        Options: z.record(z.string(), z.string()).nullish(),
        Config: z
          .array(z.object({ Subnet: z.string().nullish(), Gateway: z.string().nullish(), IPRange: z.string().nullish(), AuxiliaryAddresses: z.record(z.string(), z.string()).nullish() }).passthrough())
          .nullish(),
      })
      .passthrough()
      .nullish(),
  })
  .passthrough();

const ConnectBody = z
  .object({
    Container: z.string().min(1, 'Container is required'),
    EndpointConfig: z
      .object({
        IPAMConfig: z.object({ IPv4Address: z.string().nullish(), IPv6Address: z.string().nullish(), LinkLocalIPs: z.array(z.string()).nullish() }).passthrough().nullish(),
        Aliases: z.array(z.string()).nullish(),
        Links: z.array(z.string()).nullish(),
        DriverOpts: z.record(z.string(), z.string()).nullish(),
      })
      .passthrough()
      .nullish(),
  })
  .passthrough();

const DisconnectBody = z.object({ Container: z.string().min(1, 'Container is required'), Force: z.boolean().nullish() }).passthrough();

const LIST_FILTERS = ['name', 'id', 'label', 'driver', 'type', 'dangling', 'scope'] as const;

/** A network in Docker's shape (GET /networks, GET /networks/{id}). */
export function toNetwork(n: NetworkRecord, endpoints?: NetworkInspect['endpoints']): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  const prefix = n.subnet.split('/')[1];
  for (const e of endpoints ?? []) {
    if (e.containerId.startsWith('pool:')) continue;
    containers[e.containerId] = { Name: e.containerName, EndpointID: e.id, MacAddress: e.mac, IPv4Address: `${e.ip}/${prefix}`, IPv6Address: '' };
  }
  const options: Record<string, string> = { ...n.options };
  if (!('com.docker.network.bridge.name' in options)) options['com.docker.network.bridge.name'] = n.bridge;
  if (!('com.docker.network.driver.mtu' in options)) options['com.docker.network.driver.mtu'] = String(n.mtu);
  return {
    Name: n.name,
    Id: n.id,
    Created: new Date(n.created).toISOString(),
    Scope: 'local',
    Driver: n.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }] },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: options,
    Labels: n.labels,
  };
}

export class NetworksRouter implements Router {
  constructor(private readonly o: NetworksRouterOptions) {}

  routes(): readonly Route[] {
    return [
      { method: 'GET', path: '/networks', handler: (q, r) => this.list(q, r) },
      { method: 'POST', path: '/networks/create', handler: (q, r) => this.create(q, r) },
      { method: 'POST', path: '/networks/prune', handler: (q, r) => this.prune(q, r) },
      { method: 'GET', path: '/networks/:id', handler: (q, r) => this.inspect(q, r) },
      { method: 'DELETE', path: '/networks/:id', handler: (q, r) => this.remove(q, r) },
      { method: 'POST', path: '/networks/:id/connect', handler: (q, r) => this.connect(q, r) },
      { method: 'POST', path: '/networks/:id/disconnect', handler: (q, r) => this.disconnect(q, r) },
    ];
  }

  private list(req: ApiRequest, res: ApiResponse): void {
    const f = parseFilters(req.query.get('filters'), LIST_FILTERS);
    const filters: NetworkFilters = {};
    const name = f.get('name');
    if (name?.length) filters.name = name;
    const id = f.get('id');
    if (id?.length) filters.id = id;
    const label = f.get('label');
    if (label?.length) filters.label = label;
    const driver = f.get('driver');
    if (driver?.length) filters.driver = driver;
    const type = f.get('type');
    if (type?.length) {
      for (const t of type) if (t !== 'custom' && t !== 'builtin') throw new WharfError('InvalidArgument', `invalid filter: 'type'='${t}'`);
      filters.type = type as Array<'custom' | 'builtin'>;
    }
    const dangling = boolFilter(f, 'dangling');
    if (dangling !== undefined) filters.dangling = dangling;
    const scope = f.get('scope');
    let rows = this.o.networks.list(filters);
    if (scope?.length && !scope.includes('local')) rows = [];
    res.json(
      200,
      rows.map((n) => toNetwork(n, this.o.networks.inspect(n.id).endpoints)),
    );
  }

  private inspect(req: ApiRequest, res: ApiResponse): void {
    const n = this.o.networks.inspect(req.params.id!);
    const scope = req.query.get('scope');
    if (scope && scope !== 'local') throw new WharfError('NotFound', `network ${req.params.id} not found`);
    res.json(200, toNetwork(n, n.endpoints));
  }

  private async create(req: ApiRequest, res: ApiResponse): Promise<void> {
    const b = await readJson(req, CreateBody);
    if (b.EnableIPv6) throw new WharfError('Unsupported', 'IPv6 networks are not implemented yet');
    if (b.Ingress || b.ConfigOnly || b.ConfigFrom?.Network) throw new WharfError('Unsupported', 'ingress and config-only networks are not supported (no swarm)');
    if (b.Scope && b.Scope !== 'local') throw new WharfError('Unsupported', `network scope ${b.Scope} is not supported (only local)`);
    if (b.IPAM?.Driver && b.IPAM.Driver !== 'default') throw new WharfError('Unsupported', `IPAM driver ${b.IPAM.Driver} is not supported (only default)`);
    const cfgs = b.IPAM?.Config ?? [];
    if (cfgs.length > 1) throw new WharfError('Unsupported', 'more than one IPAM config (subnet) per network is not implemented yet');
    const c = cfgs[0];
    if (c?.AuxiliaryAddresses && Object.keys(c.AuxiliaryAddresses).length) throw new WharfError('Unsupported', 'auxiliary addresses are not implemented yet');
    if (c?.Subnet && c.Subnet.includes(':')) throw new WharfError('Unsupported', 'IPv6 subnets are not implemented yet');
    const r: CreateNetworkRequest = { name: b.Name };
    if (b.Driver) r.driver = b.Driver;
    if (c?.Subnet) r.subnet = c.Subnet;
    if (c?.Gateway) r.gateway = c.Gateway;
    if (c?.IPRange) r.ipRange = c.IPRange;
    if (b.Internal) r.internal = true;
    if (b.Labels) r.labels = b.Labels;
    if (b.Options) r.options = b.Options;
    const n = await this.o.networks.createNetwork(r);
    this.o.onEvent?.('create', n);
    res.json(201, { Id: n.id, Warning: '' });
  }

  private async remove(req: ApiRequest, res: ApiResponse): Promise<void> {
    const n = this.o.networks.inspect(req.params.id!);
    await this.o.containers.idle(); // a container removed just before no longer holds an endpoint
    await this.o.networks.removeNetwork(n.id);
    this.o.onEvent?.('destroy', n);
    res.empty(204);
  }

  private async prune(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), ['label', 'until']);
    if (f.get('until')?.length) throw new WharfError('Unsupported', "prune filter 'until' is not implemented yet");
    const label = f.get('label');
    await this.o.containers.idle();
    const before = new Map(this.o.networks.list().map((n) => [n.name, n]));
    const names = await this.o.networks.prune(label?.length ? { label } : {});
    for (const name of names) {
      const n = before.get(name);
      if (n) this.o.onEvent?.('destroy', n);
    }
    res.json(200, { NetworksDeleted: names });
  }

  private async connect(req: ApiRequest, res: ApiResponse): Promise<void> {
    const b = await readJson(req, ConnectBody);
    const ec = b.EndpointConfig ?? {};
    if (ec.IPAMConfig?.IPv6Address) throw new WharfError('Unsupported', 'IPv6 addresses are not implemented yet');
    if (ec.Links?.length) throw new WharfError('Unsupported', 'links at connect are not implemented yet; use --link at create');
    const cfg: { ipv4?: string; aliases?: string[] } = {};
    if (ec.IPAMConfig?.IPv4Address) cfg.ipv4 = ec.IPAMConfig.IPv4Address;
    if (ec.Aliases?.length) cfg.aliases = ec.Aliases;
    await this.o.containers.connect(req.params.id!, b.Container, cfg);
    res.empty(200);
  }

  private async disconnect(req: ApiRequest, res: ApiResponse): Promise<void> {
    const b = await readJson(req, DisconnectBody);
    await this.o.containers.disconnect(req.params.id!, b.Container, { force: b.Force === true });
    res.empty(200);
  }
}
