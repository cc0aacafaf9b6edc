import type { Command } from 'commander';
import { createWriteStream, existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { WharfError } from '../core/errors.js';
import { clientErrorMessage, forEachLine, runClient, withHost, type ClientFlags } from './client.js';
import { DetachWatcher, dial, hijackRaw, parseDetachKeys, pumpOutput, readAll } from './container-io.js';
import { formatOne, formatRows } from './go-template.js';
import { formatTable, humanDuration, humanSize } from './output.js';
import { addContainerConfigFlags, addRunOnlyFlags, buildCreateRequest, defaultBuildContext, ramInBytes, type RunFlags } from './run-flags.js';

// Docker-style container commands: `wharf run|create|start|ps|logs|exec|stop|kill|restart|rm|
// inspect|top|stats|cp|wait|pause|unpause|rename|events|update|port|attach|export|diff` and
// `wharf container …`. They speak only the Docker Engine API through dockerode, so they work
// against any Docker daemon too. Exit codes as docker: the container's own code for run/start -a/
// exec/attach, 125 for flag and daemon errors of run/create, 1 for other commands' errors.

type Action = (...args: any[]) => Promise<void>;
type Obj = Record<string, any>;
const collect = (v: string, prev: string[]) => [...prev, v];

/** Commands this module owns at the top level (the fast start path in client-main.ts uses it). */
export const CONTAINER_COMMANDS = [
  'run', 'create', 'start', 'ps', 'logs', 'exec', 'stop', 'kill', 'restart', 'rm', 'inspect', 'top', 'stats', 'cp', 'wait',
  'pause', 'unpause', 'rename', 'events', 'update', 'port', 'attach', 'export', 'diff', 'container',
] as const;

class ExitError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Runs an action with a client; errors become Docker's text and `errorExitCode`. */
function act(flags: ClientFlags, fn: (docker: Docker) => Promise<void>, errorExitCode = 1): Promise<void> {
  return runClient(
    flags,
    async (docker) => {
      try {
        await fn(docker);
      } catch (e) {
        if (e instanceof ExitError) {
          if (e.message) process.stderr.write(`${e.message}\n`);
          process.exitCode = e.code;
          return;
        }
        throw e;
      }
    },
    errorExitCode,
  );
}

const statusOf = (e: unknown) => (e as { statusCode?: number }).statusCode;

// ---- image references (what the docker CLI sends to /images/create)

/** `busybox` → [`docker.io/library/busybox`, `latest`]; `host:5000/x:1` → [`host:5000/x`, `1`]. */
export function normalizeImageRef(ref: string): [string, string] {
  let name = ref;
  let tag = 'latest';
  const at = name.indexOf('@');
  if (at >= 0) {
    tag = name.slice(at + 1);
    name = name.slice(0, at);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon > name.lastIndexOf('/')) {
      tag = name.slice(colon + 1);
      name = name.slice(0, colon);
    }
  }
  const first = name.split('/')[0]!;
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) name = `docker.io/${name.includes('/') ? name : `library/${name}`}`;
  return [name, tag];
}

async function pullImage(docker: Docker, image: string, quiet: boolean, platform?: string): Promise<void> {
  const [fromImage, tag] = normalizeImageRef(image);
  const res = await dial<NodeJS.ReadableStream>(docker, {
    path: '/images/create?',
    method: 'POST',
    query: { fromImage, tag, ...(platform ? { platform } : {}) },
    headers: { 'X-Registry-Auth': 'e30=' },
    isStream: true,
  });
  const handle = (line: string) => {
    if (!line.trim()) return;
    const m = JSON.parse(line) as { status?: string; id?: string; progress?: string; error?: string; errorDetail?: { message?: string } };
    if (m.error || m.errorDetail) throw new WharfError('Internal', m.errorDetail?.message ?? m.error ?? 'pull failed');
    if (!quiet && m.status && !m.progress) process.stderr.write(`${m.id ? `${m.id}: ` : ''}${m.status}\n`);
  };
  await forEachLine(res, handle);
}

/** POST /containers/create, pulling on 404 as docker does (--pull missing|always|never). */
async function createContainer(docker: Docker, req: ReturnType<typeof buildCreateRequest>, f: RunFlags): Promise<string> {
  const image = String(req.body.Image);
  const query: Record<string, string> = {};
  if (req.name) query.name = req.name;
  if (req.platform) query.platform = req.platform;
  const create = () => dial<{ Id: string; Warnings?: string[] | null }>(docker, { path: '/containers/create?', method: 'POST', query, body: req.body });
  if (f.pull === 'always') await pullImage(docker, image, f.quiet === true, f.platform);
  let r: { Id: string; Warnings?: string[] | null };
  try {
    r = await create();
  } catch (e) {
    if (statusOf(e) !== 404 || f.pull === 'never' || f.pull === 'always' || !/no such image/i.test(clientErrorMessage(e))) throw e;
    const [repo, tag] = normalizeImageRef(image);
    const familiar = repo.replace(/^docker\.io\/(library\/)?/, '');
    process.stderr.write(`Unable to find image '${familiar}${tag.startsWith('sha256:') ? '@' : ':'}${tag}' locally\n`);
    await pullImage(docker, image, f.quiet === true, f.platform);
    r = await create();
  }
  for (const w of r.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  if (f.cidfile) writeFileSync(f.cidfile, r.Id);
  return r.Id;
}

/** Docker CLI's mapping of a start failure to an exit status (run): 127 not found, 126 not executable. */
export function startErrorExitCode(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

// ---- attaching

interface AttachIo {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys?: string;
}

function hijack(docker: Docker, path: string, query: Record<string, string | number>, body: unknown, _openStdin: boolean): Promise<Duplex> {
  return hijackRaw(docker, path.replace(/\?$/, ''), query, body);
}

/**
 * Wires a hijacked connection to this process: output to stdout/stderr (demuxed unless TTY),
 * stdin forwarded (raw mode on a terminal, detach keys watched). Resolves when the output
 * ends or the user detaches.
 */
function wireStreams(sock: Duplex, io: AttachIo): { done: Promise<'ended' | 'detached'>; restore: () => void } {
  const stdin = process.stdin;
  let rawSet = false;
  let detachResolve: (v: 'detached') => void = () => undefined;
  const detached = new Promise<'detached'>((r) => (detachResolve = r));
  const onData = (() => {
    if (!io.stdin) return undefined;
    const watcher = io.tty ? new DetachWatcher(parseDetachKeys(io.detachKeys)) : undefined;
    return (b: Buffer) => {
      if (!watcher) {
        sock.write(b);
        return;
      }
      const r = watcher.feed(b);
      if (r.forward.length) sock.write(r.forward);
      if (r.detach) detachResolve('detached');
    };
  })();
  if (onData) {
    if (io.tty && stdin.isTTY) {
      stdin.setRawMode(true);
      rawSet = true;
    }
    stdin.on('data', onData);
    stdin.once('end', () => sock.end());
    stdin.resume();
  }
  const restore = () => {
    if (onData) {
      stdin.off('data', onData);
      stdin.pause();
    }
    if (rawSet) stdin.setRawMode(false);
  };
  const out = pumpOutput(sock, io.tty, process.stdout, process.stderr).then(() => 'ended' as const);
  return { done: Promise.race([out, detached]), restore };
}

/** Sends the terminal size now and on every SIGWINCH; returns the remover. */
function monitorTtySize(resize: (h: number, w: number) => Promise<unknown>): () => void {
  if (!process.stdout.isTTY) return () => undefined;
  const send = () => void resize(process.stdout.rows, process.stdout.columns).catch(() => undefined);
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}

/** Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to the container (docker's --sig-proxy). */
function proxySignals(docker: Docker, id: string): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = () => void dial(docker, { path: `/containers/${id}/kill?`, method: 'POST', query: { signal: s } }).catch(() => undefined);
    process.on(s, h);
    return [s, h] as const;
  });
  return () => handlers.forEach(([s, h]) => process.off(s, h));
}

