import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../../src/core/exec/run.js';

// Helpers for networking tests on real namespaces: random names, free 10.2xx subnets, netns
// lifecycle, processes inside a netns, and a leak check.

export function suffix(n = 6): string {
  return randomBytes(8).toString('hex').slice(0, n);
}

/** Subnets (/24) in 10.2xx space not overlapping any host route. */
export async function freeSubnets(count: number): Promise<string[]> {
  const routes = (JSON.parse((await run(['ip', '-json', '-4', 'route', 'show', 'table', 'all'])).stdout) as Array<{ dst: string }>).map((r) => r.dst);
  const out: string[] = [];
  for (let tries = 0; out.length < count && tries < 1000; tries++) {
    const b = 220 + Math.floor(Math.random() * 30);
    const c = Math.floor(Math.random() * 256);
    const s = `10.${b}.${c}.0/24`;
    if (out.includes(s) || routes.some((r) => r.startsWith(`10.${b}.${c}.`) || r === `10.${b}.0.0/16`)) continue;
    out.push(s);
  }
  if (out.length < count) throw new Error('no free test subnets');
  return out;
}

export class Netns {
  readonly path: string;
  private readonly procs: ChildProcess[] = [];
  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }
  static async create(name: string): Promise<Netns> {
    await run(['ip', 'netns', 'add', name]);
    return new Netns(name);
  }
  /** resolv.conf seen by `ip netns exec` in this netns. */
  setResolv(text: string): void {
    mkdirSync(`/etc/netns/${this.name}`, { recursive: true });
    writeFileSync(`/etc/netns/${this.name}/resolv.conf`, text);
  }
  exec(argv: string[], opts: { input?: string; timeoutMs?: number } = {}) {
    return run(['ip', 'netns', 'exec', this.name, ...argv], { allowFailure: true, timeoutMs: opts.timeoutMs ?? 10_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  }
  spawn(argv: string[]): ChildProcess {
    const p = spawnProcess(['ip', 'netns', 'exec', this.name, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.resume();
    p.stderr?.resume();
    this.procs.push(p);
    return p;
  }
  async destroy(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    await run(['ip', 'netns', 'del', this.name], { allowFailure: true });
    rmSync(`/etc/netns/${this.name}`, { recursive: true, force: true });
  }
}

/** Waits until fn returns true (polling), or throws after timeoutMs. */
export async function until(fn: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function leftovers(names: { linkPrefixes: string[]; table: string; netnsPrefix: string }): Promise<string[]> {
  const out: string[] = [];
  const links = JSON.parse((await run(['ip', '-json', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
  for (const l of links) if (names.linkPrefixes.some((p) => l.ifname.startsWith(p))) out.push(`link ${l.ifname}`);
  const tables = (await run(['nft', 'list', 'tables'])).stdout;
  if (tables.includes(names.table)) out.push(`nft table ${names.table}`);
  const ns = (await run(['ip', 'netns', 'list'])).stdout;
  for (const line of ns.split('\n')) if (line.startsWith(names.netnsPrefix)) out.push(`netns ${line}`);
  return out;
}
