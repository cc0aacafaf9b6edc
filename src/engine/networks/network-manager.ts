import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import type { Clock } from '../../core/clock.js';
import { WharfError, conflict, invalid, notFound, alreadyExists, wrap } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import { IpDriver, checkIfName, macForIp, type Runner } from './ip-driver.js';
import { Ipam, formatCidr, parseCidr, pickSubnet, resolveIpam, type UsedSubnet } from './ipam.js';
import { NftDriver, checkTableName, type NftState } from './nft.js';
import { ephemeralRange, portFree, type PortMapping } from './ports.js';
import { EmbeddedDns, type Upstream } from './dns-server.js';
import { parseResolvConf } from './etc-files.js';
import type { NetworkStore } from './network-store.js';
import type { Endpoint, EndpointRecord, Link, NetworkRecord, PublishedPort } from './types.js';

// The facade the containers engine uses: networks (create/remove/list/inspect/prune), endpoints
// (attach a container's netns to a network, detach), and restore() at daemon start. Every kernel
// change goes through IpDriver (ip) and NftDriver (nft); state is in the NetworkStore. Operations
// are serialized (one at a time) so IPAM, port choice and the nft table stay consistent.

export const DEFAULT_NETWORK = 'bridge';
/** Default bridge subnet: clear of Docker's 172.17.0.0/16 and podman's 10.88.0.0/16. */
export const DEFAULT_BIP = '10.209.0.1/16';
export const DEFAULT_BRIDGE = 'wharf0';
/** Pool for user networks created without a subnet: /24s out of this. */
export const DEFAULT_POOL = '10.210.0.0/16';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const OPT_BRIDGE = 'com.docker.network.bridge.name';
const OPT_MTU = 'com.docker.network.driver.mtu';
const OPT_MASQ = 'com.docker.network.bridge.enable_ip_masquerade';

export interface NetworkManagerOptions {
  runner: Runner;
  logger: Logger;
  clock: Clock;
  store: NetworkStore;
  /** Names this daemon's nftables table (`wharf-<daemonName>`). */
  daemonName: string;
  bridgeName?: string;
  /** Gateway/prefix of the default network, e.g. 10.209.0.1/16. */
  bip?: string;
  mtu?: number;
  pool?: string;
  /** Start the embedded DNS on each network's gateway (default true). */
  dns?: boolean;
  dnsPort?: number;
  /** Upstream resolvers; default: nameservers of /etc/resolv.conf, port 53. */
  dnsUpstreams?: Upstream[];
  resolvConfPath?: string;
  /**
   * Turn on net.ipv4.ip_forward at restore (Docker's --ip-forward, default true): needed for
   * containers' outbound traffic through the host's interfaces. Tests pass false (host-wide).
   */
  ipForward?: boolean;
  /** Host veth name prefix (≤ 4 chars), default `wh`. */
  vethPrefix?: string;
}

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

export interface AttachRequest {
  network: string;
  containerName: string;
  ip?: string;
  aliases?: string[];
  links?: Link[];
  ports?: PortMapping[];
}

export interface NetworkFilters {
  name?: string[];
  id?: string[];
  label?: string[];
  driver?: string[];
  type?: Array<'custom' | 'builtin'>;
  dangling?: boolean;
}

export interface NetworkInspect extends NetworkRecord {
  endpoints: EndpointRecord[];
}

export class NetworkManager {
  readonly ip: IpDriver;
  readonly nft: NftDriver;
  private readonly ipam: Ipam;
  private readonly dns: EmbeddedDns | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly table: string;

  constructor(private readonly o: NetworkManagerOptions) {
    this.ip = new IpDriver(o.runner);
    this.nft = new NftDriver(o.runner);
    this.ipam = new Ipam(o.store);
    this.table = checkTableName(`wharf-${o.daemonName}`);
    if (o.dns !== false) {
      this.dns = new EmbeddedDns({
        resolve: (client, name) => this.resolveName(client, name),
        upstreams: () => this.upstreams(),
        logger: o.logger.child({ component: 'dns' }),
      });
    }
  }

