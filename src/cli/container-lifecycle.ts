import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { WharfError } from '../core/errors.js';
import type { ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { formatTable, humanSize } from './output.js';
import { ramInBytes } from './run-flags.js';
import { ExitError, type Obj, act, filtersFromFlags, inspectContainer, perName, simpleMany } from './container-action.js';

// stop / kill / restart / rm / pause / unpause / wait / rename / port / top / diff / export /
// update / prune.

export const stopCmd = simpleMany('stop', async (docker, n, f) => {
  const query: Obj = {};
  if (f.time !== undefined) query.t = Number(f.time);
  if (f.signal) query.signal = f.signal;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/stop?`, method: 'POST', query, statusCodes: { 204: true, 304: true, 404: 'no such container', 500: 'server error' } });
});
export const restartCmd = simpleMany('restart', async (docker, n, f) => {
  const query: Obj = {};
  if (f.time !== undefined) query.t = Number(f.time);
  if (f.signal) query.signal = f.signal;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/restart?`, method: 'POST', query });
});
export const killCmd = simpleMany('kill', async (docker, n, f) => {
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/kill?`, method: 'POST', query: f.signal ? { signal: f.signal } : {} });
});
export const rmCmd = simpleMany('rm', async (docker, n, f) => {
  const query: Obj = {};
  if (f.force) query.force = 1;
  if (f.volumes) query.v = 1;
  if (f.link) query.link = 1;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}?`, method: 'DELETE', query });
});
export const pauseCmd = simpleMany('pause', async (docker, n) => void (await dial(docker, { path: `/containers/${encodeURIComponent(n)}/pause`, method: 'POST' })));
export const unpauseCmd = simpleMany('unpause', async (docker, n) => void (await dial(docker, { path: `/containers/${encodeURIComponent(n)}/unpause`, method: 'POST' })));

export function waitCmd(names: string[], f: ClientFlags): Promise<void> {
  return act(f, (docker) => perName(names, 'wait', async (n) => {
    const r = await dial<{ StatusCode?: number }>(docker, { path: `/containers/${encodeURIComponent(n)}/wait?`, method: 'POST', query: { condition: 'not-running' } });
    process.stdout.write(`${r.StatusCode ?? 0}\n`);
  }));
}

export function renameCmd(oldName: string, newName: string, f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    if (!newName.trim()) throw new ExitError(1, 'Error: neither old nor new names may be empty');
    await dial(docker, { path: `/containers/${encodeURIComponent(oldName)}/rename?`, method: 'POST', query: { name: newName } });
  });
}

export function portCmd(name: string, spec: string | undefined, f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    const c = await inspectContainer(docker, name);
    const ports = (c.NetworkSettings?.Ports ?? {}) as Record<string, { HostIp: string; HostPort: string }[] | null>;
    let want: string | undefined;
    if (spec) {
      const [p, proto = 'tcp'] = spec.split('/') as [string, string | undefined];
      want = `${p}/${proto}`;
      const b = ports[want];
      if (!b?.length) throw new ExitError(1, `Error: No public port '${want}' published for ${name}`);
    }
    const keys = Object.keys(ports).filter((k) => !want || k === want).sort((a, b) => parseInt(a) - parseInt(b));
    const lines: string[] = [];
    for (const k of keys) {
      for (const b of ports[k] ?? []) {
        const ip = b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0';
        lines.push(want ? `${ip}:${b.HostPort}` : `${k} -> ${ip}:${b.HostPort}`);
      }
    }
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  });
}

export function topCmd(name: string, psArgs: string[], f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    const r = await dial<{ Titles: string[]; Processes: string[][] }>(docker, { path: `/containers/${encodeURIComponent(name)}/top?`, method: 'GET', query: psArgs.length ? { ps_args: psArgs.join(' ') } : {} });
    process.stdout.write(formatTable(r.Titles, r.Processes));
  });
}

export function diffCmd(name: string, f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    const r = await dial<{ Kind: number; Path: string }[] | null>(docker, { path: `/containers/${encodeURIComponent(name)}/changes`, method: 'GET' });
    process.stdout.write((r ?? []).map((c) => `${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}\n`).join(''));
  });
}