/** Holds POST /wait open (headers received) and resolves the exit status at the end. */
async function openWait(docker: Docker, id: string, condition: string): Promise<{ result: Promise<number> }> {
  const res = await dial<NodeJS.ReadableStream>(docker, { path: `/containers/${id}/wait?`, method: 'POST', query: { condition }, isStream: true });
  const result = readAll(res).then((b) => {
    const text = b.toString().trim();
    if (!text) return 0;
    const j = JSON.parse(text) as { StatusCode?: number; Error?: { Message?: string } | null };
    if (j.Error?.Message) process.stderr.write(`${j.Error.Message}\n`);
    return j.StatusCode ?? 0;
  });
  result.catch(() => undefined);
  return { result };
}

function exitNow(code: number): never {
  process.exit(code);
}

// ---- run / create / start

async function runCmd(image: string, args: string[], f: RunFlags): Promise<void> {
  let req: ReturnType<typeof buildCreateRequest>;
  try {
    req = buildCreateRequest(image, args, f, defaultBuildContext(), { run: true });
    if (f.detachKeys) parseDetachKeys(f.detachKeys);
    if (f.tty && f.interactive && !process.stdin.isTTY) throw new WharfError('InvalidArgument', 'the input device is not a TTY');
  } catch (e) {
    process.stderr.write(`wharf: ${(e as Error).message}\nSee 'wharf run --help'.\n`);
    process.exitCode = 125;
    return;
  }
  await act(
    f,
    async (docker) => {
      const id = await createContainer(docker, req, f);
      const b = req.body;
      if (f.detach) {
        try {
          await dial(docker, { path: `/containers/${id}/start`, method: 'POST' });
        } catch (e) {
          throw new ExitError(startErrorExitCode(clientErrorMessage(e)), clientErrorMessage(e));
        }
        process.stdout.write(`${id}\n`);
        return;
      }
      const io: AttachIo = { tty: b.Tty === true, stdin: b.AttachStdin === true, stdout: b.AttachStdout === true, stderr: b.AttachStderr === true };
      if (f.detachKeys) io.detachKeys = f.detachKeys;
      let wired: ReturnType<typeof wireStreams> | undefined;
      if (io.stdin || io.stdout || io.stderr) {
        const sock = await hijack(docker, `/containers/${id}/attach?`, { stream: 1, stdin: io.stdin ? 1 : 0, stdout: io.stdout ? 1 : 0, stderr: io.stderr ? 1 : 0 }, undefined, io.stdin);
        wired = wireStreams(sock, io);
      }
      const waitP = await openWait(docker, id, f.rm ? 'removed' : 'next-exit');
      try {
        await dial(docker, { path: `/containers/${id}/start`, method: 'POST' });
      } catch (e) {
        wired?.restore();
        const msg = clientErrorMessage(e);
        process.stderr.write(`wharf: ${msg}\n`);
        exitNow(startErrorExitCode(msg));
      }
      const stopResize = io.tty ? monitorTtySize((h, w) => dial(docker, { path: `/containers/${id}/resize?`, method: 'POST', query: { h, w } })) : () => undefined;
      const stopSignals = !io.tty && f.sigProxy !== 'false' ? proxySignals(docker, id) : () => undefined;
      const how = wired ? await wired.done : 'ended';
      stopResize();
      stopSignals();
      wired?.restore();
      if (how === 'detached') exitNow(0);
      const code = await waitP.result;
      exitNow(code);
    },
    125,
  );
}

async function createCmd(image: string, args: string[], f: RunFlags): Promise<void> {
  let req: ReturnType<typeof buildCreateRequest>;
  try {
    req = buildCreateRequest(image, args, f, defaultBuildContext(), { run: false });
  } catch (e) {
    process.stderr.write(`wharf: ${(e as Error).message}\nSee 'wharf create --help'.\n`);
    process.exitCode = 125;
    return;
  }
  await act(
    f,
    async (docker) => {
      process.stdout.write(`${await createContainer(docker, req, f)}\n`);
    },
    125,
  );
}

async function inspectContainer(docker: Docker, ref: string): Promise<Obj> {
  return dial<Obj>(docker, { path: `/containers/${encodeURIComponent(ref)}/json`, method: 'GET' });
}