  get tableName(): string {
    return this.table;
  }

  /** Runs fn after every earlier operation finished (success or not). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ---------- networks

  private find(idOrName: string): NetworkRecord {
    const nets = this.o.store.listNetworks();
    const n =
      nets.find((x) => x.name === idOrName) ?? nets.find((x) => x.id === idOrName) ?? (idOrName.length >= 1 ? onlyOne(nets.filter((x) => x.id.startsWith(idOrName)), idOrName) : undefined);
    if (!n) throw notFound(`network ${idOrName} not found`);
    return n;
  }

  private async usedSubnets(excludeId?: string): Promise<UsedSubnet[]> {
    const nets = this.o.store.listNetworks().filter((n) => n.id !== excludeId);
    const ours = new Set(nets.map((n) => n.bridge));
    const used: UsedSubnet[] = nets.map((n) => ({ subnet: n.subnet, owner: `network ${n.name}` }));
    for (const r of await this.ip.routes()) {
      if (r.dst === 'default' || (r.dev && ours.has(r.dev))) continue;
      used.push({ subnet: r.dst.includes('/') ? r.dst : `${r.dst}/32`, owner: `host route on ${r.dev ?? '?'}` });
    }
    return used;
  }

  createNetwork(req: CreateNetworkRequest): Promise<NetworkRecord> {
    return this.serial(() => this.createLocked(req, false));
  }

  private async createLocked(req: CreateNetworkRequest, isDefault: boolean): Promise<NetworkRecord> {
    if (!NAME.test(req.name)) throw invalid(`invalid network name ${JSON.stringify(req.name)}: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    const driver = req.driver || 'bridge';
    if (driver !== 'bridge') throw new WharfError('Unsupported', `network driver ${driver} is not supported (only bridge)`);
    if (!isDefault && ['host', 'none', DEFAULT_NETWORK].includes(req.name)) throw new WharfError('Forbidden', `${req.name} is a pre-defined network name`);
    if (this.o.store.listNetworks().some((n) => n.name === req.name)) throw alreadyExists(`network with name ${req.name} already exists`);
    const options = { ...(req.options ?? {}) };
    const mtu = options[OPT_MTU] !== undefined ? Number(options[OPT_MTU]) : (this.o.mtu ?? 1500);
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU ${options[OPT_MTU]}`);
    const id = randomId();
    const bridge = checkIfName(options[OPT_BRIDGE] ?? `br-${id.slice(0, 12)}`);
    const nets = this.o.store.listNetworks();
    if (nets.some((n) => n.bridge === bridge)) throw conflict(`bridge name ${bridge} is used by another network`);
    const links = await this.ip.links();
    const existing = links.find((l) => l.ifname === bridge);
    if (existing && !isDefault) throw conflict(`interface ${bridge} already exists on the host`);
    const used = await this.usedSubnets();
    let subnet = req.subnet;
    if (!subnet) {
      if (req.gateway || req.ipRange) throw invalid('a gateway or ip-range needs a subnet');
      subnet = pickSubnet(this.o.pool ?? DEFAULT_POOL, 24, used);
    }
    const ipam = resolveIpam({ subnet, ...(req.gateway ? { gateway: req.gateway } : {}), ...(req.ipRange ? { ipRange: req.ipRange } : {}) }, used);
    const rec: NetworkRecord = {
      id,
      name: req.name,
      driver: 'bridge',
      bridge,
      subnet: ipam.subnet,
      gateway: ipam.gateway,
      ...(ipam.ipRange ? { ipRange: ipam.ipRange } : {}),
      internal: req.internal ?? false,
      mtu,
      labels: req.labels ?? {},
      options,
      isDefault,
      created: this.o.clock.now(),
    };
    await this.realizeNetwork(rec);
    try {
      this.o.store.putNetwork(rec);
      await this.applyRules();
    } catch (err) {
      this.o.store.deleteNetwork(rec.id);
      await this.ip.deleteLinks([bridge]).catch(() => undefined);
      throw wrap(err, `create network ${req.name}`);
    }
    return rec;
  }

  /** Makes the kernel match a network record: bridge, MTU, address, route_localnet, DNS listener. */
  private async realizeNetwork(n: NetworkRecord): Promise<void> {
    const prefix = parseCidr(n.subnet).prefix;
    await this.ip.ensureBridge({ name: n.bridge, mtu: n.mtu, address: `${n.gateway}/${prefix}`, mac: macForIp(n.gateway) });
    // 127.0.0.1:PORT → container needs local-source routing on the bridge (plus masquerade);
    // forwarding on the bridge lets containers' traffic be routed (hairpin, other networks, out).
    for (const [key, value] of [
      ['route_localnet', '1'],
      ['forwarding', '1'],
    ] as const) {
      await writeFile(`/proc/sys/net/ipv4/conf/${n.bridge}/${key}`, value).catch((err: unknown) =>
        this.o.logger.warn({ err, bridge: n.bridge }, `cannot set ${key}`),
      );
    }
    if (this.dns) {
      try {
        await this.dns.listen(n.gateway, this.o.dnsPort ?? 53);
      } catch (err) {
        this.o.logger.warn({ err, network: n.name }, 'embedded DNS cannot listen on the gateway');
      }
    }
  }

