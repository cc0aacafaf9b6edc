import { hostname as osHostname } from 'node:os';
import { z } from 'zod';
import { WharfError, errorMessage } from '../../core/errors.js';
import type { ContainerCreateRequest, ContainerRecord } from '../../engine/containers/types.js';
import type { WaitCondition, WaitResult } from '../../engine/containers/container-service.js';
import type { AttachStream } from '../../engine/runtime/attach.js';
import type { LogEntry, LogReadOptions } from '../../engine/containers/container-logs.js';
import type { CreateOptions } from '../../engine/runtime/spec.js';
import type { ContainerNetworkRequest } from '../../engine/containers/network-hook.js';
import { containerNetworkSettings, containerPortsSummary, hostConfigNetwork, type ContainerNetworkView } from './container-network.js';
import { readJson } from '../body.js';
import { parseFilters, parseTimestamp } from '../filters.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';
import { STDERR, STDOUT, encodeFrames } from '../stdcopy.js';
import { logOptionsFromHostConfig, resourcesFromHostConfig, resourcesToHostConfig } from './container-resources.js';
import { ApiMount, mountPointsJson, storageFromApi } from './container-mounts.js';
import { humanDuration } from '../../core/units.js';

// The container routes of the Docker Engine API (first slice: what `docker run/ps/logs/stop/rm`
// need). Containers get a new, empty network namespace (`--network none` semantics) for now.

/** What these routes need from the engine (ContainerService satisfies it). */
export interface ContainersBackend {
  create(req: ContainerCreateRequest): Promise<{ id: string; warnings: string[] }>;
  start(ref: string): Promise<void>;
  stop(ref: string, opts?: { timeoutSec?: number; signal?: string }): Promise<void>;
  restart(ref: string, opts?: { timeoutSec?: number }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts?: { force?: boolean; removeVolumes?: boolean }): Promise<void>;
  wait(ref: string, condition?: WaitCondition, signal?: AbortSignal): Promise<WaitResult>;
  list(opts?: { all?: boolean }): ContainerRecord[];
  inspect(ref: string): ContainerRecord;
  attachAtStart(ref: string, signal?: AbortSignal): Promise<AttachStream>;
}

/** A container's log as entries (the engine's ContainerLogReader satisfies it). */
export interface ContainerLogsBackend {
  read(ref: string, opts?: LogReadOptions): AsyncIterable<LogEntry>;
}

const strList = z.array(z.string()).nullish();
const CreateBody = z.object({
  Image: z.string().min(1, 'Image is required'),
  Cmd: z.union([strList, z.string()]),
  Entrypoint: z.union([strList, z.string()]),
  Env: strList,
  WorkingDir: z.string().nullish(),
  User: z.string().nullish(),
  Hostname: z.string().nullish(),
  Domainname: z.string().nullish(),
  Tty: z.boolean().nullish(),
  OpenStdin: z.boolean().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  StopSignal: z.string().nullish(),
  StopTimeout: z.number().int().nullish(),
  Volumes: z.record(z.string(), z.unknown()).nullish(),
  HostConfig: z
    .object({
      AutoRemove: z.boolean().nullish(),
      Privileged: z.boolean().nullish(),
      ReadonlyRootfs: z.boolean().nullish(),
      CapAdd: strList,
      CapDrop: strList,
      Init: z.boolean().nullish(),
      RestartPolicy: z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().int().nullish() }).nullish(),
      NetworkMode: z.string().nullish(),
      Binds: strList,
      Mounts: z.array(ApiMount).nullish(),
      VolumesFrom: strList,
      Tmpfs: z.record(z.string(), z.string()).nullish(),
      PortBindings: z.record(z.string(), z.array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() }).passthrough()).nullish()).nullish(),
      PublishAllPorts: z.boolean().nullish(),
      Links: strList,
      Dns: strList,
      DnsSearch: strList,
      DnsOptions: strList,
      ExtraHosts: strList,
    })
    .passthrough()
    .nullish(),
  ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
  NetworkingConfig: z
    .object({
      EndpointsConfig: z
        .record(
          z.string(),
          z
            .object({
              IPAMConfig: z.object({ IPv4Address: z.string().nullish(), IPv6Address: z.string().nullish() }).passthrough().nullish(),
              Aliases: strList,
              Links: strList,
            })
            .passthrough()
            .nullish(),
        )
        .nullish(),
    })
    .passthrough()
    .nullish(),
}).passthrough();
type CreateBody = z.infer<typeof CreateBody>;

