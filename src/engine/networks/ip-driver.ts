import type { RunOptions, RunResult } from '../../core/exec/run.js';
import { WharfError, invalid, wrap } from '../../core/errors.js';

// The netlink side of networking, driven through iproute2 (`ip -json`, `ip -batch -`). Every
// command line comes from a pure function below (golden-tested); the driver only runs them.
// Spawns are the main cost of a container start, so an attach is two processes: one
// `ip -batch -` in the host netns, one `nsenter --net=PATH ip -batch -` in the container's.

export type Runner = (argv: readonly string[], opts?: RunOptions) => Promise<RunResult>;

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

export function checkIfName(name: string): string {
  if (!IFNAME.test(name)) throw invalid(`invalid interface name ${JSON.stringify(name)}: 1-15 characters [A-Za-z0-9_.-]`);
  return name;
}

function checkPath(p: string): string {
  if (!p.startsWith('/') || /\s/.test(p)) throw invalid(`invalid network namespace path ${JSON.stringify(p)}`);
  return p;
}

export interface BridgeSpec {
  name: string;
  mtu: number;
  /** Gateway address with prefix, e.g. 10.210.0.1/16. */
  address: string;
  /**
   * Fixed bridge MAC. Without it the kernel gives the bridge the lowest MAC of its ports, which
   * changes when a veth joins: containers' ARP entries for the gateway go stale for seconds.
   */
  mac: string;
}

/** Batch lines creating (or re-asserting) a bridge. Idempotent when run with -force. */
export function bridgeBatch(b: BridgeSpec): string[] {
  checkIfName(b.name);
  return [
    `link add ${b.name} type bridge`,
    `link set dev ${b.name} address ${b.mac}`,
    `link set dev ${b.name} mtu ${b.mtu}`,
    `addr replace ${b.address} dev ${b.name}`,
    `link set dev ${b.name} up`,
  ];
}

export interface VethSpec {
  bridge: string;
  hostIf: string;
  /** Name inside the container, normally eth0. */
  containerIf: string;
  netnsPath: string;
  mtu: number;
  mac: string;
  /** Container address with prefix, e.g. 10.210.0.2/16. */
  address: string;
  /** Default route via this address; absent for internal networks. */
  gateway?: string;
  hairpin: boolean;
}

/** Host-side batch: create the pair with the peer born in the container's netns, enslave, up. */
export function vethHostBatch(v: VethSpec): string[] {
  checkIfName(v.bridge);
  checkIfName(v.hostIf);
  checkIfName(v.containerIf);
  checkPath(v.netnsPath);
  const lines = [
    `link add ${v.hostIf} mtu ${v.mtu} type veth peer name ${v.containerIf} mtu ${v.mtu} address ${v.mac} netns ${v.netnsPath}`,
    `link set dev ${v.hostIf} master ${v.bridge} up`,
  ];
  if (v.hairpin) lines.push(`link set dev ${v.hostIf} type bridge_slave hairpin on`);
  return lines;
}

/** Container-side batch (run inside the netns): address, up, loopback, default route. */
export function vethContainerBatch(v: VethSpec, opts: { setupLoopback: boolean }): string[] {
  const lines = [`addr add ${v.address} dev ${v.containerIf}`, `link set dev ${v.containerIf} up`];
  if (opts.setupLoopback) lines.push('link set dev lo up');
  if (v.gateway) lines.push(`route replace default via ${v.gateway} dev ${v.containerIf}`);
  return lines;
}

export interface LinkInfo {
  ifname: string;
  mtu: number;
  master?: string;
  address?: string;
  kind?: string;
}

export class IpDriver {
  /** Count of processes spawned, for benchmarks. */
  spawns = 0;

  constructor(
    private readonly runner: Runner,
    private readonly opts: { ip?: string; nsenter?: string; timeoutMs?: number } = {},
  ) {}

  private get ip(): string {
    return this.opts.ip ?? 'ip';
  }