  removeNetwork(idOrName: string): Promise<void> {
    return this.serial(async () => {
      const n = this.find(idOrName);
      if (n.isDefault) throw new WharfError('Forbidden', `${n.name} is a pre-defined network and cannot be removed`);
      const eps = this.o.store.listEndpoints(n.id);
      if (eps.length > 0) throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      await this.dropNetwork(n);
    });
  }

  private async dropNetwork(n: NetworkRecord): Promise<void> {
    if (this.dns) await this.dns.close(n.gateway, this.o.dnsPort ?? 53);
    this.o.store.deleteNetwork(n.id);
    await this.ip.deleteLinks([n.bridge]);
    await this.applyRules();
  }

  list(filters: NetworkFilters = {}): NetworkRecord[] {
    const eps = this.o.store.listEndpoints();
    return this.o.store.listNetworks().filter((n) => {
      if (filters.name?.length && !filters.name.some((x) => n.name.includes(x))) return false;
      if (filters.id?.length && !filters.id.some((x) => n.id.startsWith(x))) return false;
      if (filters.driver?.length && !filters.driver.includes(n.driver)) return false;
      if (filters.type?.length && !filters.type.includes(n.isDefault ? 'builtin' : 'custom')) return false;
      if (filters.label?.length) {
        for (const l of filters.label) {
          const i = l.indexOf('=');
          const k = i < 0 ? l : l.slice(0, i);
          if (!(k in n.labels)) return false;
          if (i >= 0 && n.labels[k] !== l.slice(i + 1)) return false;
        }
      }
      if (filters.dangling !== undefined) {
        const dangling = !n.isDefault && !eps.some((e) => e.networkId === n.id);
        if (dangling !== filters.dangling) return false;
      }
      return true;
    });
  }

  inspect(idOrName: string): NetworkInspect {
    const n = this.find(idOrName);
    return { ...n, endpoints: this.o.store.listEndpoints(n.id) };
  }

  /** Removes user networks without endpoints; returns their names. */
  prune(filters: { label?: string[] } = {}): Promise<string[]> {
    return this.serial(async () => {
      const out: string[] = [];
      for (const n of this.list({ ...filters, dangling: true })) {
        await this.dropNetwork(n);
        out.push(n.name);
      }
      return out;
    });
  }

  // ---------- endpoints

