import type Docker from 'dockerode';
import type { Command } from 'commander';
import { WharfError } from '../core/errors.js';

// Client plumbing shared by every `wharf` Docker-style command: where the daemon is
// (-H, DOCKER_HOST, default socket), a dockerode client for it, and Docker-like error text.

export const DEFAULT_CLIENT_HOST = 'unix:///run/wharf/wharf.sock';

export interface ClientFlags {
  host?: string;
}

/** -H wins, then DOCKER_HOST, then Wharf's default socket. */
export function resolveHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.DOCKER_HOST || DEFAULT_CLIENT_HOST;
}

export type DockerTarget = { socketPath: string } | { protocol: 'http'; host: string; port: number };

export function parseClientHost(host: string): DockerTarget {
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath) throw new WharfError('InvalidArgument', `invalid host ${host}`);
    return { socketPath };
  }
  const m = /^tcp:\/\/([^:/]+)(?::(\d+))?\/?$/.exec(host);
  if (m) return { protocol: 'http', host: m[1]!, port: Number(m[2] ?? 2375) };
  throw new WharfError('InvalidArgument', `invalid host ${host}: expected unix:///path.sock or tcp://host:port`);
}

/** dockerode is loaded on first use, so `wharf` starts fast for commands that do not need it. */
export async function dockerClient(flags: ClientFlags, env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const { default: DockerCtor } = await import('dockerode');
  return new DockerCtor(parseClientHost(resolveHost(flags.host, env)));
}

/** Adds -H/--host to a client command. */
export function withHost(cmd: Command): Command {
  return cmd.option('-H, --host <address>', `daemon socket (default $DOCKER_HOST or ${DEFAULT_CLIENT_HOST})`);
}

interface ModemError {
  statusCode?: number;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
  code?: string;
  address?: string;
}

/** Docker's wording: "Error response from daemon: …", or a clear "cannot connect" line. */
export function clientErrorMessage(err: unknown, host?: string): string {
  const e = err as ModemError;
  if (e && typeof e === 'object') {
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
      return `Cannot connect to the Wharf daemon at ${host ?? e.address ?? 'its socket'}. Is the daemon running? (wharf daemon / npm start)`;
    }
    if (e.statusCode !== undefined) {
      const msg = e.json?.message ?? (typeof e.json === 'string' ? e.json : undefined) ?? e.reason ?? e.message ?? 'unknown error';
      return `Error response from daemon: ${String(msg).trim()}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

/** Runs a client action, printing errors the Docker way and setting exit status 1 (or `errorExitCode`). */
export async function runClient(flags: ClientFlags, fn: (docker: Docker) => Promise<void>, errorExitCode = 1): Promise<void> {
  const host = resolveHost(flags.host);
  try {
    const target = parseClientHost(host);
    const { default: DockerCtor } = await import('dockerode');
    await fn(new DockerCtor(target));
  } catch (err) {
    process.stderr.write(`${clientErrorMessage(err, host)}\n`);
    process.exitCode = errorExitCode;
  }
}

/** Calls `handle` with each line of a streamed newline-delimited response (JSON messages, events),
 * including a last line without its newline. */
export async function forEachLine(stream: AsyncIterable<Buffer | string> | NodeJS.ReadableStream, handle: (line: string) => void): Promise<void> {
  let buf = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  handle(buf);
}