  /** Runs batch lines in the host netns. `force` keeps going after a failed line (ip -force). */
  async batch(lines: readonly string[], opts: { force?: boolean; netnsPath?: string } = {}): Promise<void> {
    if (lines.length === 0) return;
    const argv = [
      ...(opts.netnsPath ? [this.opts.nsenter ?? 'nsenter', `--net=${checkPath(opts.netnsPath)}`, '--'] : []),
      this.ip,
      ...(opts.force ? ['-force'] : []),
      '-batch',
      '-',
    ];
    this.spawns++;
    const res = await this.runner(argv, { input: lines.join('\n') + '\n', allowFailure: true, timeoutMs: this.opts.timeoutMs ?? 10_000 });
    if (res.code !== 0 && !opts.force) {
      throw new WharfError('Internal', `ip -batch failed: ${res.stderr.trim() || `exit ${res.code}`}`, { details: { lines, stderr: res.stderr } });
    }
  }

  async json<T>(args: readonly string[], netnsPath?: string): Promise<T> {
    const argv = [...(netnsPath ? [this.opts.nsenter ?? 'nsenter', `--net=${checkPath(netnsPath)}`, '--'] : []), this.ip, '-json', ...args];
    this.spawns++;
    let res: RunResult;
    try {
      res = await this.runner(argv, { timeoutMs: this.opts.timeoutMs ?? 10_000 });
    } catch (err) {
      throw wrap(err, `ip ${args.join(' ')}`);
    }
    const text = res.stdout.trim();
    return (text ? JSON.parse(text) : []) as T;
  }

  async ensureBridge(b: BridgeSpec): Promise<void> {
    // `link add` fails harmlessly when the bridge exists; the rest re-asserts MTU and address.
    await this.batch(bridgeBatch(b), { force: true });
    const links = await this.links();
    const l = links.find((x) => x.ifname === b.name);
    if (!l) throw new WharfError('Internal', `bridge ${b.name} could not be created`);
    if (l.kind && l.kind !== 'bridge') throw new WharfError('Conflict', `interface ${b.name} exists and is not a bridge`);
  }

  async deleteLinks(names: readonly string[]): Promise<void> {
    await this.batch(names.map((n) => `link del dev ${checkIfName(n)}`), { force: true });
  }

  async links(): Promise<LinkInfo[]> {
    const raw = await this.json<Array<{ ifname: string; mtu: number; master?: string; address?: string; linkinfo?: { info_kind?: string } }>>([
      '-details',
      'link',
      'show',
    ]);
    return raw.map((r) => ({
      ifname: r.ifname,
      mtu: r.mtu,
      ...(r.master ? { master: r.master } : {}),
      ...(r.address ? { address: r.address } : {}),
      ...(r.linkinfo?.info_kind ? { kind: r.linkinfo.info_kind } : {}),
    }));
  }

  /** IPv4 routes of the host's main table (for subnet overlap checks). */
  async routes(): Promise<Array<{ dst: string; dev?: string }>> {
    return this.json<Array<{ dst: string; dev?: string }>>(['-4', 'route', 'show', 'table', 'main']);
  }

  async addVeth(v: VethSpec, opts: { setupLoopback?: boolean } = {}): Promise<void> {
    await this.batch(vethHostBatch(v));
    try {
      await this.batch(vethContainerBatch(v, { setupLoopback: opts.setupLoopback ?? true }), { netnsPath: v.netnsPath });
    } catch (err) {
      await this.deleteLinks([v.hostIf]).catch(() => undefined);
      throw err;
    }
  }
}

/** A locally administered unicast MAC derived from an IPv4 address (Docker: 02:42:<ip bytes>). */
export function macForIp(ip: string): string {
  const parts = ip.split('.').map((x) => Number(x));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw invalid(`not an IPv4 address: ${ip}`);
  return ['02', '42', ...parts.map((p) => p.toString(16).padStart(2, '0'))].join(':');
}

/** Host-side veth name for a container on a network: stable, ≤15 chars. */
export function hostIfName(prefix: string, endpointId: string): string {
  const name = `${prefix}${endpointId}`.slice(0, 15);
  return checkIfName(name);
}