  attach(containerId: string, netnsPath: string, req: AttachRequest): Promise<Endpoint> {
    return this.serial(() => this.attachLocked(containerId, netnsPath, req));
  }

  private async attachLocked(containerId: string, netnsPath: string, req: AttachRequest): Promise<Endpoint> {
    const n = this.find(req.network);
    const all = this.o.store.listEndpoints();
    if (all.some((e) => e.networkId === n.id && e.containerId === containerId)) throw conflict(`container ${containerId.slice(0, 12)} is already attached to network ${n.name}`);
    if (!existsSync(netnsPath)) throw invalid(`network namespace ${netnsPath} does not exist`);
    if (req.ip && n.isDefault) throw invalid('user specified IP address is supported on user defined networks only');
    for (const a of req.aliases ?? []) if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(a)) throw invalid(`invalid network alias ${JSON.stringify(a)}`);
    const ports = n.internal && (req.ports?.length ?? 0) > 0 ? [] : await this.choosePorts(req.ports ?? [], all);
    const sameNs = all.filter((e) => e.netnsPath === netnsPath);
    const ifName = `eth${sameNs.length === 0 ? 0 : Math.max(...sameNs.map((e) => Number(e.ifName.slice(3)) || 0)) + 1}`;
    const epId = randomBytes(16).toString('hex');
    const ip = this.ipam.allocate(n.id, n, epId, req.ip);
    const prefix = parseCidr(n.subnet).prefix;
    const hostIf = `${this.o.vethPrefix ?? 'wh'}${epId}`.slice(0, 15);
    const rec: EndpointRecord = {
      id: epId,
      networkId: n.id,
      containerId,
      containerName: req.containerName.replace(/^\//, ''),
      netnsPath,
      ifName,
      hostIf,
      ip,
      mac: macForIp(ip),
      aliases: req.aliases ?? [],
      links: req.links ?? [],
      ports,
      created: this.o.clock.now(),
    };
    // Persist first: a crash between here and the kernel change leaves a record restore() cleans.
    this.o.store.putEndpoint(rec);
    try {
      await this.ip.addVeth(
        {
          bridge: n.bridge,
          hostIf,
          containerIf: ifName,
          netnsPath,
          mtu: n.mtu,
          mac: rec.mac,
          address: `${ip}/${prefix}`,
          ...(!n.internal && sameNs.length === 0 ? { gateway: n.gateway } : {}),
          hairpin: true,
        },
        { setupLoopback: sameNs.length === 0 },
      );
      if (ports.length > 0) await this.applyRules();
    } catch (err) {
      this.o.store.deleteEndpoint(epId);
      this.ipam.release(n.id, ip);
      await this.ip.deleteLinks([hostIf]).catch(() => undefined);
      if (ports.length > 0) await this.applyRules().catch(() => undefined);
      throw wrap(err, `attach ${containerId.slice(0, 12)} to ${n.name}`);
    }
    return {
      endpointId: epId,
      networkId: n.id,
      networkName: n.name,
      ifName,
      ip,
      prefixLen: prefix,
      mac: rec.mac,
      gateway: n.internal ? '' : n.gateway,
      ports,
    };
  }

