import type { Command } from 'commander';
import type Docker from 'dockerode';
import { createInterface } from 'node:readline/promises';
import { WharfError } from '../core/errors.js';
import { runClient, withHost, type ClientFlags } from './client.js';
import { filtersFromFlags } from './images.js';
import { formatTable } from './output.js';

// `wharf network create|ls|inspect|rm|connect|disconnect|prune` with Docker's flags and output.
// Only the Docker Engine API (dockerode), so they work against any Docker daemon too.

type Action = (...args: any[]) => Promise<void>;
const collect = (v: string, prev: string[]) => [...prev, v];

/** `key=value` flags (labels, options) into an object; a bare key gets ''. */
export function keyValues(list: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i === 0) throw new WharfError('InvalidArgument', `invalid ${what} ${JSON.stringify(kv)}: expected key=value`);
    if (i < 0) out[kv] = '';
    else out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** A small Go-template subset Docker users rely on: `{{.A.B}}`, `{{json .A}}`, `{{index .A "k"}}`, `json`. */
export function renderTemplate(tpl: string, data: unknown): string {
  if (tpl === 'json') return JSON.stringify(data);
  const path = (expr: string): unknown => {
    if (expr === '.') return data;
    let cur: unknown = data;
    for (const part of expr.replace(/^\./, '').split('.')) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[part];
    }
    return cur;
  };
  const show = (v: unknown): string => (v === undefined || v === null ? '<no value>' : typeof v === 'object' ? (Array.isArray(v) ? `[${v.map(show).join(' ')}]` : `map[${Object.entries(v).map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`) : String(v));
  return tpl.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    let m = /^json\s+(\S+)$/.exec(expr);
    if (m) return JSON.stringify(path(m[1]!) ?? null);
    m = /^index\s+(\S+)\s+"([^"]*)"$/.exec(expr);
    if (m) {
      const o = path(m[1]!);
      return show(o && typeof o === 'object' ? (o as Record<string, unknown>)[m[2]!] : undefined);
    }
    if (/^\.[\w.]*$/.test(expr)) return show(path(expr));
    throw new WharfError('InvalidArgument', `template: unsupported expression {{${expr}}}`);
  });
}

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal?: boolean;
  Created?: string;
  Labels?: Record<string, string>;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> };
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

function create(flags: ClientFlags & { driver: string; subnet: string[]; gateway: string[]; ipRange: string[]; internal?: boolean; label: string[]; opt: string[]; ipv6?: boolean; attachable?: boolean }, name: string): Promise<void> {
  return runClient(flags, async (docker) => {
    if (flags.ipv6) throw new WharfError('Unsupported', 'IPv6 networks are not implemented yet');
    if (flags.subnet.length > 1) throw new WharfError('Unsupported', 'more than one --subnet per network is not implemented yet');
    if ((flags.gateway.length > 0 || flags.ipRange.length > 0) && flags.subnet.length === 0) throw new WharfError('InvalidArgument', 'a --gateway or --ip-range needs a --subnet');
    const config = flags.subnet.map((s, i) => ({ Subnet: s, ...(flags.gateway[i] ? { Gateway: flags.gateway[i] } : {}), ...(flags.ipRange[i] ? { IPRange: flags.ipRange[i] } : {}) }));
    const n = (await docker.createNetwork({
      Name: name,
      Driver: flags.driver,
      CheckDuplicate: true,
      Internal: flags.internal === true,
      Attachable: flags.attachable === true,
      IPAM: { Driver: 'default', Config: config },
      Labels: keyValues(flags.label, 'label'),
      Options: keyValues(flags.opt, 'option'),
    })) as unknown as { id: string };
    process.stdout.write(`${n.id}\n`);
  });
}

function list(flags: ClientFlags & { filter: string[]; quiet?: boolean; noTrunc?: boolean; format?: string }): Promise<void> {
  return runClient(flags, async (docker) => {
    const filters = filtersFromFlags(flags.filter);
    const nets = (await docker.listNetworks(Object.keys(filters).length ? { filters } : {})) as unknown as NetworkJson[];
    nets.sort((a, b) => a.Name.localeCompare(b.Name));
    const id = (n: NetworkJson) => (flags.noTrunc ? n.Id : n.Id.slice(0, 12));
    if (flags.quiet) {
      process.stdout.write(nets.map((n) => `${id(n)}\n`).join(''));
      return;
    }
    if (flags.format) {
      for (const n of nets) {
        const row = { ID: id(n), Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: 'false', Internal: String(n.Internal === true), CreatedAt: n.Created ?? '', Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') };
        process.stdout.write(`${renderTemplate(flags.format, row)}\n`);
      }
      return;
    }
    process.stdout.write(formatTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], nets.map((n) => [id(n), n.Name, n.Driver, n.Scope])));
  });
}