async function startCmd(names: string[], f: ClientFlags & { attach?: boolean; interactive?: boolean; detachKeys?: string }): Promise<void> {
  await act(f, async (docker) => {
    if (f.attach || f.interactive) {
      if (names.length > 1) throw new ExitError(1, 'you cannot start and attach multiple containers at once');
      const c = await inspectContainer(docker, names[0]!);
      const io: AttachIo = { tty: c.Config?.Tty === true, stdin: f.interactive === true && c.Config?.OpenStdin === true, stdout: true, stderr: true };
      if (f.detachKeys) io.detachKeys = f.detachKeys;
      const sock = await hijack(docker, `/containers/${c.Id}/attach?`, { stream: 1, stdin: io.stdin ? 1 : 0, stdout: 1, stderr: 1 }, undefined, io.stdin);
      const wired = wireStreams(sock, io);
      const waitP = await openWait(docker, c.Id as string, 'next-exit');
      try {
        await dial(docker, { path: `/containers/${c.Id}/start`, method: 'POST' });
      } catch (e) {
        wired.restore();
        throw e;
      }
      const stopResize = io.tty ? monitorTtySize((h, w) => dial(docker, { path: `/containers/${c.Id}/resize?`, method: 'POST', query: { h, w } })) : () => undefined;
      const how = await wired.done;
      stopResize();
      wired.restore();
      exitNow(how === 'detached' ? 0 : await waitP.result);
    }
    await perName(names, 'start', async (n) => {
      await dial(docker, { path: `/containers/${encodeURIComponent(n)}/start`, method: 'POST' });
      process.stdout.write(`${n}\n`);
    });
  });
}

/** Docker's multi-name commands: one error line per failing name, then exit 1. */
async function perName(names: string[], verb: string, fn: (n: string) => Promise<void>): Promise<void> {
  const failed: string[] = [];
  for (const n of names) {
    try {
      await fn(n);
    } catch (e) {
      if (statusOf(e) === undefined && !(e instanceof WharfError)) throw e;
      process.stderr.write(`${clientErrorMessage(e)}\n`);
      failed.push(n);
    }
  }
  if (failed.length) throw new ExitError(1, verb === 'start' ? `Error: failed to start containers: ${failed.join(', ')}` : '');
}

// ---- ps

/** Docker's Status text from a /containers/json row (the daemon's, or rebuilt from State). */
export function portsText(ports: Obj[] | undefined | null): string {
  if (!ports?.length) return '';
  const out: string[] = [];
  const sorted = [...ports].sort((a, b) => (a.PrivatePort - b.PrivatePort) || String(a.Type).localeCompare(String(b.Type)) || String(a.IP ?? '').localeCompare(String(b.IP ?? '')));
  for (const p of sorted) {
    if (p.PublicPort) {
      const ip = p.IP && p.IP.includes(':') ? `[${p.IP}]` : (p.IP ?? '');
      out.push(`${ip}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`);
    } else out.push(`${p.PrivatePort}/${p.Type}`);
  }
  return [...new Set(out)].join(', ');
}

const ellipsis = (s: string, n: number) => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Label: 'LABEL',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
};

