import type { Runner } from './ip-driver.js';
import type { Proto } from './ports.js';
import { WharfError } from '../../core/errors.js';

// Wharf's netfilter state lives in one nftables table per daemon (`ip wharf-<daemon>`), so two
// daemons never touch each other's rules. The table is rendered from state by a pure function
// and replaced atomically with one `nft -f -` (declare, delete, re-create in one transaction).

export interface NftNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** Masquerade traffic leaving through another interface (Docker's ip-masquerade, default on). */
  masquerade: boolean;
}

export interface NftPublish {
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  proto: Proto;
}

export interface NftState {
  table: string;
  networks: readonly NftNetwork[];
  publishes: readonly NftPublish[];
}

const TABLE = /^[A-Za-z0-9_-]{1,64}$/;

export function checkTableName(t: string): string {
  if (!TABLE.test(t)) throw new WharfError('InvalidArgument', `invalid nftables table name ${JSON.stringify(t)}`);
  return t;
}

function q(s: string): string {
  return `"${s.replace(/[^A-Za-z0-9_.-]/g, '')}"`;
}

/** Renders the whole table; the script replaces any previous version atomically. */
export function renderRuleset(s: NftState): string {
  const t = checkTableName(s.table);
  const L: string[] = [];
  L.push(`table ip ${t} {}`, `delete table ip ${t}`, `table ip ${t} {`);
  L.push('  chain ports {');
  for (const p of s.publishes) {
    const daddr = p.hostIp ? `ip daddr ${p.hostIp} ` : '';
    L.push(`    ${daddr}${p.proto} dport ${p.hostPort} dnat to ${p.containerIp}:${p.containerPort}`);
  }
  L.push('  }');
  L.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', '    fib daddr type local jump ports', '  }');
  L.push('  chain output {', '    type nat hook output priority -100; policy accept;', '    fib daddr type local jump ports', '  }');
  L.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;');
  for (const n of s.networks) {
    // Published ports reached from the host through 127.0.0.1 (needs route_localnet on the bridge).
    L.push(`    oifname ${q(n.bridge)} ip saddr 127.0.0.0/8 masquerade`);
    if (!n.internal && n.masquerade) L.push(`    ip saddr ${n.subnet} oifname != ${q(n.bridge)} masquerade`);
  }
  for (const p of s.publishes) {
    // Hairpin: a container reaching its own published port.
    L.push(`    ip saddr ${p.containerIp} ip daddr ${p.containerIp} ${p.proto} dport ${p.containerPort} masquerade`);
  }
  L.push('  }');
  L.push('  chain forward {', '    type filter hook forward priority filter; policy accept;');
  const bridges = s.networks.map((n) => n.bridge);
  for (const n of s.networks) {
    if (n.internal) {
      L.push(`    iifname ${q(n.bridge)} oifname != ${q(n.bridge)} drop`);
      L.push(`    oifname ${q(n.bridge)} iifname != ${q(n.bridge)} drop`);
    }
  }
  // Published ports stay reachable from other networks (Docker's userland proxy gives the same).
  L.push('    ct status dnat accept');
  // Isolation: nothing is forwarded from one Wharf network's bridge to another's.
  for (const b of bridges) {
    const others = bridges.filter((x) => x !== b);
    if (others.length > 0) L.push(`    iifname ${q(b)} oifname { ${others.map(q).join(', ')} } drop`);
  }
  L.push('  }');
  L.push('}');
  return L.join('\n') + '\n';
}

export class NftDriver {
  spawns = 0;
  constructor(
    private readonly runner: Runner,
    private readonly opts: { nft?: string } = {},
  ) {}

  async apply(s: NftState): Promise<void> {
    await this.load(renderRuleset(s));
  }

  async deleteTable(table: string): Promise<void> {
    const t = checkTableName(table);
    await this.load(`table ip ${t} {}\ndelete table ip ${t}\n`);
  }

  async tableExists(table: string): Promise<boolean> {
    this.spawns++;
    const r = await this.runner([this.opts.nft ?? 'nft', 'list', 'table', 'ip', checkTableName(table)], { allowFailure: true });
    return r.code === 0;
  }

  private async load(script: string): Promise<void> {
    this.spawns++;
    const r = await this.runner([this.opts.nft ?? 'nft', '-f', '-'], { input: script, allowFailure: true, timeoutMs: 15_000 });
    if (r.code !== 0) throw new WharfError('Internal', `nft: ${r.stderr.trim()}`, { details: { script } });
  }
}