  private async choosePorts(req: readonly PortMapping[], all: readonly EndpointRecord[]): Promise<PublishedPort[]> {
    const taken = new Set<string>();
    const key = (ip: string, port: number, proto: string) => `${proto}/${port}/${ip}`;
    const clash = (ip: string, port: number, proto: string) =>
      taken.has(key(ip, port, proto)) || (ip === '' ? [...taken].some((k) => k.startsWith(`${proto}/${port}/`)) : taken.has(key('', port, proto)));
    for (const e of all) for (const p of e.ports) taken.add(key(p.hostIp, p.hostPort, p.proto));
    const out: PublishedPort[] = [];
    for (const p of req) {
      if (p.containerPort < 1 || p.containerPort > 65535) throw invalid(`invalid container port ${p.containerPort}`);
      if (p.hostPort && p.hostPortEnd && p.hostPortEnd > p.hostPort) {
        if (p.hostPortEnd > 65535) throw invalid(`invalid host port ${p.hostPortEnd}`);
        let chosen = 0;
        for (let port = p.hostPort; port <= p.hostPortEnd && !chosen; port++) {
          if (!clash(p.hostIp, port, p.proto) && (await portFree(p.hostIp, port, p.proto))) chosen = port;
        }
        if (!chosen) throw conflict(`Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort}-${p.hostPortEnd} failed: every port of the range is already allocated`);
        taken.add(key(p.hostIp, chosen, p.proto));
        const { hostPortEnd: _e, ...rest } = p;
        out.push({ ...rest, hostPort: chosen });
        continue;
      }
      if (p.hostPort) {
        if (p.hostPort < 1 || p.hostPort > 65535) throw invalid(`invalid host port ${p.hostPort}`);
        if (clash(p.hostIp, p.hostPort, p.proto) || !(await portFree(p.hostIp, p.hostPort, p.proto))) {
          throw conflict(`Bind for ${p.hostIp || '0.0.0.0'}:${p.hostPort} failed: port is already allocated`);
        }
        taken.add(key(p.hostIp, p.hostPort, p.proto));
        out.push({ ...p });
        continue;
      }
      const [lo, hi] = await ephemeralRange();
      const span = hi - lo + 1;
      const start = lo + Math.floor(Math.random() * span);
      let chosen = 0;
      for (let i = 0; i < span && i < 2000; i++) {
        const port = lo + ((start - lo + i) % span);
        if (clash(p.hostIp, port, p.proto)) continue;
        if (await portFree(p.hostIp, port, p.proto)) {
          chosen = port;
          break;
        }
      }
      if (!chosen) throw new WharfError('Unavailable', 'no free ephemeral host port');
      taken.add(key(p.hostIp, chosen, p.proto));
      out.push({ ...p, hostPort: chosen });
    }
    return out;
  }