function inspect(flags: ClientFlags & { format?: string }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    const out: unknown[] = [];
    let failed: unknown;
    for (const name of names) {
      try {
        out.push(await docker.getNetwork(name).inspect());
      } catch (err) {
        failed = err;
      }
    }
    if (flags.format) for (const n of out) process.stdout.write(`${renderTemplate(flags.format, n)}\n`);
    else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    if (failed) throw failed;
  });
}

function remove(flags: ClientFlags & { force?: boolean }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    let failed: unknown;
    for (const name of names) {
      try {
        await docker.getNetwork(name).remove();
        process.stdout.write(`${name}\n`);
      } catch (err) {
        if (flags.force && (err as { statusCode?: number }).statusCode === 404) continue;
        failed = err;
      }
    }
    if (failed) throw failed;
  });
}

function connect(flags: ClientFlags & { ip?: string; ip6?: string; alias: string[]; link: string[] }, network: string, container: string): Promise<void> {
  return runClient(flags, async (docker) => {
    if (flags.ip6) throw new WharfError('Unsupported', 'IPv6 addresses are not implemented yet');
    await docker.getNetwork(network).connect({
      Container: container,
      EndpointConfig: {
        ...(flags.ip ? { IPAMConfig: { IPv4Address: flags.ip } } : {}),
        ...(flags.alias.length ? { Aliases: flags.alias } : {}),
        ...(flags.link.length ? { Links: flags.link } : {}),
      },
    });
  });
}

function disconnect(flags: ClientFlags & { force?: boolean }, network: string, container: string): Promise<void> {
  return runClient(flags, async (docker) => {
    await docker.getNetwork(network).disconnect({ Container: container, Force: flags.force === true });
  });
}

function prune(flags: ClientFlags & { force?: boolean; filter: string[] }): Promise<void> {
  return runClient(flags, async (docker: Docker) => {
    if (!flags.force && !(await confirm('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return;
    const filters = filtersFromFlags(flags.filter);
    const r = (await docker.pruneNetworks(Object.keys(filters).length ? { filters } : {})) as { NetworksDeleted?: string[] | null };
    const names = r.NetworksDeleted ?? [];
    if (names.length) process.stdout.write(`Deleted Networks:\n${names.map((n) => `${n}\n`).join('')}`);
  });
}

export function registerNetworkCommands(program: Command): void {
  const net = program.command('network').description('manage networks (Docker-compatible)');
  withHost(net.command('create'))
    .description('create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'driver to manage the network', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format', collect, [])
    .option('--gateway <ip>', 'IPv4 gateway for the subnet', collect, [])
    .option('--ip-range <cidr>', 'allocate container addresses from a sub-range', collect, [])
    .option('--internal', 'restrict external access to the network')
    .option('--label <key=value>', 'set metadata on a network', collect, [])
    .option('-o, --opt <key=value>', 'driver specific options', collect, [])
    .option('--attachable', 'accepted for compatibility (local networks are always attachable)')
    .option('--ipv6', 'enable IPv6 (not implemented yet)')
    .action(async (name: string, flags: Parameters<typeof create>[0]) => create(flags, name));
  withHost(net.command('ls').alias('list'))
    .description('list networks')
    .option('-f, --filter <filter>', 'filter output (name, id, label, driver, type, dangling)', collect, [])
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .option('--format <template>', "format output: 'json' or a Go template such as '{{.Name}}'")
    .action(list as Action);
  withHost(net.command('inspect'))
    .description('display detailed information on one or more networks')
    .argument('<network...>')
    .option('-f, --format <template>', "format output: 'json' or a Go template")
    .action(async (names: string[], flags: ClientFlags & { format?: string }) => inspect(flags, names));
  withHost(net.command('rm').alias('remove'))
    .description('remove one or more networks')
    .argument('<network...>')
    .option('-f, --force', 'do not error if the network does not exist')
    .action(async (names: string[], flags: ClientFlags & { force?: boolean }) => remove(flags, names));
  withHost(net.command('connect'))
    .description('connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--ip <address>', 'IPv4 address')
    .option('--ip6 <address>', 'IPv6 address (not implemented yet)')
    .option('--alias <name>', 'add network-scoped alias for the container', collect, [])
    .option('--link <name:alias>', 'add link to another container', collect, [])
    .action(async (network: string, container: string, flags: ClientFlags & { ip?: string; ip6?: string; alias: string[]; link: string[] }) => connect(flags, network, container));
  withHost(net.command('disconnect'))
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the container to disconnect from a network')
    .action(async (network: string, container: string, flags: ClientFlags & { force?: boolean }) => disconnect(flags, network, container));
  withHost(net.command('prune'))
    .description('remove all unused networks')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', "provide filter values (e.g. 'label=<key>=<value>')", collect, [])
    .action(prune as Action);
}
