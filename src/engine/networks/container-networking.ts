import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import { WharfError, conflict, invalid, notFound } from '../../core/errors.js';
import type { ContainerNetworkHook, ContainerNetworkRequest, Sandbox } from '../containers/network-hook.js';
import type { ContainerRecord } from '../containers/types.js';
import type { BindMount } from '../runtime/spec.js';
import type { Runner } from './ip-driver.js';
import { DEFAULT_NETWORK, type AttachRequest, type NetworkManager } from './network-manager.js';
import type { NetnsPool } from './netns-pool.js';
import { parseAddHost, renderHosts, renderResolvConf } from './etc-files.js';
import type { PortMapping, Proto } from './ports.js';
import type { Endpoint, EndpointRecord, Link, NetworkRecord } from './types.js';

// Implements the containers engine's network hook on top of NetworkManager: at start a network
// namespace (from the warm pool when it fits, else `ip netns add`) attached to the container's
// networks, published ports, and the per-container /etc/hosts, /etc/resolv.conf, /etc/hostname;
// at exit/removal everything is freed. Modes: bridge (default), host, none, container:<ref>, a
// user network. Namespaces Wharf makes are named `<prefix>…` in /run/netns so they outlive the
// daemon (live restore) and can be found again.

/** What this needs of the containers engine (ContainerService satisfies it). */
export interface ContainerLookup {
  inspect(ref: string): ContainerRecord;
  list(opts: { all: boolean }): ContainerRecord[];
  setNetworkRequest(ref: string, network: ContainerNetworkRequest): ContainerRecord;
}

export interface ContainerNetworkingOptions {
  manager: NetworkManager;
  pool?: NetnsPool;
  runner: Runner;
  logger: Logger;
  dataRoot: string;
  /** Name prefix of this daemon's namespaces in /run/netns. */
  netnsPrefix: string;
  /** Set once the containers engine exists (it is constructed with this hook). */
  containers: () => ContainerLookup;
  onEvent?: (action: 'connect' | 'disconnect', network: NetworkRecord, containerId: string) => void;
  hostsPath?: string;
  resolvConfPath?: string;
}

export interface ContainerEndpointView {
  network: NetworkRecord;
  endpoint: EndpointRecord;
  prefixLen: number;
}

const RUN_NETNS = '/run/netns';

/** `default` and '' mean the default bridge. */
export function normalizeMode(mode: string | undefined): string {
  return !mode || mode === 'default' ? DEFAULT_NETWORK : mode;
}

export function isSpecialMode(mode: string): boolean {
  return mode === 'host' || mode === 'none' || mode.startsWith('container:');
}

