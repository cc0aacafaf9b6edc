import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';

// What a test's `wharf daemon` (or engine) leaves in the kernel and on disk, found and removed
// by what only it owns: its own directory (data root, exec root, socket below it), its default
// bridge name (nft table `wharf-<bridge>`, namespaces `wharf-<bridge>-*`), the user bridges its
// nft table names, and the ids of its containers (cgroups `<parent>/<id>`). Nothing of another
// daemon on the machine matches any of these, so parallel tests never remove each other's state.

export interface DaemonFootprint {
  /** The test's own directory; data root and exec root are below it. */
  dir: string;
  dataRoot: string;
  execRoot: string;
  /** The default network's bridge. */
  bridge: string;
  /** More bridges known to be its own (user networks seen through the API). */
  bridges?: readonly string[];
  /** More container ids known to be its own (cgroups are named after them). */
  containerIds?: readonly string[];
  /** The daemon's cgroup parent. Default /wharf. */
  cgroupParent?: string;
}

export interface Leftovers {
  /** Live processes whose command line names the directory (conmon, the daemon, container inits). */
  processes: number[];
  /** runc containers under the exec root's runc state. */
  runc: string[];
  /** Mount points at or below the directory. */
  mounts: string[];
  /** Cgroup directories of its containers. */
  cgroups: string[];
  /** Its bridges and the links enslaved to them. */
  links: string[];
  nftTables: string[];
  netns: string[];
  /** The directory itself, if still there. */
  files: string[];
}

const CGROUP_ROOT = '/sys/fs/cgroup';
const ID = /^[0-9a-f]{64}$/;

function lsdir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

const runcRoot = (fp: DaemonFootprint) => join(fp.execRoot, 'runc');
const nftTable = (fp: DaemonFootprint) => `wharf-${fp.bridge}`;

/** Processes (not this one) whose argv mentions the directory. */
function processesOf(dir: string): number[] {
  const out: number[] = [];
  for (const e of lsdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1];
      if (state !== 'Z' && argv.includes(dir)) out.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

async function runcContainers(fp: DaemonFootprint): Promise<string[]> {
  if (!existsSync(runcRoot(fp))) return [];
  const r = await run(['runc', '--root', runcRoot(fp), 'list', '-q'], { allowFailure: true });
  return r.stdout.split('\n').filter(Boolean);
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below dir, in mount order. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescapeMountinfo(l.split(' ')[4] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(`${dir}/`));
}

async function containerIds(fp: DaemonFootprint): Promise<string[]> {
  const ids = new Set([...(fp.containerIds ?? []), ...lsdir(join(fp.dataRoot, 'containers')), ...lsdir(join(fp.execRoot, 'runtime')), ...(await runcContainers(fp))]);
  return [...ids].filter((id) => ID.test(id));
}

/** Existing cgroup directories of these containers (v2: one tree; v1: one per controller). */
function cgroupsOf(ids: readonly string[], parent: string): string[] {
  const v2 = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'));
  const roots = v2 ? [CGROUP_ROOT] : lsdir(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c)).filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory());
  const out: string[] = [];
  for (const root of roots) for (const id of ids) if (existsSync(join(root, parent, id))) out.push(join(root, parent, id));
  return [...new Set(out)];
}

interface Link {
  ifname: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

/** Its bridges (default, given, and those its nft table names) and the links enslaved to them. */
async function linksOf(fp: DaemonFootprint): Promise<string[]> {
  const links = JSON.parse((await run(['ip', '-json', '-details', 'link', 'show'])).stdout || '[]') as Link[];
  const nft = (await run(['nft', 'list', 'table', 'ip', nftTable(fp)], { allowFailure: true })).stdout;
  const named = new Set([...nft.matchAll(/[io]ifname (?:!= )?"?([\w.@-]+)"?/g)].map((m) => m[1]!));
  const bridges = new Set([fp.bridge, ...(fp.bridges ?? [])]);
  for (const l of links) if (named.has(l.ifname) && l.linkinfo?.info_kind === 'bridge') bridges.add(l.ifname);
  // Enslaved links first: deleting a bridge leaves its veths behind without a master.
  const ports = links.filter((l) => l.master && bridges.has(l.master)).map((l) => l.ifname);
  return [...ports, ...links.filter((l) => bridges.has(l.ifname)).map((l) => l.ifname)];
}

async function nftTablesOf(fp: DaemonFootprint): Promise<string[]> {
  const r = await run(['nft', 'list', 'table', 'ip', nftTable(fp)], { allowFailure: true });
  return r.code === 0 ? [`ip ${nftTable(fp)}`] : [];
}

const netnsOf = (fp: DaemonFootprint) => lsdir('/run/netns').filter((n) => n.startsWith(`wharf-${fp.bridge}-`));

export async function findLeftovers(fp: DaemonFootprint): Promise<Leftovers> {
  const ids = await containerIds(fp);
  return {
    processes: processesOf(fp.dir),
    runc: await runcContainers(fp),
    mounts: mountsUnder(fp.dir),
    cgroups: cgroupsOf(ids, fp.cgroupParent ?? '/wharf'),
    links: await linksOf(fp),
    nftTables: await nftTablesOf(fp),
    netns: netnsOf(fp),
    files: existsSync(fp.dir) ? [fp.dir] : [],
  };
}

/** One line per kind of leftover; '' when there is none. */
export function describeLeftovers(l: Leftovers): string {
  return Object.entries(l)
    .filter(([, v]) => (v as unknown[]).length > 0)
    .map(([k, v]) => `${k}: ${(v as unknown[]).join(' ')}`)
    .join('\n');
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Removes a cgroup directory and its children (deepest first); false while one is busy. */
function removeCgroup(dir: string): boolean {
  for (const e of lsdir(dir)) {
    const p = join(dir, e);
    if (statSync(p, { throwIfNoEntry: false })?.isDirectory()) removeCgroup(p);
  }
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return !existsSync(dir);
  }
}

/**
 * Removes everything of the footprint (processes, runc containers, mounts, cgroups, links, nft
 * table, namespaces, the directory) and returns what could still not be removed.
 */
export async function removeLeftovers(fp: DaemonFootprint): Promise<Leftovers> {
  const ids = await containerIds(fp);
  for (const pid of processesOf(fp.dir)) kill(pid);
  for (const id of await runcContainers(fp)) await run(['runc', '--root', runcRoot(fp), 'delete', '--force', id], { allowFailure: true, timeoutMs: 20_000 });
  for (const mp of mountsUnder(fp.dir).reverse()) await run(['umount', '-l', mp], { allowFailure: true });
  const cgroups = cgroupsOf(ids, fp.cgroupParent ?? '/wharf');
  for (let attempt = 0; attempt < 50; attempt++) {
    const busy = cgroups.filter((c) => existsSync(c));
    if (busy.length === 0) break;
    for (const c of busy) for (const pid of cgroupPids(c)) kill(pid);
    if (busy.every(removeCgroup)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const links = await linksOf(fp);
  if (links.length) await run(['ip', '-force', '-batch', '-'], { input: links.map((l) => `link del dev ${l}`).join('\n') + '\n', allowFailure: true });
  await run(['nft', 'delete', 'table', 'ip', nftTable(fp)], { allowFailure: true });
  for (const n of netnsOf(fp)) await run(['ip', 'netns', 'del', n], { allowFailure: true });
  rmSync(fp.dir, { recursive: true, force: true });
  return findLeftovers({ ...fp, containerIds: [...ids, ...(fp.containerIds ?? [])] });
}