export function exportCmd(name: string, f: ClientFlags & { output?: string }): Promise<void> {
  return act(f, async (docker) => {
    if (!f.output && process.stdout.isTTY) throw new ExitError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await dial<NodeJS.ReadableStream>(docker, { path: `/containers/${encodeURIComponent(name)}/export`, method: 'GET', isStream: true });
    if (!f.output) {
      await pipeline(res, process.stdout);
      return;
    }
    // Written to a temp file and renamed: a failed export never leaves a truncated archive.
    const tmp = `${f.output}.wharf-tmp-${process.pid}`;
    try {
      await pipeline(res, createWriteStream(tmp));
      await rename(tmp, f.output);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  });
}

// ---- update

export async function updateCmd(names: string[], f: ClientFlags & Obj): Promise<void> {
  let body: Obj;
  try {
    body = {};
    const ram = (k: string, flag: string) => (f[k] === undefined ? undefined : f[k] === '-1' ? -1 : ramInBytes(String(f[k]), flag));
    const int = (k: string, flag: string) => {
      if (f[k] === undefined) return undefined;
      if (!/^-?\d+$/.test(String(f[k]))) throw new WharfError('InvalidArgument', `invalid argument "${f[k]}" for "${flag}" flag: strconv.ParseInt: parsing "${f[k]}": invalid syntax`);
      return Number(f[k]);
    };
    const set = (key: string, v: unknown) => {
      if (v !== undefined) body[key] = v;
    };
    set('Memory', ram('memory', '-m, --memory'));
    set('MemoryReservation', ram('memoryReservation', '--memory-reservation'));
    set('MemorySwap', ram('memorySwap', '--memory-swap'));
    set('CpuShares', int('cpuShares', '-c, --cpu-shares'));
    set('CpuQuota', int('cpuQuota', '--cpu-quota'));
    set('CpuPeriod', int('cpuPeriod', '--cpu-period'));
    set('CpusetCpus', f.cpusetCpus);
    set('CpusetMems', f.cpusetMems);
    set('PidsLimit', int('pidsLimit', '--pids-limit'));
    set('BlkioWeight', int('blkioWeight', '--blkio-weight'));
    if (f.cpus !== undefined) {
      const n = Number(f.cpus);
      if (!Number.isFinite(n) || n < 0) throw new WharfError('InvalidArgument', `invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`);
      body.NanoCpus = Math.round(n * 1e9);
    }
    if (f.restart) {
      const { parseRestart } = await import('./run-flags.js');
      body.RestartPolicy = parseRestart(String(f.restart));
    }
    if (!Object.keys(body).length) throw new WharfError('InvalidArgument', 'you must provide one or more flags when using this command');
  } catch (e) {
    process.stderr.write(`wharf: ${(e as Error).message}\nSee 'wharf update --help'.\n`);
    process.exitCode = 125;
    return;
  }
  await act(f, (docker) => perName(names, 'update', async (n) => {
    const r = await dial<{ Warnings?: string[] | null }>(docker, { path: `/containers/${encodeURIComponent(n)}/update`, method: 'POST', body });
    for (const w of r?.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    process.stdout.write(`${n}\n`);
  }));
}

// ---- prune

export async function pruneCmd(f: ClientFlags & { force?: boolean; filter: string[] }): Promise<void> {
  await act(f, async (docker) => {
    if (!f.force) {
      const { createInterface } = await import('node:readline/promises');
      if (!process.stdin.isTTY) throw new ExitError(1, 'not removing anything: confirm on a terminal or pass -f/--force');
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const ans = await rl.question('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
      rl.close();
      if (!/^y(es)?$/i.test(ans.trim())) return;
    }
    const filters = filtersFromFlags(f.filter);
    const r = await dial<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>(docker, { path: '/containers/prune?', method: 'POST', query: Object.keys(filters).length ? { filters: JSON.stringify(filters) } : {} });
    if (r.ContainersDeleted?.length) process.stdout.write(`Deleted Containers:\n${r.ContainersDeleted.map((i) => `${i}\n`).join('')}\n`);
    process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed ?? 0)}\n`);
  });
}
