import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { clientErrorMessage, type ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { ExitError, act, statusOf } from './container-action.js';

// `wharf cp`: files between a container and the host as tar archives (GET/PUT /containers/{id}/archive).

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

export async function cpCmd(src: string, dst: string, f: ClientFlags & { archive?: boolean; followLink?: boolean; quiet?: boolean }): Promise<void> {
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
