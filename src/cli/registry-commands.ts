import type { Command } from 'commander';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { WharfError } from '../core/errors.js';
import { parseNormalizedNamed } from '../oci/reference.js';
import { forEachLine, runClient, withHost, type ClientFlags } from './client.js';
import { humanSize } from './output.js';

// `wharf pull`, `wharf push`, `wharf login`, `wharf logout`: clients of the daemon's
// /images/create, /images/{name}/push and /auth. Credentials are kept in Docker's config.json
// format ({"auths":{"host:port":{"auth":"base64(user:pass)"}}}) in Wharf's own file,
// $WHARF_CONFIG/config.json (default ~/.wharf/config.json), mode 0600; logins made with the docker
// CLI ($DOCKER_CONFIG/config.json, default ~/.docker/config.json) are read as a fallback.

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  [k: string]: unknown;
}

export function wharfConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.WHARF_CONFIG || join(homedir(), '.wharf'), 'config.json');
}

function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

function readConfig(path: string): ConfigFile {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null ? (v as ConfigFile) : {};
  } catch {
    throw new WharfError('InvalidArgument', `${path} is not valid JSON`);
  }
}

function writeConfig(path: string, cfg: ConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The config.json key of a registry: `host:port`, Docker Hub's legacy URL for docker.io. */
export function serverKey(server: string): string {
  const s = server.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (s === '' || s === 'docker.io' || s === 'index.docker.io' || s === 'registry-1.docker.io') return DOCKER_HUB_KEY;
  return s;
}

/** Stored credentials for a registry host (Wharf's file first, then Docker's). */
export function credentialsFor(server: string, env: NodeJS.ProcessEnv = process.env): { username: string; password: string; serveraddress: string } | undefined {
  const key = serverKey(server);
  for (const path of [wharfConfigPath(env), dockerConfigPath(env)]) {
    const e = readConfig(path).auths?.[key];
    if (!e) continue;
    if (e.auth) {
      const dec = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i > 0) return { username: dec.slice(0, i), password: dec.slice(i + 1), serveraddress: key };
    }
    if (e.username && e.password) return { username: e.username, password: e.password, serveraddress: key };
  }
  return undefined;
}

interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: unknown;
}

/**
 * Renders Docker's JSON-lines progress: on a terminal one cli-progress bar per layer while it
 * downloads or uploads, other messages above them; otherwise plain `id: status` lines.
 */
async function renderProgress(stream: NodeJS.ReadableStream, tty = process.stdout.isTTY === true): Promise<void> {
  const multi = tty
    ? new cliProgress.MultiBar(
        { format: '{id}: {status} [{bar}] {done}/{size}', hideCursor: true, clearOnComplete: false, stream: process.stdout, barsize: 30 },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  const lastStatus = new Map<string, string>();
  const print = (s: string) => (multi ? multi.log(`${s}\n`) : process.stdout.write(`${s}\n`));
  let failure: string | undefined;
  const handle = (line: string) => {
    if (!line.trim()) return;
    const m = JSON.parse(line) as ProgressLine;
    if (m.error || m.errorDetail) {
      failure = m.errorDetail?.message ?? m.error ?? 'unknown error';
      return;
    }
    if (m.aux || !m.status) return;
    const d = m.progressDetail;
    if (m.id && d && d.total) {
      if (multi) {
        let bar = bars.get(m.id);
        if (!bar) bars.set(m.id, (bar = multi.create(d.total, 0, { id: m.id, status: m.status, done: '0B', size: humanSize(d.total) })));
        bar.update(Math.min(d.current ?? 0, d.total), { status: m.status, done: humanSize(d.current ?? 0) });
      } else if (lastStatus.get(m.id) !== m.status) {
        lastStatus.set(m.id, m.status);
        print(`${m.id}: ${m.status}`);
      }
      return;
    }
    if (m.id) {
      const bar = bars.get(m.id);
      if (bar) {
        bar.update(bar.getTotal(), { status: m.status, done: humanSize(bar.getTotal()) });
        return;
      }
      lastStatus.set(m.id, m.status);
      print(`${m.id}: ${m.status}`);
      return;
    }
    print(m.status);
  };
  try {
    await forEachLine(stream, handle);
  } finally {
    multi?.stop();
  }
  if (failure !== undefined) throw new WharfError('Internal', failure);
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const c of process.stdin) s += (c as Buffer).toString('utf8');
  return s.replace(/\r?\n$/, '');
}

export function registerRegistryCommands(program: Command): void {
  withHost(program.command('pull <image>').description('download an image from a registry (with progress bars on a terminal)')).action(
    async (image: string, flags: ClientFlags) =>
      runClient(flags, async (docker) => {
        const ref = parseNormalizedNamed(image);
        const creds = credentialsFor(ref.domain);
        const stream = (await docker.pull(image, creds ? { authconfig: creds } : {})) as NodeJS.ReadableStream;
        await renderProgress(stream);
      }),
  );

  withHost(program.command('push <image>').description('upload an image (NAME[:TAG]) to its registry')).action(async (image: string, flags: ClientFlags) =>
    runClient(flags, async (docker) => {
      const ref = parseNormalizedNamed(image);
      if (ref.digest !== undefined) throw new WharfError('InvalidArgument', 'cannot push a digest reference');
      const creds = credentialsFor(ref.domain);
      const name = image.replace(/:[\w][\w.-]{0,127}$/, '');
      const stream = (await docker.getImage(name).push({ tag: ref.tag, ...(creds ? { authconfig: creds } : {}) })) as NodeJS.ReadableStream;
      await renderProgress(stream);
    }),
  );

  withHost(
    program
      .command('login [server]')
      .description(`log in to a registry; credentials are saved in ${'$WHARF_CONFIG/config.json'} (default ~/.wharf/config.json, Docker's format)`)
      .option('-u, --username <name>', 'username')
      .option('-p, --password <password>', 'password (prefer --password-stdin)')
      .option('--password-stdin', 'read the password from stdin'),
  ).action(async (server: string | undefined, flags: ClientFlags & { username?: string; password?: string; passwordStdin?: boolean }) =>
    runClient(flags, async (docker) => {
      if (flags.password !== undefined && flags.passwordStdin) throw new WharfError('InvalidArgument', '--password and --password-stdin are mutually exclusive');
      if (!flags.username) throw new WharfError('InvalidArgument', 'a username is required (-u)');
      const password = flags.passwordStdin ? await readStdin() : flags.password;
      if (!password) throw new WharfError('InvalidArgument', 'a password is required (-p or --password-stdin)');
      const key = serverKey(server ?? '');
      const r = (await docker.checkAuth({ username: flags.username, password, serveraddress: key })) as { Status?: string };
      const path = wharfConfigPath();
      const cfg = readConfig(path);
      cfg.auths = { ...cfg.auths, [key]: { auth: Buffer.from(`${flags.username}:${password}`).toString('base64') } };
      writeConfig(path, cfg);
      process.stdout.write(`${r.Status ?? 'Login Succeeded'}\n`);
    }),
  );

  program
    .command('logout [server]')
    .description('remove the saved credentials of a registry')
    .action((server: string | undefined) => {
      const key = serverKey(server ?? '');
      const path = wharfConfigPath();
      const cfg = readConfig(path);
      if (!cfg.auths?.[key]) {
        process.stdout.write(`Not logged in to ${key}\n`);
        return;
      }
      delete cfg.auths[key];
      writeConfig(path, cfg);
      process.stdout.write(`Removing login credentials for ${key}\n`);
    });
}