  /**
   * Hands an endpoint prepared for a placeholder owner (the warm pool) to a container: records
   * its name, aliases, links and ports. No interface change; one nft run if it publishes ports.
   */
  reassign(fromOwner: string, containerId: string, req: AttachRequest): Promise<Endpoint> {
    return this.serial(async () => {
      const n = this.find(req.network);
      const all = this.o.store.listEndpoints();
      const ep = all.find((e) => e.containerId === fromOwner && e.networkId === n.id);
      if (!ep) throw notFound(`no endpoint of ${fromOwner} on network ${n.name}`);
      if (all.some((e) => e.containerId === containerId && e.networkId === n.id)) throw conflict(`container ${containerId.slice(0, 12)} is already attached to network ${n.name}`);
      for (const a of req.aliases ?? []) if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(a)) throw invalid(`invalid network alias ${JSON.stringify(a)}`);
      const ports = n.internal ? [] : await this.choosePorts(req.ports ?? [], all);
      const rec: EndpointRecord = { ...ep, containerId, containerName: req.containerName.replace(/^\//, ''), aliases: req.aliases ?? [], links: req.links ?? [], ports };
      this.o.store.putEndpoint(rec);
      if (ports.length > 0) {
        try {
          await this.applyRules();
        } catch (err) {
          this.o.store.putEndpoint(ep);
          throw wrap(err, `publish ports of ${containerId.slice(0, 12)}`);
        }
      }
      return {
        endpointId: ep.id,
        networkId: n.id,
        networkName: n.name,
        ifName: ep.ifName,
        ip: ep.ip,
        prefixLen: parseCidr(n.subnet).prefix,
        mac: ep.mac,
        gateway: n.internal ? '' : n.gateway,
        ports,
      };
    });
  }

  /** Detaches a container from one network, or from all when network is omitted. Idempotent. */
  detach(containerId: string, network?: string): Promise<void> {
    return this.serial(async () => {
      const netId = network ? this.find(network).id : undefined;
      const eps = this.o.store.listEndpoints().filter((e) => e.containerId === containerId && (!netId || e.networkId === netId));
      if (network && eps.length === 0) throw notFound(`container ${containerId.slice(0, 12)} is not connected to network ${network}`);
      await this.dropEndpoints(eps);
    });
  }

  private async dropEndpoints(eps: readonly EndpointRecord[]): Promise<void> {
    if (eps.length === 0) return;
    // Deleting the host end deletes the pair; if the netns is gone the kernel already did.
    await this.ip.deleteLinks(eps.map((e) => e.hostIf));
    for (const e of eps) {
      this.o.store.deleteEndpoint(e.id);
      this.o.store.release(e.networkId, e.ip);
    }
    if (eps.some((e) => e.ports.length > 0)) await this.applyRules();
  }

  endpoints(containerId?: string): EndpointRecord[] {
    return this.o.store.listEndpoints().filter((e) => !containerId || e.containerId === containerId);
  }

  // ---------- daemon start / stop

  /**
   * At daemon start: ensures the default network (from --bridge-name/--bip), re-creates bridges,
   * keeps endpoints whose container is alive (`isAlive`), drops the others and any veth on our
   * bridges no endpoint owns, and rebuilds the nft table from state. Running containers'
   * interfaces are not touched. `broken` lists live containers whose host veth was missing (their
   * endpoint was dropped; re-attach them).
   */
  restore(isAlive: (containerId: string, netnsPath: string) => boolean | Promise<boolean>): Promise<{ kept: number; removed: number; broken: string[] }> {
    return this.serial(async () => {
      const bridgeName = checkIfName(this.o.bridgeName ?? DEFAULT_BRIDGE);
      if (this.o.ipForward !== false) {
        await writeFile('/proc/sys/net/ipv4/ip_forward', '1').catch((err: unknown) => this.o.logger.warn({ err }, 'cannot enable ip_forward'));
      }
      await this.loadUpstreams();
      const bip = this.o.bip ?? DEFAULT_BIP;
      const def = this.o.store.listNetworks().find((n) => n.isDefault);
      const bipC = parseCidr(bip, { allowHostBits: true, what: '--bip' });
      const wantSubnet = formatCidr(bipC);
      const wantGw = bip.split('/')[0]!;
      if (def && (def.bridge !== bridgeName || def.subnet !== wantSubnet || def.gateway !== wantGw)) {
        // Flags changed: the default network is rebuilt if nothing uses it.
        if (this.o.store.listEndpoints(def.id).some(() => true)) {
          this.o.logger.warn({ bridge: def.bridge }, 'default network settings changed but it has endpoints; keeping the old ones');
        } else {
          await this.dropNetwork(def);
        }
      }
      if (!this.o.store.listNetworks().some((n) => n.isDefault)) {
        await this.createLocked(
          { name: DEFAULT_NETWORK, subnet: wantSubnet, gateway: wantGw, options: { [OPT_BRIDGE]: bridgeName, [OPT_MASQ]: 'true' } },
          true,
        );
      }
      const nets = this.o.store.listNetworks();
      for (const n of nets) await this.realizeNetwork(n);
      let kept = 0;
      const gone: EndpointRecord[] = [];
      const broken: string[] = [];
      const present = new Set((await this.ip.links()).map((l) => l.ifname));
      for (const e of this.o.store.listEndpoints()) {
        if (!existsSync(e.netnsPath) || !(await isAlive(e.containerId, e.netnsPath))) gone.push(e);
        else if (!present.has(e.hostIf)) {
          // Alive but its veth is missing (a crash between the record and the kernel change, or
          // someone deleted it): drop the record so the address is free; the caller re-attaches.
          gone.push(e);
          broken.push(e.containerId);
        } else kept++;
      }
      await this.dropEndpoints(gone);
      const owned = new Set(this.o.store.listEndpoints().map((e) => e.hostIf));
      const bridges = new Set(nets.map((n) => n.bridge));
      const orphans = (await this.ip.links()).filter((l) => l.master && bridges.has(l.master) && !owned.has(l.ifname)).map((l) => l.ifname);
      if (orphans.length) await this.ip.deleteLinks(orphans);
      await this.applyRules();
      if (broken.length) this.o.logger.warn({ containers: broken }, 'endpoints without their interface were dropped');
      return { kept, removed: gone.length + orphans.length, broken };
    });
  }

  /** Stops the DNS listeners. Kernel state stays: containers keep running without the daemon. */
  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.dns?.stop();
  }

