import { writeFileSync } from 'node:fs';
import type Docker from 'dockerode';
import { WharfError } from '../core/errors.js';
import { clientErrorMessage, forEachLine, type ClientFlags } from './client.js';
import { dial, parseDetachKeys } from './container-io.js';
import { buildCreateRequest, defaultBuildContext, type RunFlags } from './run-flags.js';
import { ExitError, act, inspectContainer, perName, statusOf } from './container-action.js';
import { type AttachIo, exitNow, hijack, monitorTtySize, openWait, proxySignals, wireStreams } from './container-attach.js';

// `wharf run`, `create`, `start` and `attach`, with the image pull run/create do first.

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

// ---- run / create / start

export async function runCmd(image: string, args: string[], f: RunFlags): Promise<void> {
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

export async function createCmd(image: string, args: string[], f: RunFlags): Promise<void> {
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

export async function startCmd(names: string[], f: ClientFlags & { attach?: boolean; interactive?: boolean; detachKeys?: string }): Promise<void> {
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

// ---- attach

export async function attachCmd(name: string, f: ClientFlags & { stdin?: boolean; detachKeys?: string; sigProxy?: string }): Promise<void> {
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