/** Docker's container list context: what `--format` sees per row. */
export function psContext(c: Obj, opts: { trunc: boolean; now?: number }): Obj {
  const now = opts.now ?? Date.now();
  const labels = (c.Labels ?? {}) as Record<string, string>;
  const names = ((c.Names ?? []) as string[]).map((n) => n.replace(/^\//, '')).filter((n) => !n.includes('/'));
  const command = String(c.Command ?? '');
  const image = String(c.Image ?? '');
  return {
    ID: opts.trunc ? String(c.Id).slice(0, 12) : String(c.Id),
    Image: opts.trunc && image.startsWith('sha256:') ? image.slice(7, 19) : image,
    Command: JSON.stringify(opts.trunc ? ellipsis(command, 20) : command),
    CreatedAt: new Date((c.Created as number) * 1000).toString(),
    RunningFor: `${humanDuration(now - (c.Created as number) * 1000)} ago`,
    Ports: portsText(c.Ports as Obj[]),
    State: c.State ?? '',
    Status: c.Status ?? '',
    Size: c.SizeRw === undefined && c.SizeRootFs === undefined ? '0B' : `${humanSize(c.SizeRw ?? 0)} (virtual ${humanSize(c.SizeRootFs ?? 0)})`,
    Names: names.join(','),
    Labels: Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(','),
    Label: (k: string) => labels[k] ?? '',
    Mounts: ((c.Mounts ?? []) as Obj[]).map((m) => (m.Name ? (opts.trunc ? ellipsis(String(m.Name), 15) : m.Name) : m.Source)).join(','),
    Networks: Object.keys((c.NetworkSettings?.Networks ?? {}) as Obj).sort().join(','),
    LocalVolumes: String(((c.Mounts ?? []) as Obj[]).filter((m) => m.Driver === 'local').length),
  };
}

function filtersFromFlags(flags: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new ExitError(125, `invalid argument "${f}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

/** Renders rows with Docker's format rules: table (default), json, or a Go template. */
function renderList(format: string | undefined, defTable: string, rows: Obj[], headers: Record<string, string>): string {
  const fmt = format ?? defTable;
  if (fmt === 'json') return rows.map((r) => `${JSON.stringify(plain(r))}\n`).join('');
  if (fmt === 'table') return formatRows(defTable, rows, headers);
  return formatRows(fmt, rows, headers);
}

/** A context object without its methods, for `--format json`. */
function plain(r: Obj): Obj {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => typeof v !== 'function'));
}

async function psCmd(f: ClientFlags & { all?: boolean; quiet?: boolean; last?: string; latest?: boolean; size?: boolean; trunc?: boolean; filter: string[]; format?: string }): Promise<void> {
  await act(f, async (docker) => {
    const filters = filtersFromFlags(f.filter);
    const query: Record<string, unknown> = {};
    if (f.all) query.all = 1;
    let limit = f.last !== undefined ? Number(f.last) : -1;
    if (f.latest) limit = 1;
    if (!Number.isInteger(limit)) throw new ExitError(125, `invalid argument "${f.last}" for "-n, --last" flag: strconv.ParseInt: parsing "${f.last}": invalid syntax`);
    if (limit > 0) query.limit = limit;
    if (f.size) query.size = 1;
    if (Object.keys(filters).length) query.filters = JSON.stringify(filters);
    let list = await dial<Obj[]>(docker, { path: '/containers/json?', method: 'GET', query });
    if (limit > 0) list = list.slice(0, limit); // in case the daemon ignores limit
    const trunc = f.trunc !== false;
    if (f.quiet && !f.format) {
      process.stdout.write(list.map((c) => `${trunc ? String(c.Id).slice(0, 12) : c.Id}\n`).join(''));
      return;
    }
    const rows = list.map((c) => psContext(c, { trunc }));
    const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${f.size ? '\t{{.Size}}' : ''}`;
    process.stdout.write(renderList(f.format, def, rows, PS_HEADERS));
  });
}

// ---- logs

/** Docker's GetTimestamp: RFC 3339 / date, unix seconds, or a duration ago ("10m", "1h30m"). */
export function apiTimestamp(v: string, nowMs = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  const d = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(v) ? v : undefined;
  if (d) {
    let total = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[m[2]!]!;
    return ((nowMs - total) / 1000).toFixed(9).replace(/\.?0+$/, '');
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new WharfError('InvalidArgument', `invalid value for "since"/"until": "${v}" (use RFC 3339, unix seconds, or a duration such as 10m)`);
  return String(t / 1000);
}

async function logsCmd(name: string, f: ClientFlags & { follow?: boolean; tail?: string; since?: string; until?: string; timestamps?: boolean; details?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    const c = await inspectContainer(docker, name);
    const query: Record<string, unknown> = { stdout: 1, stderr: 1, tail: f.tail ?? 'all' };
    if (f.follow) query.follow = 1;
    if (f.timestamps) query.timestamps = 1;
    if (f.details) query.details = 1;
    if (f.since) query.since = apiTimestamp(f.since);
    if (f.until) query.until = apiTimestamp(f.until);
    const res = await dial<NodeJS.ReadableStream>(docker, { path: `/containers/${c.Id}/logs?`, method: 'GET', query, isStream: true });
    await pumpOutput(res as unknown as Duplex, c.Config?.Tty === true, process.stdout, process.stderr);
  });
}

// ---- exec

async function execCmd(name: string, cmd: string[], f: ClientFlags & { detach?: boolean; interactive?: boolean; tty?: boolean; env: string[]; envFile: string[]; workdir?: string; user?: string; privileged?: boolean; detachKeys?: string }): Promise<void> {
  if (f.tty && f.interactive && !process.stdin.isTTY) {
    process.stderr.write('the input device is not a TTY\n');
    process.exitCode = 1;
    return;
  }
  await act(f, async (docker) => {
    const ctx = defaultBuildContext();
    const { parseEnv } = await import('./run-flags.js');
    const env = parseEnv(f, ctx);
    const c = await inspectContainer(docker, name);
    const tty = f.tty === true;
    const body: Obj = {
      User: f.user ?? '',
      Privileged: f.privileged === true,
      Tty: tty,
      ConsoleSize: tty && ctx.consoleSize ? ctx.consoleSize : null,
      AttachStdin: f.interactive === true && !f.detach,
      AttachStderr: !f.detach,
      AttachStdout: !f.detach,
      Detach: f.detach === true,
      DetachKeys: f.detachKeys ?? '',
      Env: env,
      WorkingDir: f.workdir ?? '',
      Cmd: cmd,
    };
    const { Id: execId } = await dial<{ Id: string }>(docker, { path: `/containers/${c.Id}/exec`, method: 'POST', body });
    if (f.detach) {
      await dial(docker, { path: `/exec/${execId}/start`, method: 'POST', body: { Detach: true, Tty: tty } });
      return;
    }
    const io: AttachIo = { tty, stdin: body.AttachStdin === true, stdout: true, stderr: true };
    if (f.detachKeys) io.detachKeys = f.detachKeys;
    const startBody: Obj = { Detach: false, Tty: tty };
    if (tty && ctx.consoleSize) startBody.ConsoleSize = ctx.consoleSize;
    const sock = await hijack(docker, `/exec/${execId}/start`, {}, startBody, io.stdin);
    const wired = wireStreams(sock, io);
    const stopResize = tty ? monitorTtySize((h, w) => dial(docker, { path: `/exec/${execId}/resize?`, method: 'POST', query: { h, w } })) : () => undefined;
    const how = await wired.done;
    stopResize();
    wired.restore();
    if (how === 'detached') exitNow(0);
    const ins = await dial<{ ExitCode?: number | null }>(docker, { path: `/exec/${execId}/json`, method: 'GET' });
    exitNow(ins.ExitCode ?? 0);
  });
}

// ---- stop / kill / restart / rm / pause / unpause / wait / rename / port / top / diff / export

function simpleMany(verb: string, call: (docker: Docker, n: string, f: Obj) => Promise<void>) {
  return (names: string[], f: ClientFlags & Obj) => act(f, (docker) => perName(names, verb, async (n) => {
    await call(docker, n, f);
    process.stdout.write(`${n}\n`);
  }));
}

const stopCmd = simpleMany('stop', async (docker, n, f) => {
  const query: Obj = {};
  if (f.time !== undefined) query.t = Number(f.time);
  if (f.signal) query.signal = f.signal;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/stop?`, method: 'POST', query, statusCodes: { 204: true, 304: true, 404: 'no such container', 500: 'server error' } });
});
const restartCmd = simpleMany('restart', async (docker, n, f) => {
  const query: Obj = {};
  if (f.time !== undefined) query.t = Number(f.time);
  if (f.signal) query.signal = f.signal;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/restart?`, method: 'POST', query });
});
const killCmd = simpleMany('kill', async (docker, n, f) => {
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}/kill?`, method: 'POST', query: f.signal ? { signal: f.signal } : {} });
});
const rmCmd = simpleMany('rm', async (docker, n, f) => {
  const query: Obj = {};
  if (f.force) query.force = 1;
  if (f.volumes) query.v = 1;
  if (f.link) query.link = 1;
  await dial(docker, { path: `/containers/${encodeURIComponent(n)}?`, method: 'DELETE', query });
});
const pauseCmd = simpleMany('pause', async (docker, n) => void (await dial(docker, { path: `/containers/${encodeURIComponent(n)}/pause`, method: 'POST' })));
const unpauseCmd = simpleMany('unpause', async (docker, n) => void (await dial(docker, { path: `/containers/${encodeURIComponent(n)}/unpause`, method: 'POST' })));

function waitCmd(names: string[], f: ClientFlags): Promise<void> {
  return act(f, (docker) => perName(names, 'wait', async (n) => {
    const r = await dial<{ StatusCode?: number }>(docker, { path: `/containers/${encodeURIComponent(n)}/wait?`, method: 'POST', query: { condition: 'not-running' } });
    process.stdout.write(`${r.StatusCode ?? 0}\n`);
  }));
}

function renameCmd(oldName: string, newName: string, f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    if (!newName.trim()) throw new ExitError(1, 'Error: neither old nor new names may be empty');
    await dial(docker, { path: `/containers/${encodeURIComponent(oldName)}/rename?`, method: 'POST', query: { name: newName } });
  });
}

function portCmd(name: string, spec: string | undefined, f: ClientFlags): Promise<void> {
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

function topCmd(name: string, psArgs: string[], f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    const r = await dial<{ Titles: string[]; Processes: string[][] }>(docker, { path: `/containers/${encodeURIComponent(name)}/top?`, method: 'GET', query: psArgs.length ? { ps_args: psArgs.join(' ') } : {} });
    process.stdout.write(formatTable(r.Titles, r.Processes));
  });
}

function diffCmd(name: string, f: ClientFlags): Promise<void> {
  return act(f, async (docker) => {
    const r = await dial<{ Kind: number; Path: string }[] | null>(docker, { path: `/containers/${encodeURIComponent(name)}/changes`, method: 'GET' });
    process.stdout.write((r ?? []).map((c) => `${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}\n`).join(''));
  });
}

function exportCmd(name: string, f: ClientFlags & { output?: string }): Promise<void> {
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

// ---- inspect

async function inspectCmd(names: string[], f: ClientFlags & { format?: string; type?: string; size?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    if (f.type && !['container', 'image'].includes(f.type)) throw new ExitError(1, `"${f.type}" is not a valid value for --type`);
    const out: unknown[] = [];
    const errors: string[] = [];
    for (const n of names) {
      let obj: unknown;
      if (f.type !== 'image') {
        try {
          obj = await dial(docker, { path: `/containers/${encodeURIComponent(n)}/json?`, method: 'GET', query: f.size ? { size: 1 } : {} });
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      if (obj === undefined && f.type !== 'container') {
        try {
          obj = await dial(docker, { path: `/images/${encodeURIComponent(n)}/json`, method: 'GET' });
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      if (obj === undefined) errors.push(`Error: No such ${f.type ?? 'object'}: ${n}`);
      else out.push(obj);
    }
    if (f.format) for (const o of out) process.stdout.write(formatOne(f.format.replace(/\\n/g, '\n').replace(/\\t/g, '\t'), o));
    else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    if (errors.length) throw new ExitError(1, errors.join('\n'));
  });
}

// ---- stats

export const STATS_HEADERS: Record<string, string> = {
  Container: 'CONTAINER ID',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

/** go-units BytesSize: binary units, 4 significant digits ("1.5MiB"). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The row docker stats shows for one stats sample (cgroup v1 and v2 memory rules). */
export function statsRow(s: Obj, id: string, name: string): Obj {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPerc = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  const st = mem.stats ?? {};
  let usage = mem.usage ?? 0;
  const inactive = st.total_inactive_file ?? st.inactive_file;
  if (inactive !== undefined && inactive < usage) usage -= inactive;
  const limit = mem.limit ?? 0;
  const memPerc = limit > 0 ? (usage / limit) * 100 : 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values((s.networks ?? {}) as Obj)) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let rd = 0;
  let wr = 0;
  for (const e of (s.blkio_stats?.io_service_bytes_recursive ?? []) as Obj[]) {
    const op = String(e.op).toLowerCase();
    if (op === 'read') rd += e.value ?? 0;
    if (op === 'write') wr += e.value ?? 0;
  }
  return {
    Container: id.slice(0, 12),
    ID: id.slice(0, 12),
    Name: name.replace(/^\//, ''),
    CPUPerc: `${cpuPerc.toFixed(2)}%`,
    MemUsage: `${bytesSize(usage)} / ${bytesSize(limit)}`,
    MemPerc: `${memPerc.toFixed(2)}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(rd)} / ${humanSize(wr)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

async function statsCmd(names: string[], f: ClientFlags & { all?: boolean; stream?: boolean; format?: string; trunc?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    const targets = async (): Promise<{ id: string; name: string }[]> => {
      if (names.length) {
        const out: { id: string; name: string }[] = [];
        for (const n of names) {
          const c = await inspectContainer(docker, n);
          out.push({ id: c.Id as string, name: c.Name as string });
        }
        return out;
      }
      const list = await dial<Obj[]>(docker, { path: '/containers/json?', method: 'GET', query: f.all ? { all: 1 } : {} });
      return list.map((c) => ({ id: c.Id as string, name: ((c.Names as string[]) ?? [''])[0]! }));
    };
    const sample = async (t: { id: string; name: string }): Promise<Obj> => {
      try {
        const s = await dial<Obj>(docker, { path: `/containers/${t.id.slice(0, 12)}/stats?`, method: 'GET', query: { stream: 0 } });
        return statsRow(s, t.id, t.name);
      } catch (e) {
        if (names.length) throw e;
        return { ...statsRow({}, t.id, t.name), CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
      }
    };
    const render = async () => {
      const ts = await targets();
      const rows = await Promise.all(ts.map(sample));
      if (f.trunc === false) rows.forEach((r, i) => (r.ID = r.Container = ts[i]!.id));
      return renderList(f.format, STATS_TABLE, rows, STATS_HEADERS);
    };
    if (f.stream === false) {
      process.stdout.write(await render());
      return;
    }
    // Live table: redraw every second until interrupted.
    const tty = process.stdout.isTTY;
    let stop = false;
    process.once('SIGINT', () => (stop = true));
    while (!stop) {
      const text = await render();
      process.stdout.write(tty ? `\x1b[2J\x1b[H${text}` : text);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
}

// ---- cp

/** `ctr:/path` → ['ctr', '/path']; a local path (with ./ or / or no colon) → [undefined, path]. */
export function splitCpArg(arg: string): [string | undefined, string] {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return [undefined, arg];
  const i = arg.indexOf(':');
  if (i <= 0) return [undefined, arg];
  return [arg.slice(0, i), arg.slice(i + 1)];
}

interface PathStat {
  name: string;
  size: number;
  mode: number;
  linkTarget?: string;
}

async function statContainerPath(docker: Docker, ctr: string, path: string): Promise<PathStat | undefined> {
  const modem = docker.modem as { dial(o: unknown, cb: (e: unknown, d: unknown) => void): void };
  // HEAD returns the stat in a header; the modem hides headers, so read it from a GET's response.
  const res = await new Promise<NodeJS.ReadableStream & { headers?: Record<string, string> }>((resolveP, reject) =>
    modem.dial(
      { path: `/containers/${encodeURIComponent(ctr)}/archive?`, method: 'GET', options: { path }, isStream: true, statusCodes: { 200: true, 404: 'not found', 400: 'bad parameter', 500: 'server error', 501: 'not implemented' } },
      (e, d) => (e ? reject(e as Error) : resolveP(d as NodeJS.ReadableStream & { headers?: Record<string, string> })),
    ),
  ).catch((e) => {
    if (statusOf(e) === 404 && /no such file|not found|does not exist/i.test(clientErrorMessage(e)) && !/no such container/i.test(clientErrorMessage(e))) return undefined;
    throw e;
  });
  if (!res) return undefined;
  (res as unknown as { destroy(): void }).destroy();
  const h = res.headers?.['x-docker-container-path-stat'];
  if (!h) return undefined;
  return JSON.parse(Buffer.from(h, 'base64').toString('utf8')) as PathStat;
}

const IS_DIR = 2 ** 31;

async function cpCmd(src: string, dst: string, f: ClientFlags & { archive?: boolean; followLink?: boolean; quiet?: boolean }): Promise<void> {
  const [sc, sp] = splitCpArg(src);
  const [dc, dp] = splitCpArg(dst);
  if (sc && dc) {
    process.stderr.write('copying between containers is not supported\n');
    process.exitCode = 1;
    return;
  }
  if (!sc && !dc) {
    process.stderr.write('must specify at least one container source\n');
    process.exitCode = 1;
    return;
  }
  await act(f, async (docker) => {
    const tar = await import('tar');
    if (sc) {
      // container → host
      const res = await dial<NodeJS.ReadableStream & { headers?: Record<string, string> }>(docker, { path: `/containers/${encodeURIComponent(sc)}/archive?`, method: 'GET', query: { path: sp }, isStream: true });
      if (dp === '-') {
        await pipeline(res, process.stdout);
        return;
      }
      const statH = res.headers?.['x-docker-container-path-stat'];
      const srcName = statH ? (JSON.parse(Buffer.from(statH, 'base64').toString('utf8')) as PathStat).name : basename(sp);
      const target = resolve(dp);
      const destIsDir = existsSync(target) && statSync(target).isDirectory();
      if (destIsDir && !sp.endsWith('/.')) {
        await pipeline(res, tar.x({ cwd: target, preserveOwner: f.archive === true }));
        return;
      }
      if (!existsSync(dirname(target))) throw new ExitError(1, `Error: invalid output path: directory ${JSON.stringify(dirname(target))} does not exist`);
      if (sp.endsWith('/.') && destIsDir) {
        await pipeline(res, tar.x({ cwd: target, strip: 1, preserveOwner: f.archive === true }));
        return;
      }
      // Extract beside the destination, then rename the copied entry to the destination name.
      const tmp = await mkdtemp(join(dirname(target), '.wharf-cp-'));
      try {
        await pipeline(res, tar.x({ cwd: tmp, preserveOwner: f.archive === true }));
        const entry = join(tmp, srcName);
        if (!existsSync(entry)) throw new ExitError(1, `Error: archive for ${sp} has no entry ${srcName}`);
        await rm(target, { recursive: true, force: true });
        await rename(entry, target);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return;
    }
    // host → container
    const ctr = dc!;
    let body: NodeJS.ReadableStream;
    let destDir = dp;
    if (sp === '-') body = process.stdin;
    else {
      const local = resolve(sp);
      if (!existsSync(local)) throw new ExitError(1, `lstat ${local}: no such file or directory`);
      const st = await statContainerPath(docker, ctr, dp);
      let renameTo: string | undefined;
      if (st && (st.mode & IS_DIR) !== 0) destDir = dp;
      else {
        if (dp.endsWith('/')) throw new ExitError(1, `Error response from daemon: Could not find the file ${dp} in container ${ctr}`);
        destDir = dirname(dp) || '/';
        renameTo = basename(dp);
      }
      const name = basename(local);
      const copyContents = sp.endsWith('/.');
      body = tar.c(
        {
          cwd: copyContents ? local : dirname(local),
          portable: f.archive !== true,
          follow: f.followLink === true,
          ...(renameTo && !copyContents
            ? {
                onWriteEntry: (e: { path: string }) => {
                  if (e.path === name || e.path.startsWith(`${name}/`)) e.path = renameTo + e.path.slice(name.length);
                },
              }
            : {}),
        },
        [copyContents ? '.' : name],
      ) as unknown as NodeJS.ReadableStream;
    }
    await dial(docker, {
      path: `/containers/${encodeURIComponent(ctr)}/archive?`,
      method: 'PUT',
      query: { path: destDir, noOverwriteDirNonDir: 'true' },
      file: body,
      headers: { 'Content-Type': 'application/x-tar' },
      statusCodes: { 200: true, 204: true, 400: 'bad parameter', 403: 'permission denied', 404: 'no such container or path', 500: 'server error', 501: 'not implemented' },
    });
  });
}

// ---- events

export function eventLine(e: Obj): string {
  const nano = BigInt(e.timeNano ?? Math.round((e.time ?? 0) * 1e9));
  const secs = Number(nano / 1_000_000_000n);
  const frac = String(nano % 1_000_000_000n).padStart(9, '0');
  const iso = new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
  const attrs = (e.Actor?.Attributes ?? {}) as Record<string, string>;
  const a = Object.keys(attrs).sort().map((k) => `${k}=${attrs[k]}`).join(', ');
  return `${iso} ${e.Type ?? e.type ?? ''} ${e.Action ?? e.status ?? ''} ${e.Actor?.ID ?? e.id ?? ''}${a ? ` (${a})` : ''}\n`;
}

async function eventsCmd(f: ClientFlags & { since?: string; until?: string; filter: string[]; format?: string }): Promise<void> {
  await act(f, async (docker) => {
    const query: Obj = {};
    if (f.since) query.since = apiTimestamp(f.since);
    if (f.until) query.until = apiTimestamp(f.until);
    const filters = filtersFromFlags(f.filter);
    if (Object.keys(filters).length) query.filters = JSON.stringify(filters);
    const res = await dial<NodeJS.ReadableStream>(docker, { path: '/events?', method: 'GET', query, isStream: true });
    const emit = (line: string) => {
      if (!line.trim()) return;
      const e = JSON.parse(line) as Obj;
      if (f.format === 'json') process.stdout.write(`${JSON.stringify(e)}\n`);
      else if (f.format) process.stdout.write(formatRows(f.format, [e], {}));
      else process.stdout.write(eventLine(e));
    };
    await forEachLine(res, emit);
  });
}

// ---- update

async function updateCmd(names: string[], f: ClientFlags & Obj): Promise<void> {
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

// ---- attach

async function attachCmd(name: string, f: ClientFlags & { stdin?: boolean; detachKeys?: string; sigProxy?: string }): Promise<void> {
  await act(f, async (docker) => {
    const c = await inspectContainer(docker, name);
    if (c.State?.Paused) throw new ExitError(1, 'You cannot attach to a paused container, unpause it first');
    if (!c.State?.Running) throw new ExitError(1, 'You cannot attach to a stopped container, start it first');
    const tty = c.Config?.Tty === true;
    const io: AttachIo = { tty, stdin: f.stdin !== false && c.Config?.OpenStdin === true, stdout: true, stderr: true };
    if (io.stdin && tty && !process.stdin.isTTY) throw new ExitError(1, 'the input device is not a TTY');
    if (f.detachKeys) io.detachKeys = f.detachKeys;
    const sock = await hijack(docker, `/containers/${c.Id}/attach?`, { stream: 1, stdin: io.stdin ? 1 : 0, stdout: 1, stderr: 1 }, undefined, io.stdin);
    const wired = wireStreams(sock, io);
    const stopResize = tty ? monitorTtySize((h, w) => dial(docker, { path: `/containers/${c.Id}/resize?`, method: 'POST', query: { h, w } })) : () => undefined;
    const stopSignals = !tty && f.sigProxy !== 'false' ? proxySignals(docker, c.Id as string) : () => undefined;
    const how = await wired.done;
    stopResize();
    stopSignals();
    wired.restore();
    if (how === 'detached') exitNow(0);
    const after = await inspectContainer(docker, c.Id as string).catch(() => undefined);
    exitNow(after?.State?.Running ? 0 : (after?.State?.ExitCode ?? 0));
  });
}

// ---- prune

async function pruneCmd(f: ClientFlags & { force?: boolean; filter: string[] }): Promise<void> {
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

// ---- registration

/** Flag errors exit 125, as docker's; help exits 0. */
function dockerExit(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exit(0);
    process.exit(125);
  });
}

const builders: Record<string, (parent: Command, name: string) => Command> = {
  run: (p, n) =>
    addRunOnlyFlags(addContainerConfigFlags(withHost(p.command(`${n} <image> [command...]`))))
      .description('create and run a new container from an image')
      .passThroughOptions()
      .action(((image: string, args: string[], f: RunFlags) => runCmd(image, args, f)) as Action),
  create: (p, n) =>
    addContainerConfigFlags(withHost(p.command(`${n} <image> [command...]`)))
      .description('create a new container')
      .passThroughOptions()
      .action(((image: string, args: string[], f: RunFlags) => createCmd(image, args, f)) as Action),
  start: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('start one or more stopped containers')
      .option('-a, --attach', "attach STDOUT/STDERR and forward signals")
      .option('-i, --interactive', "attach container's STDIN")
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .action(((names: string[], f) => startCmd(names, f)) as Action),
  ps: (p, n) =>
    withHost(p.command(n))
      .description('list containers')
      .option('-a, --all', 'show all containers (default shows just running)')
      .option('-q, --quiet', 'only display container IDs')
      .option('-n, --last <n>', 'show n last created containers (includes all states)')
      .option('-l, --latest', 'show the latest created container (includes all states)')
      .option('-s, --size', 'display total file sizes')
      .option('--no-trunc', "don't truncate output")
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', 'format output using a custom template: "table", "table TEMPLATE", "json", or a Go template')
      .action(((f) => psCmd({ ...f, ...(f.last !== undefined || f.latest ? { all: true } : {}) })) as Action),
  logs: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description('fetch the logs of a container')
      .option('-f, --follow', 'follow log output')
      .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
      .option('--since <time>', 'show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
      .option('--until <time>', 'show logs before a timestamp or relative')
      .option('-t, --timestamps', 'show timestamps')
      .option('--details', 'show extra details provided to logs')
      .action(((name: string, f) => logsCmd(name, f)) as Action),
  exec: (p, n) =>
    withHost(p.command(`${n} <container> <command...>`))
      .description('execute a command in a running container')
      .option('-d, --detach', 'detached mode: run command in the background')
      .option('-i, --interactive', 'keep STDIN open even if not attached')
      .option('-t, --tty', 'allocate a pseudo-TTY')
      .option('-e, --env <list>', 'set environment variables', collect, [])
      .option('--env-file <file>', 'read in a file of environment variables', collect, [])
      .option('-w, --workdir <dir>', 'working directory inside the container')
      .option('-u, --user <user>', 'username or UID (format: "<name|uid>[:<group|gid>]")')
      .option('--privileged', 'give extended privileges to the command')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .passThroughOptions()
      .action(((name: string, cmd: string[], f) => execCmd(name, cmd, f)) as Action),
  stop: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('stop one or more running containers')
      .option('-t, --time <seconds>', 'seconds to wait before killing the container')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => stopCmd(names, f)) as Action),
  restart: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('restart one or more containers')
      .option('-t, --time <seconds>', 'seconds to wait before killing the container')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => restartCmd(names, f)) as Action),
  kill: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('kill one or more running containers')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => killCmd(names, f)) as Action),
  rm: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('remove one or more containers')
      .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'remove anonymous volumes associated with the container')
      .option('-l, --link', 'remove the specified link')
      .action(((names: string[], f) => rmCmd(names, f)) as Action),
  inspect: (p, n) =>
    withHost(p.command(`${n} <name...>`))
      .description('return low-level information on containers or images')
      .option('-f, --format <format>', 'format output using a Go template')
      .option('-s, --size', 'display total file sizes if the type is container')
      .option('--type <type>', 'only inspect objects of the given type (container|image)')
      .action(((names: string[], f) => inspectCmd(names, f)) as Action),
  top: (p, n) =>
    withHost(p.command(`${n} <container> [ps_options...]`))
      .description('display the running processes of a container')
      .passThroughOptions()
      .action(((name: string, args: string[], f) => topCmd(name, args, f)) as Action),
  stats: (p, n) =>
    withHost(p.command(`${n} [container...]`))
      .description('display a live stream of container(s) resource usage statistics')
      .option('-a, --all', 'show all containers (default shows just running)')
      .option('--no-stream', 'disable streaming stats and only pull the first result')
      .option('--no-trunc', 'do not truncate output')
      .option('--format <format>', 'format output using a custom template: "table", "table TEMPLATE", "json", or a Go template')
      .action(((names: string[], f) => statsCmd(names, f)) as Action),
  cp: (p, n) =>
    withHost(p.command(`${n} <src> <dest>`))
      .description('copy files/folders between a container and the local filesystem (CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH, - for a tar stream)')
      .option('-a, --archive', 'archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'always follow symbol link in SRC_PATH')
      .option('-q, --quiet', 'suppress progress output')
      .action(((src: string, dst: string, f) => cpCmd(src, dst, f)) as Action),
  wait: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('block until one or more containers stop, then print their exit codes')
      .action(((names: string[], f) => waitCmd(names, f)) as Action),
  pause: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('pause all processes within one or more containers')
      .action(((names: string[], f) => pauseCmd(names, f)) as Action),
  unpause: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('unpause all processes within one or more containers')
      .action(((names: string[], f) => unpauseCmd(names, f)) as Action),
  rename: (p, n) =>
    withHost(p.command(`${n} <container> <new-name>`))
      .description('rename a container')
      .action(((o: string, nn: string, f) => renameCmd(o, nn, f)) as Action),
  events: (p, n) =>
    withHost(p.command(n))
      .description('get real time events from the server')
      .option('--since <time>', 'show all events created since timestamp')
      .option('--until <time>', 'stream events until this timestamp')
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', '"json" or a Go template')
      .action(((f) => eventsCmd(f)) as Action),
  update: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('update configuration of one or more containers')
      .option('--blkio-weight <n>', 'block IO (relative weight), between 10 and 1000, or 0 to disable')
      .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
      .option('--cpu-period <n>', 'limit CPU CFS period')
      .option('--cpu-quota <n>', 'limit CPU CFS quota')
      .option('--cpus <number>', 'number of CPUs')
      .option('--cpuset-cpus <cpus>', 'CPUs in which to allow execution (0-3, 0,1)')
      .option('--cpuset-mems <mems>', 'MEMs in which to allow execution (0-3, 0,1)')
      .option('-m, --memory <bytes>', 'memory limit')
      .option('--memory-reservation <bytes>', 'memory soft limit')
      .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: -1 to enable unlimited swap")
      .option('--pids-limit <n>', 'tune container pids limit (set -1 for unlimited)')
      .option('--restart <policy>', 'restart policy to apply when a container exits')
      .action(((names: string[], f) => updateCmd(names, f)) as Action),
  port: (p, n) =>
    withHost(p.command(`${n} <container> [port]`))
      .description('list port mappings or a specific mapping for the container')
      .action(((name: string, spec: string | undefined, f) => portCmd(name, spec, f)) as Action),
  attach: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("attach local standard input, output, and error streams to a running container")
      .option('--no-stdin', 'do not attach STDIN')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .option('--sig-proxy <bool>', 'proxy all received signals to the process', 'true')
      .action(((name: string, f) => attachCmd(name, f)) as Action),
  export: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("export a container's filesystem as a tar archive")
      .option('-o, --output <file>', 'write to a file, instead of STDOUT')
      .action(((name: string, f) => exportCmd(name, f)) as Action),
  diff: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("inspect changes to files or directories on a container's filesystem")
      .action(((name: string, f) => diffCmd(name, f)) as Action),
  prune: (p, n) =>
    withHost(p.command(n))
      .description('remove all stopped containers')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--filter <filter>', 'provide filter values (e.g. "until=<timestamp>")', collect, [])
      .action(((f) => pruneCmd(f)) as Action),
};