const asList = (v: string[] | string | null | undefined): string[] | undefined => (v == null ? undefined : typeof v === 'string' ? [v] : v);

const UNSUPPORTED_HOST_FIELDS = ['Devices'];

function isEmptyField(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/** Docker's create body → the engine's request (fields the engine supports; storage/network fields are refused until wired). */
export function toCreateRequest(name: string | undefined, b: CreateBody): ContainerCreateRequest {
  const h = b.HostConfig ?? {};
  // Fields the engine does not wire yet are refused, never silently dropped (the CLI sends empty defaults).
  const hostCfg = h as Record<string, unknown>;
  const unsupported = UNSUPPORTED_HOST_FIELDS.filter((f) => !isEmptyField(hostCfg[f]));
  if (unsupported.length) {
    throw new WharfError('Unsupported', `not implemented yet: ${unsupported.join(', ')}`);
  }
  const st = storageFromApi({ Binds: h.Binds, Mounts: h.Mounts, VolumesFrom: h.VolumesFrom, Tmpfs: h.Tmpfs, Volumes: b.Volumes });
  const network = toNetworkRequest(b);
  const options: CreateOptions = {};
  if (st.tmpfs) options.tmpfs = st.tmpfs;
  const cmd = asList(b.Cmd);
  if (cmd !== undefined) options.cmd = cmd;
  const ep = asList(b.Entrypoint);
  if (ep !== undefined) options.entrypoint = ep;
  if (b.Env) options.env = b.Env;
  if (b.WorkingDir) options.workingDir = b.WorkingDir;
  if (b.User) options.user = b.User;
  if (b.Hostname) options.hostname = b.Hostname;
  else if (network.mode === 'host') options.hostname = osHostname();
  if (b.Domainname) options.domainname = b.Domainname;
  if (b.Tty) options.tty = true;
  if (b.StopSignal) options.stopSignal = b.StopSignal;
  if (h.Privileged) options.privileged = true;
  if (h.ReadonlyRootfs) options.readonlyRootfs = true;
  if (h.CapAdd?.length) options.capAdd = h.CapAdd;
  if (h.CapDrop?.length) options.capDrop = h.CapDrop;
  if (h.Init) options.initPath = 'default';
  const res = resourcesFromHostConfig(hostCfg);
  if (Object.keys(res).length) options.resources = res;
  const req: ContainerCreateRequest = { image: b.Image, options, network };
  const log = logOptionsFromHostConfig(hostCfg);
  if (log) req.log = log;
  if (name) req.name = name;
  if (b.Labels) req.labels = b.Labels;
  if (b.OpenStdin) req.openStdin = true;
  if (b.StopTimeout != null) req.stopTimeout = b.StopTimeout;
  if (h.AutoRemove) req.autoRemove = true;
  if (st.storage) req.storage = st.storage;
  const rp = h.RestartPolicy;
  if (rp?.Name) {
    req.restartPolicy = { name: rp.Name as 'no', ...(rp.MaximumRetryCount ? { maximumRetryCount: rp.MaximumRetryCount } : {}) };
  }
  return req;
}

/** Docker's network fields of a create body → the engine's network request. */
export function toNetworkRequest(b: CreateBody): ContainerNetworkRequest {
  const h = b.HostConfig ?? {};
  const mode = !h.NetworkMode || h.NetworkMode === 'default' ? 'bridge' : h.NetworkMode;
  const net: ContainerNetworkRequest = { mode };
  const eps = b.NetworkingConfig?.EndpointsConfig ?? {};
  const endpoints: NonNullable<ContainerNetworkRequest['endpoints']> = {};
  for (const [name, ec] of Object.entries(eps)) {
    if (ec?.IPAMConfig?.IPv6Address) throw new WharfError('Unsupported', 'IPv6 addresses are not implemented yet');
    const key = name === 'default' ? 'bridge' : name;
    endpoints[key] = { ...(ec?.IPAMConfig?.IPv4Address ? { ipv4: ec.IPAMConfig.IPv4Address } : {}), ...(ec?.Aliases?.length ? { aliases: ec.Aliases } : {}) };
    if (ec?.Links?.length) net.links = [...(net.links ?? []), ...ec.Links];
  }
  if (Object.keys(endpoints).length) net.endpoints = endpoints;
  const ports: NonNullable<ContainerNetworkRequest['ports']> = [];
  for (const [key, binds] of Object.entries(h.PortBindings ?? {})) {
    const { port, proto } = parsePortKey(key);
    for (const pb of binds ?? [{}]) {
      const hostIp = pb.HostIp && pb.HostIp !== '0.0.0.0' ? pb.HostIp : '';
      if (hostIp && !/^\d{1,3}(\.\d{1,3}){3}$/.test(hostIp)) {
        throw new WharfError(hostIp.includes(':') ? 'Unsupported' : 'InvalidArgument', hostIp.includes(':') ? `IPv6 host address ${hostIp} is not implemented yet` : `invalid host IP ${JSON.stringify(hostIp)}`);
      }
      const hp = pb.HostPort ?? '';
      const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
      if (hp !== '' && !m) throw new WharfError('InvalidArgument', `invalid host port ${JSON.stringify(hp)}`);
      const a = m ? Number(m[1]) : 0;
      const e = m?.[2] ? Number(m[2]) : undefined;
      if (a > 65535 || (e !== undefined && (e > 65535 || e < a))) throw new WharfError('InvalidArgument', `invalid host port ${hp}: out of range 1-65535`);
      ports.push({ hostIp, hostPort: a, ...(e !== undefined && e !== a ? { hostPortEnd: e } : {}), containerPort: port, proto });
    }
  }
  if (ports.length) net.ports = ports;
  if (h.PublishAllPorts) net.publishAll = true;
  const exposed = Object.keys(b.ExposedPorts ?? {});
  for (const k of exposed) parsePortKey(k);
  if (exposed.length) net.exposed = exposed;
  if (h.Links?.length) net.links = [...(net.links ?? []), ...h.Links];
  if (h.Dns?.length) net.dns = h.Dns;
  if (h.DnsSearch?.length) net.dnsSearch = h.DnsSearch;
  if (h.DnsOptions?.length) net.dnsOptions = h.DnsOptions;
  if (h.ExtraHosts?.length) net.extraHosts = h.ExtraHosts;
  return net;
}

/** "80/tcp" → port and protocol (400 when out of range). */
function parsePortKey(key: string): { port: number; proto: 'tcp' | 'udp' } {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
  if (!m) throw new WharfError('InvalidArgument', `invalid port ${JSON.stringify(key)}`);
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new WharfError('InvalidArgument', `invalid port ${key}: out of range 1-65535`);
  if (m[2] === 'sctp') throw new WharfError('Unsupported', 'sctp ports are not implemented yet');
  return { port, proto: (m[2] ?? 'tcp') as 'tcp' | 'udp' };
}

function effectiveCmd(r: ContainerRecord): { path: string; args: string[]; entrypoint: string[] | null; cmd: string[] | null } {
  const o = r.request.options;
  const entrypoint = o.entrypoint !== undefined ? o.entrypoint : (r.imageConfig.entrypoint ?? null);
  const cmd = o.cmd !== undefined ? o.cmd : o.entrypoint !== undefined ? null : (r.imageConfig.cmd ?? null);
  const all = [...(entrypoint ?? []), ...(cmd ?? [])];
  return { path: all[0] ?? '', args: all.slice(1), entrypoint, cmd };
}

/** Docker's State.String(): "Up 3 seconds", "Exited (0) 2 seconds ago", "Created", … */
export function statusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  const since = (iso: string) => humanDuration(Math.max(0, now - Date.parse(iso)));
  if (s.status === 'running' || s.status === 'paused') {
    if (s.status === 'paused') return `Up ${since(s.startedAt)} (Paused)`;
    if (s.health) return `Up ${since(s.startedAt)} (${s.health.status === 'starting' ? 'health: starting' : s.health.status})`;
    return `Up ${since(s.startedAt)}`;
  }
  if (s.status === 'restarting') return `Restarting (${s.exitCode}) ${since(s.finishedAt)} ago`;
  if (s.status === 'removing') return 'Removal In Progress';
  if (s.status === 'dead') return 'Dead';
  if (!s.startedAt) return 'Created';
  if (!s.finishedAt) return '';
  return `Exited (${s.exitCode}) ${since(s.finishedAt)} ago`;
}