/** `--link name[:alias]` → name and alias. */
export function parseLink(spec: string): { name: string; alias: string } {
  const [name, alias] = spec.replace(/^\//, '').split(':', 2) as [string, string | undefined];
  if (!name) throw invalid(`invalid link ${JSON.stringify(spec)}: expected name[:alias]`);
  return { name, alias: (alias ?? name).replace(/^.*\//, '') };
}

/** The ports a container publishes: its bindings, plus every exposed port on an ephemeral host port with -P. */
export function resolvePorts(req: ContainerNetworkRequest, imageExposed: readonly string[] = []): PortMapping[] {
  const out: PortMapping[] = (req.ports ?? []).map((p) => ({ ...p }));
  if (req.publishAll) {
    for (const spec of new Set([...imageExposed, ...(req.exposed ?? [])])) {
      const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/.exec(spec);
      if (!m) throw invalid(`invalid exposed port ${JSON.stringify(spec)}`);
      const proto = (m[3] ?? 'tcp') as Proto | 'sctp';
      if (proto === 'sctp') continue;
      const a = Number(m[1]);
      const b = m[2] ? Number(m[2]) : a;
      for (let port = a; port <= b; port++) {
        if (!out.some((p) => p.containerPort === port && p.proto === proto)) out.push({ hostIp: '', hostPort: 0, containerPort: port, proto });
      }
    }
  }
  for (const p of out) {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) throw invalid(`invalid container port ${p.containerPort}: out of range 1-65535`);
    if (!Number.isInteger(p.hostPort) || p.hostPort < 0 || p.hostPort > 65535) throw invalid(`invalid host port ${p.hostPort}: out of range 1-65535`);
  }
  return out;
}

export class ContainerNetworking implements ContainerNetworkHook {
  /** Teardowns still running, by container: the next setup of that container waits for its own. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly o: ContainerNetworkingOptions) {}

  /** Resolves when every teardown started so far has finished (daemon stop, tests). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending.values()]);
  }

  private filesDir(id: string): string {
    return join(this.o.dataRoot, 'containers', id);
  }

  private ownNetns(id: string): string {
    return `${this.o.netnsPrefix}c${id.slice(0, 16)}`;
  }

  /** Networks the container joins, first the mode's (bridge modes only). */
  private networksOf(req: ContainerNetworkRequest): string[] {
    const mode = normalizeMode(req.mode);
    if (isSpecialMode(mode)) return [];
    const out = [mode];
    for (const n of Object.keys(req.endpoints ?? {})) {
      const nn = normalizeMode(n);
      if (!out.includes(nn) && !isSpecialMode(nn)) out.push(nn);
    }
    return out;
  }

  private endpointCfg(req: ContainerNetworkRequest, network: string, rec: NetworkRecord): { ipv4?: string; aliases?: string[] } {
    const eps = req.endpoints ?? {};
    return eps[network] ?? eps[rec.name] ?? eps[rec.id] ?? (rec.isDefault ? eps.default : undefined) ?? {};
  }

  validate(req: ContainerNetworkRequest | undefined, ctx: { id: string; name: string }): void {
    if (!req) return;
    const mode = normalizeMode(req.mode);
    const special = isSpecialMode(mode);
    if (mode.startsWith('container:')) {
      const ref = mode.slice('container:'.length);
      if (!ref) throw invalid('invalid network mode container: needs a container name or ID');
      const t = this.o.containers().inspect(ref); // NotFound: No such container
      if (t.id === ctx.id) throw invalid('cannot join own network namespace');
    }
    if (special) {
      if ((req.ports?.length ?? 0) > 0 || req.publishAll) {
        if (mode !== 'none') throw invalid(`conflicting options: port publishing and the ${mode.startsWith('container:') ? 'container' : mode} network mode`);
      }
      if (mode !== 'none' && (req.links?.length ?? 0) > 0) throw invalid(`conflicting options: --link and the ${mode} network mode`);
      if (mode.startsWith('container:') && ((req.dns?.length ?? 0) > 0 || (req.extraHosts?.length ?? 0) > 0)) {
        throw invalid('conflicting options: dns and the network mode container');
      }
    }
    for (const n of this.networksOf(req)) {
      // As Docker: an unknown network fails the start (404 there), not the create.
      const rec = this.findNetwork(n);
      if (!rec) continue;
      const cfg = this.endpointCfg(req, n, rec);
      if (cfg.ipv4 && rec.isDefault) throw invalid('user specified IP address is supported on user defined networks only');
      if ((cfg.aliases?.length ?? 0) > 0 && rec.isDefault) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    }
    resolvePorts(req);
    for (const l of req.links ?? []) this.o.containers().inspect(parseLink(l).name);
    for (const h of req.extraHosts ?? []) parseAddHost(h, '0.0.0.0');
    renderResolvConf({ host: '', dns: req.dns ?? [] });
  }

  async setup(r: ContainerRecord): Promise<Sandbox> {
    const req = r.request.network ?? { mode: DEFAULT_NETWORK };
    // A fixed address or host port may still be held by a container being torn down: wait for
    // every teardown then; otherwise only for this container's own.
    const fixed = (req.ports?.length ?? 0) > 0 || req.publishAll === true || Object.values(req.endpoints ?? {}).some((e) => e.ipv4);
    if (fixed) await this.idle();
    else await this.pending.get(r.id);
    const mode = normalizeMode(req.mode);
    const dir = this.filesDir(r.id);
    await mkdir(dir, { recursive: true });
    const hostname = r.request.options.hostname ?? r.id.slice(0, 12);
    const hostResolv = await readFile(this.o.resolvConfPath ?? '/etc/resolv.conf', 'utf8').catch(() => '');
    const extraHosts = (gw?: string) => (req.extraHosts ?? []).map((h) => parseAddHost(h, gw));
    const files = async (hosts: string, resolv: string): Promise<BindMount[]> => {
      await writeFile(join(dir, 'hosts'), hosts);
      await writeFile(join(dir, 'resolv.conf'), resolv);
      await writeFile(join(dir, 'hostname'), `${hostname}\n`);
      return this.mounts(dir);
    };
    const dnsOpts = { ...(req.dns ? { dns: req.dns } : {}), ...(req.dnsSearch ? { dnsSearch: req.dnsSearch } : {}), ...(req.dnsOptions ? { dnsOptions: req.dnsOptions } : {}) };
    if (mode === 'none') {
      return { net: { mode: 'private' }, mounts: await files(renderHosts({ hostname, extraHosts: extraHosts() }), renderResolvConf({ host: hostResolv, ...dnsOpts })) };
    }
    if (mode === 'host') {
      const base = await readFile(this.o.hostsPath ?? '/etc/hosts', 'utf8').catch(() => renderHosts({ hostname: osHostname() }));
      const extra = extraHosts().map((e) => `${e.ip}\t${e.name}\n`).join('');
      return { net: { mode: 'host' }, mounts: await files(base + extra, renderResolvConf({ host: hostResolv, ...dnsOpts })) };
    }
    if (mode.startsWith('container:')) {
      const t = this.o.containers().inspect(mode.slice('container:'.length));
      if (t.state.status !== 'running' || !t.state.pid) throw conflict(`cannot join network namespace of a non running container: ${t.name}`);
      const tmode = normalizeMode(t.request.network?.mode);
      if (tmode === 'host') return { net: { mode: 'host' }, mounts: this.mounts(this.filesDir(t.id)) };
      const tdir = this.filesDir(t.id);
      const mounts = existsSync(join(tdir, 'hosts')) ? this.mounts(tdir) : await files(renderHosts({ hostname }), renderResolvConf({ host: hostResolv }));
      return { net: { mode: 'path', path: `/proc/${t.state.pid}/ns/net` }, mounts };
    }
    // bridge or user networks
    try {
      const eps = await this.attachAll(r, req);
      const first = eps[0]!;
      const links: Array<{ ip: string; names: string[] }> = [];
      for (const l of req.links ?? []) {
        const { name, alias } = parseLink(l);
        const t = this.o.containers().inspect(name);
        const tips = this.o.manager.endpoints(t.id).filter((e) => eps.some((m) => m.networkId === e.networkId));
        if (tips[0]) links.push({ ip: tips[0].ip, names: [alias, t.id.slice(0, 12), t.name] });
      }
      const userNet = eps.map((e) => this.o.manager.inspect(e.networkId)).find((n) => !n.isDefault);
      const embedded = userNet ? eps.find((e) => e.networkId === userNet.id) : undefined;
      const hosts = renderHosts({
        hostname,
        ...(r.request.options.domainname ? { domainname: r.request.options.domainname } : {}),
        ip: first.ip,
        extraHosts: extraHosts(first.gateway || undefined),
        links,
      });
      const resolv = renderResolvConf({ host: hostResolv, ...(embedded ? { embeddedDns: userNet!.gateway } : {}), ...dnsOpts });
      const netnsPath = this.o.manager.endpoints(r.id)[0]!.netnsPath;
      return { net: { mode: 'path', path: netnsPath }, mounts: await files(hosts, resolv) };
    } catch (err) {
      await this.teardownNow(r.id).catch(() => undefined);
      throw err;
    }
  }

  private mounts(dir: string): BindMount[] {
    return [
      { source: join(dir, 'hosts'), destination: '/etc/hosts' },
      { source: join(dir, 'resolv.conf'), destination: '/etc/resolv.conf' },
      { source: join(dir, 'hostname'), destination: '/etc/hostname' },
    ];
  }

  private async attachAll(r: ContainerRecord, req: ContainerNetworkRequest): Promise<Endpoint[]> {
    const nets = this.networksOf(req);
    const ports = resolvePorts(req, r.imageConfig.exposedPorts ?? []);
    const links: Link[] = (req.links ?? []).map((l) => {
      const { name, alias } = parseLink(l);
      return { name: this.o.containers().inspect(name).name, alias };
    });
    const out: Endpoint[] = [];
    let netnsPath: string | undefined;
    for (const [i, n] of nets.entries()) {
      const rec = this.o.manager.inspect(n);
      const cfg = this.endpointCfg(req, n, rec);
      const ar: AttachRequest = {
        network: rec.name,
        containerName: r.name,
        ...(cfg.ipv4 ? { ip: cfg.ipv4 } : {}),
        ...(cfg.aliases?.length ? { aliases: cfg.aliases } : {}),
        ...(links.length ? { links } : {}),
        ...(i === 0 && ports.length ? { ports } : {}),
      };
      if (i === 0) {
        const taken = this.o.pool ? await this.o.pool.take(r.id, ar) : undefined;
        if (taken) {
          netnsPath = taken.netnsPath;
          out.push(taken.endpoint);
          this.o.onEvent?.('connect', rec, r.id);
          continue;
        }
        const name = this.ownNetns(r.id);
        netnsPath = join(RUN_NETNS, name);
        if (!existsSync(netnsPath)) await this.o.runner(['ip', 'netns', 'add', name], { timeoutMs: 10_000 });
      }
      out.push(await this.o.manager.attach(r.id, netnsPath!, ar));
      this.o.onEvent?.('connect', rec, r.id);
    }
    return out;
  }

  /**
   * Frees the container's networking in the background (two `ip` runs): an exit or a removal
   * is reported without waiting for them (they are off the `docker run --rm` path). The
   * manager serializes them with other network operations; a new start of the same container
   * waits for its teardown first; a daemon crash meanwhile is covered by restore() and the sweep.
   */
  teardown(id: string): Promise<void> {
    const prev = this.pending.get(id) ?? Promise.resolve();
    const p = prev
      .then(() => this.teardownNow(id))
      .catch((err: unknown) => this.o.logger.warn({ container: id, err: err instanceof Error ? err.message : String(err) }, 'network teardown failed'))
      .finally(() => {
        if (this.pending.get(id) === p) this.pending.delete(id);
      });
    this.pending.set(id, p);
    return Promise.resolve();
  }

  private async teardownNow(id: string): Promise<void> {
    const eps = this.o.manager.endpoints(id);
    const paths = new Set(eps.map((e) => e.netnsPath));
    paths.add(join(RUN_NETNS, this.ownNetns(id)));
    if (eps.length) {
      await this.o.manager.detach(id);
      for (const e of eps) {
        const n = this.o.manager.list().find((x) => x.id === e.networkId);
        if (n) this.o.onEvent?.('disconnect', n, id);
      }
    }
    for (const p of paths) {
      const name = p.slice(RUN_NETNS.length + 1);
      if (p.startsWith(`${RUN_NETNS}/${this.o.netnsPrefix}`) && existsSync(p)) await this.o.runner(['ip', 'netns', 'del', name], { allowFailure: true });
    }
  }

  /** Endpoints of a container with their networks, first network first. */
  endpointsOf(id: string): ContainerEndpointView[] {
    const nets = this.o.manager.list();
    return this.o.manager
      .endpoints(id)
      .sort((a, b) => Number(a.ifName.slice(3)) - Number(b.ifName.slice(3)))
      .flatMap((e) => {
        const n = nets.find((x) => x.id === e.networkId);
        return n ? [{ network: n, endpoint: e, prefixLen: Number(n.subnet.split('/')[1]) }] : [];
      });
  }

  /** Network records by name or ID, undefined when gone. */
  findNetwork(ref: string): NetworkRecord | undefined {
    try {
      return this.o.manager.inspect(ref);
    } catch {
      return undefined;
    }
  }

  /** `docker network connect`: attaches a running container now and records it for its next starts. */
  async connect(networkRef: string, containerRef: string, cfg: { ipv4?: string; aliases?: string[] } = {}): Promise<void> {
    await this.idle();
    const n = this.o.manager.inspect(networkRef);
    const c = this.o.containers().inspect(containerRef);
    const req: ContainerNetworkRequest = c.request.network ?? { mode: DEFAULT_NETWORK };
    const mode = normalizeMode(req.mode);
    if (isSpecialMode(mode)) throw new WharfError('Forbidden', `container sharing network namespace with another container or host cannot be connected to any other network (network mode ${mode})`);
    if (this.networksOf(req).some((x) => x === n.name || x === n.id)) {
      if (this.o.manager.endpoints(c.id).some((e) => e.networkId === n.id) || c.state.status !== 'running') {
        throw new WharfError('Forbidden', `endpoint with name ${c.name} already exists in network ${n.name}`);
      }
    }
    if (cfg.ipv4 && n.isDefault) throw invalid('user specified IP address is supported on user defined networks only');
    if (c.state.status === 'running' || c.state.status === 'paused') {
      const mine = this.o.manager.endpoints(c.id)[0];
      if (!mine) throw conflict(`container ${c.name} has no network namespace of its own to connect`);
      await this.o.manager.attach(c.id, mine.netnsPath, {
        network: n.name,
        containerName: c.name,
        ...(cfg.ipv4 ? { ip: cfg.ipv4 } : {}),
        ...(cfg.aliases?.length ? { aliases: cfg.aliases } : {}),
      });
      this.o.onEvent?.('connect', n, c.id);
    }
    const endpoints = { ...(req.endpoints ?? {}) };
    endpoints[n.name] = { ...(cfg.ipv4 ? { ipv4: cfg.ipv4 } : {}), ...(cfg.aliases?.length ? { aliases: cfg.aliases } : {}) };
    this.o.containers().setNetworkRequest(c.id, { ...req, endpoints });
  }

  /** `docker network disconnect`: detaches now (if attached) and forgets it for the next starts. */
  async disconnect(networkRef: string, containerRef: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.idle();
    const n = this.findNetwork(networkRef);
    let c: ContainerRecord;
    try {
      c = this.o.containers().inspect(containerRef);
    } catch (err) {
      if (opts.force && n) {
        // Force: drop a stale endpoint by container name.
        const ep = this.o.manager.endpoints().find((e) => e.networkId === n.id && e.containerName === containerRef.replace(/^\//, ''));
        if (ep) return this.o.manager.detach(ep.containerId, n.id);
      }
      throw err;
    }
    if (!n) throw notFound(`network ${networkRef} not found`);
    const req: ContainerNetworkRequest = c.request.network ?? { mode: DEFAULT_NETWORK };
    const mode = normalizeMode(req.mode);
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) throw new WharfError('Forbidden', `container ${c.name} is not connected to network ${n.name} (network mode ${mode})`);
    const attached = this.o.manager.endpoints(c.id).some((e) => e.networkId === n.id);
    const configured = this.networksOf(req).some((x) => x === n.name || x === n.id || (n.isDefault && x === DEFAULT_NETWORK));
    if (!attached && !configured) throw new WharfError('Forbidden', `container ${c.name} is not connected to network ${n.name}`);
    if (attached) {
      await this.o.manager.detach(c.id, n.id);
      this.o.onEvent?.('disconnect', n, c.id);
    }
    const endpoints = { ...(req.endpoints ?? {}) };
    for (const k of Object.keys(endpoints)) if (k === n.name || k === n.id) delete endpoints[k];
    const primary = normalizeMode(req.mode);
    const next: ContainerNetworkRequest = { ...req, endpoints };
    if (primary === n.name || primary === n.id) {
      const rest = Object.keys(endpoints).filter((k) => !isSpecialMode(k));
      next.mode = rest[0] ?? 'none';
    }
    this.o.containers().setNetworkRequest(c.id, next);
  }

  /**
   * After the containers were recovered at daemon start: removes namespaces of this daemon in
   * /run/netns that no endpoint, pool entry or running container uses.
   */
  async sweepNetns(): Promise<string[]> {
    const used = new Set(this.o.manager.endpoints().map((e) => e.netnsPath));
    let names: string[] = [];
    try {
      names = await readdir(RUN_NETNS);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      if (!name.startsWith(this.o.netnsPrefix) || used.has(join(RUN_NETNS, name))) continue;
      await this.o.runner(['ip', 'netns', 'del', name], { allowFailure: true });
      removed.push(name);
    }
    return removed;
  }
}