/**
 * Registers the container commands at the top level and under `wharf container`. A top-level
 * name another area already owns (`wharf start` runs the daemon) is left to it; `wharf
 * container start` is always there, and client-main.ts routes `wharf start NAME…` here.
 */
export function registerContainerCommands(program: Command): Command {
  const top = ['run', 'create', 'start', 'ps', 'logs', 'exec', 'stop', 'kill', 'restart', 'rm', 'inspect', 'top', 'stats', 'cp', 'wait', 'pause', 'unpause', 'rename', 'events', 'update', 'port', 'attach', 'export', 'diff'];
  const taken = new Set(program.commands.map((c) => c.name()));
  for (const n of top) if (!taken.has(n)) dockerExit(builders[n]!(program, n));
  const container = program.commands.find((c) => c.name() === 'container') ?? program.command('container').description('manage containers');
  for (const n of top.filter((x) => x !== 'events')) dockerExit(builders[n]!(container, n));
  dockerExit(builders.ps!(container, 'ls'));
  dockerExit(builders.prune!(container, 'prune'));
  return container;
}

/** For client-main: whether `wharf start …` names containers (else it is the daemon's `start`). */
export function startNamesContainers(args: readonly string[]): boolean {
  const valued = new Set(['-H', '--host', '--detach-keys']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return i + 1 < args.length;
    if (a.startsWith('-')) {
      if (valued.has(a)) i++;
      else if (!['-a', '--attach', '-i', '--interactive', '-ai', '-ia'].includes(a) && !a.includes('=')) return false;
      continue;
    }
    return true;
  }
  return false;
}