export function toSummary(r: ContainerRecord, net?: ContainerNetworkView): Record<string, unknown> {
  const c = effectiveCmd(r);
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: r.image,
    ImageID: r.imageId,
    Command: [c.path, ...c.args].join(' '),
    Created: Math.floor(Date.parse(r.createdAt) / 1000),
    Ports: containerPortsSummary(r, net),
    Labels: r.request.labels ?? {},
    State: r.state.status,
    Status: statusText(r),
    HostConfig: { NetworkMode: hostConfigNetwork(r).NetworkMode },
    NetworkSettings: { Networks: (containerNetworkSettings(r, net) as { Networks: unknown }).Networks },
    Mounts: mountPointsJson(r),
  };
}

export function toInspect(r: ContainerRecord, net?: ContainerNetworkView): Record<string, unknown> {
  const s = r.state;
  const o = r.request.options;
  const c = effectiveCmd(r);
  return {
    Id: r.id,
    Created: r.createdAt,
    Path: c.path,
    Args: c.args,
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt || '0001-01-01T00:00:00Z',
      FinishedAt: s.finishedAt || '0001-01-01T00:00:00Z',
      ...(s.health ? { Health: { Status: s.health.status, FailingStreak: s.health.failingStreak, Log: s.health.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })) } } : {}),
    },
    Image: r.imageId,
    Name: `/${r.name}`,
    RestartCount: s.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    LogPath: r.logPath,
    HostConfig: {
      ...hostConfigNetwork(r),
      AutoRemove: r.request.autoRemove === true,
      Privileged: o.privileged === true,
      ReadonlyRootfs: o.readonlyRootfs === true,
      RestartPolicy: { Name: r.request.restartPolicy?.name ?? 'no', MaximumRetryCount: r.request.restartPolicy?.maximumRetryCount ?? 0 },
      ...resourcesToHostConfig(o.resources, r.request.log),
      CapAdd: o.capAdd ?? null,
      CapDrop: o.capDrop ?? null,
      Tmpfs: o.tmpfs ?? null,
      VolumesFrom: r.request.storage?.volumesFrom?.map((v) => (v.mode ? `${v.container}:${v.mode}` : v.container)) ?? null,
    },
    Mounts: mountPointsJson(r),
    Config: {
      Hostname: o.hostname ?? r.id.slice(0, 12),
      Domainname: o.domainname ?? '',
      User: o.user ?? r.imageConfig.user ?? '',
      Tty: o.tty === true,
      OpenStdin: r.request.openStdin === true,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Env: [...(r.imageConfig.env ?? []), ...(o.env ?? [])],
      Cmd: c.cmd,
      Entrypoint: c.entrypoint,
      Image: r.image,
      WorkingDir: o.workingDir ?? r.imageConfig.workingDir ?? '',
      Labels: r.request.labels ?? {},
      StopSignal: o.stopSignal || r.imageConfig.stopSignal || 'SIGTERM',
      ...(r.request.stopTimeout !== undefined ? { StopTimeout: r.request.stopTimeout } : {}),
      ...(r.request.network?.exposed?.length || r.imageConfig.exposedPorts?.length
        ? { ExposedPorts: Object.fromEntries([...(r.imageConfig.exposedPorts ?? []), ...(r.request.network?.exposed ?? [])].map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])) }
        : {}),
    },
    NetworkSettings: containerNetworkSettings(r, net),
  };
}