  /**
   * Removes everything this daemon made (bridges, veths, nft table, records). For tests and
   * `wharf daemon --reset-networks`; never called on a normal stop.
   */
  destroyAll(): Promise<void> {
    return this.serial(async () => {
      await this.dns?.stop();
      const nets = this.o.store.listNetworks();
      const eps = this.o.store.listEndpoints();
      await this.ip.deleteLinks([...eps.map((e) => e.hostIf), ...nets.map((n) => n.bridge)]);
      for (const e of eps) this.o.store.deleteEndpoint(e.id);
      for (const n of nets) this.o.store.deleteNetwork(n.id);
      await this.nft.deleteTable(this.table);
    });
  }

  nftState(): NftState {
    const nets = this.o.store.listNetworks();
    const eps = this.o.store.listEndpoints();
    return {
      table: this.table,
      networks: nets.map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal, masquerade: n.options[OPT_MASQ] !== 'false' })),
      publishes: eps.flatMap((e) => e.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerIp: e.ip, containerPort: p.containerPort, proto: p.proto }))),
    };
  }

  private async applyRules(): Promise<void> {
    await this.nft.apply(this.nftState());
  }

  // ---------- DNS

  /** Names visible to the container at clientIp: names/aliases on its network, its links. */
  resolveName(clientIp: string, name: string): string[] | undefined {
    const eps = this.o.store.listEndpoints();
    const me = eps.find((e) => e.ip === clientIp);
    if (!me) return undefined;
    const net = this.o.store.listNetworks().find((n) => n.id === me.networkId);
    if (!net) return undefined;
    const peers = eps.filter((e) => e.networkId === me.networkId);
    for (const l of me.links) {
      if (l.alias.toLowerCase() === name || l.name.toLowerCase() === name) {
        const t = peers.find((e) => e.containerName === l.name);
        if (t) return [t.ip];
      }
    }
    if (net.isDefault) return undefined; // Docker: no name resolution on the default bridge
    const hits = peers.filter(
      (e) => e.containerName.toLowerCase() === name || e.aliases.some((a) => a.toLowerCase() === name) || (name.length >= 12 && e.containerId.startsWith(name)),
    );
    return hits.length > 0 ? hits.map((e) => e.ip) : undefined;
  }

  private upstreamCache: Upstream[] | undefined;

  private upstreams(): Upstream[] {
    if (this.o.dnsUpstreams) return this.o.dnsUpstreams;
    return this.upstreamCache ?? [];
  }

  /** Reads the host's resolvers (call at start and when resolv.conf changes). */
  async loadUpstreams(): Promise<void> {
    try {
      const text = await readFile(this.o.resolvConfPath ?? '/etc/resolv.conf', 'utf8');
      this.upstreamCache = parseResolvConf(text).nameservers.map((h) => ({ host: h, port: 53 }));
    } catch {
      this.upstreamCache = [];
    }
  }
}

function onlyOne<T>(xs: T[], what: string): T | undefined {
  if (xs.length > 1) throw invalid(`network ${what} is ambiguous (${xs.length} matches)`);
  return xs[0];
}