const LIST_FILTERS = ['id', 'name', 'status', 'label', 'ancestor', 'exited', 'volume', 'before', 'since'] as const;
const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

/** Docker's `name` filter is a regular expression over "/name" (a bad one falls back to a substring). */
function nameMatches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(`/${name}`);
  } catch {
    return name.includes(pattern.replace(/^\//, ''));
  }
}

/** Optional list extras (container sizes for `size=1`). */
export interface ContainersListExtras {
  sizes?: (id: string) => Promise<{ sizeRw: number; sizeRootFs: number }>;
}

export class ContainersRouter implements Router {
  constructor(
    private readonly be: ContainersBackend,
    private readonly logsBe: ContainerLogsBackend,
    private readonly extras: ContainersListExtras = {},
    private readonly net?: ContainerNetworkView,
  ) {}

  routes(): readonly Route[] {
    return [
      { method: 'POST', path: '/containers/create', handler: (q, r) => this.create(q, r) },
      { method: 'GET', path: '/containers/json', handler: (q, r) => this.list(q, r) },
      { method: 'GET', path: '/containers/:id/json', handler: (q, r) => r.json(200, toInspect(this.be.inspect(q.params.id!), this.net)) },
      { method: 'POST', path: '/containers/:id/start', handler: (q, r) => this.start(q, r) },
      { method: 'POST', path: '/containers/:id/wait', handler: (q, r) => this.wait(q, r) },
      { method: 'POST', path: '/containers/:id/attach', handler: (q, r) => this.attach(q, r) },
      { method: 'GET', path: '/containers/:id/logs', handler: (q, r) => this.logs(q, r) },
      { method: 'POST', path: '/containers/:id/stop', handler: (q, r) => this.stop(q, r) },
      { method: 'POST', path: '/containers/:id/restart', handler: (q, r) => this.restart(q, r) },
      { method: 'POST', path: '/containers/:id/kill', handler: (q, r) => this.kill(q, r) },
      { method: 'DELETE', path: '/containers/:id', handler: (q, r) => this.remove(q, r) },
    ];
  }

  private async create(req: ApiRequest, res: ApiResponse): Promise<void> {
    const body = await readJson(req, CreateBody);
    const r = await this.be.create(toCreateRequest(req.query.get('name') ?? undefined, body));
    res.json(201, { Id: r.id, Warnings: r.warnings });
  }

  private async list(req: ApiRequest, res: ApiResponse): Promise<void> {
    const f = parseFilters(req.query.get('filters'), LIST_FILTERS);
    let rows = this.be.list({ all: boolParam(req.query, 'all') || (f.get('status')?.length ?? 0) > 0 || (f.get('exited')?.length ?? 0) > 0 });
    const id = f.get('id');
    if (id?.length) rows = rows.filter((r) => id.some((x) => r.id.startsWith(x)));
    const name = f.get('name');
    if (name?.length) rows = rows.filter((r) => name.some((x) => nameMatches(x, r.name)));
    const st = f.get('status');
    for (const v of st ?? []) if (!STATUSES.includes(v)) throw new WharfError('InvalidArgument', `invalid filter 'status=${v}'`);
    if (st?.length) rows = rows.filter((r) => st.includes(r.state.status));
    // before/since: relative to another container's creation (by ID, prefix or name).
    for (const key of ['before', 'since'] as const) {
      for (const ref of f.get(key) ?? []) {
        const at = this.be.inspect(ref).createdAt;
        rows = rows.filter((r) => (key === 'before' ? r.createdAt < at : r.createdAt > at));
      }
    }
    const ex = f.get('exited');
    if (ex?.length) rows = rows.filter((r) => r.state.status === 'exited' && ex.includes(String(r.state.exitCode)));
    const anc = f.get('ancestor');
    if (anc?.length) rows = rows.filter((r) => anc.some((a) => r.image === a || r.imageId === a || r.imageId.startsWith(`sha256:${a}`)));
    const vol = f.get('volume');
    if (vol?.length) rows = rows.filter((r) => (r.mounts ?? []).some((m) => vol.includes(m.destination) || (m.name !== undefined && vol.includes(m.name))));
    const lbl = f.get('label');
    if (lbl?.length) {
      rows = rows.filter((r) => lbl.every((l) => {
        const [k, v] = l.split('=', 2) as [string, string | undefined];
        const labels = r.request.labels ?? {};
        return v === undefined ? k in labels : labels[k] === v;
      }));
    }
    rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const out = rows.map((r) => toSummary(r, this.net));
    if (boolParam(req.query, 'size') && this.extras.sizes) {
      for (const [i, r] of rows.entries()) {
        const sz = await this.extras.sizes(r.id).catch(() => ({ sizeRw: 0, sizeRootFs: 0 }));
        Object.assign(out[i]!, { SizeRw: sz.sizeRw, SizeRootFs: sz.sizeRootFs });
      }
    }
    res.json(200, out);
  }

  private async start(req: ApiRequest, res: ApiResponse): Promise<void> {
    await this.be.start(req.params.id!);
    res.empty(204);
  }

  private async wait(req: ApiRequest, res: ApiResponse): Promise<void> {
    const cond = (req.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw new WharfError('InvalidArgument', `invalid condition: "${cond}"`);
    const rec = this.be.inspect(req.params.id!);
    const p = this.be.wait(rec.id, cond, req.signal);
    const out = res.stream(200, 'application/json');
    try {
      const r = await p;
      out.end(`${JSON.stringify({ StatusCode: r.exitCode, Error: r.error ? { Message: r.error } : null })}\n`);
    } catch (e) {
      if (!req.signal.aborted) out.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: errorMessage(e) } })}\n`);
      else out.end();
    }
  }

  private async attach(req: ApiRequest, res: ApiResponse): Promise<void> {
    const rec = this.be.inspect(req.params.id!);
    const tty = rec.request.options.tty === true;
    const wantOut = boolParam(req.query, 'stdout');
    const wantErr = boolParam(req.query, 'stderr');
    const wantIn = boolParam(req.query, 'stdin');
    const wantStream = boolParam(req.query, 'stream');
    const conn = res.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    if (boolParam(req.query, 'logs')) {
      // Replay what the container wrote so far (Docker's attach `logs=1`), then stream if asked.
      if (wantOut || wantErr) {
        for await (const e of this.logsBe.read(rec.id, { stdout: wantOut, stderr: wantErr })) {
          const b = Buffer.from(e.text);
          conn.output.write(tty ? b : encodeFrames(e.stream === 'stdout' ? STDOUT : STDERR, b));
        }
      }
    }
    if (!wantStream) {
      conn.input.resume();
      conn.close();
      return;
    }
    const abort = new AbortController();
    conn.output.on('close', () => abort.abort());
    let stream: AttachStream;
    try {
      stream = await this.be.attachAtStart(rec.id, abort.signal);
    } catch {
      conn.close();
      return;
    }
    const send = (kind: number, b: Buffer) => {
      if (conn.output.writableEnded || conn.output.destroyed) return;
      conn.output.write(tty ? b : encodeFrames(kind as 1 | 2, b));
    };
    if (wantOut) stream.on('stdout', (b) => send(STDOUT, b));
    if (wantErr) stream.on('stderr', (b) => send(STDERR, b));
    stream.on('error', () => undefined);
    if (wantIn && rec.request.openStdin) {
      conn.input.on('data', (b: Buffer) => void stream.write(b));
      conn.input.on('end', () => stream.end());
    } else conn.input.resume();
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      conn.output.once('close', resolve);
    });
    stream.close();
    conn.close();
  }

  private async logs(req: ApiRequest, res: ApiResponse): Promise<void> {
    const rec = this.be.inspect(req.params.id!);
    const wantOut = boolParam(req.query, 'stdout');
    const wantErr = boolParam(req.query, 'stderr');
    if (!wantOut && !wantErr) throw new WharfError('InvalidArgument', 'You must choose at least one stream');
    const timestamps = boolParam(req.query, 'timestamps');
    const tailQ = req.query.get('tail') ?? 'all';
    const tail = tailQ === 'all' || tailQ === '' ? Infinity : Number(tailQ);
    if (!Number.isFinite(tail) && tailQ !== 'all' && tailQ !== '') throw new WharfError('InvalidArgument', `invalid tail: ${tailQ}`);
    const now = Date.now();
    const since = req.query.get('since');
    const until = req.query.get('until');
    const opts: LogReadOptions = {
      follow: boolParam(req.query, 'follow'),
      stdout: wantOut,
      stderr: wantErr,
      signal: req.signal,
      ...(tail !== Infinity && tail >= 0 ? { tail: Math.floor(tail) } : {}),
      // Docker sends since=0 for "no since".
      ...(since && since !== '0' ? { since: parseTimestamp(since, now) } : {}),
      ...(until && until !== '0' ? { until: parseTimestamp(until, now) } : {}),
    };
    const entries = this.logsBe.read(rec.id, opts);
    const tty = rec.request.options.tty === true;
    const out = res.stream(200, tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    for await (const e of entries) {
      const text = Buffer.from(timestamps ? `${e.time} ${e.text}` : e.text);
      out.write(tty ? text : encodeFrames(e.stream === 'stdout' ? STDOUT : STDERR, text));
    }
    out.end();
  }

  private async stop(req: ApiRequest, res: ApiResponse): Promise<void> {
    const t = req.query.get('t');
    const signal = req.query.get('signal');
    await this.be.stop(req.params.id!, { ...(t ? { timeoutSec: intParam('t', t) } : {}), ...(signal ? { signal } : {}) });
    res.empty(204);
  }

  private async restart(req: ApiRequest, res: ApiResponse): Promise<void> {
    const t = req.query.get('t');
    await this.be.restart(req.params.id!, t ? { timeoutSec: intParam('t', t) } : {});
    res.empty(204);
  }

  private async kill(req: ApiRequest, res: ApiResponse): Promise<void> {
    await this.be.kill(req.params.id!, req.query.get('signal') || 'SIGKILL');
    res.empty(204);
  }

  private async remove(req: ApiRequest, res: ApiResponse): Promise<void> {
    if (boolParam(req.query, 'link')) throw new WharfError('Unsupported', 'links are not implemented');
    await this.be.remove(req.params.id!, { force: boolParam(req.query, 'force'), removeVolumes: boolParam(req.query, 'v') });
    res.empty(204);
  }
}

function intParam(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new WharfError('InvalidArgument', `invalid ${name}: ${v}`);
  return n;
}
