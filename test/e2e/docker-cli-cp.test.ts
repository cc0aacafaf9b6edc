import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { run } from '../../src/core/exec/run.js';
import { startDaemon, type TestDaemon } from './daemon-harness.js';

// docker cp both ways (running and stopped containers, hostile symlinks, archive PUT safety),
// export, diff, container prune and the ps filters/size, with the real docker CLI 28.

const suffix = Math.random().toString(36).slice(2, 8);
let d: TestDaemon;
let tmp: string;
const box = `cpbox-${suffix}`;
const stopped = `cpstopped-${suffix}`;

beforeAll(async () => {
  d = await startDaemon();
  tmp = mkdtempSync('/var/tmp/wharf-test-cp-');
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
  const r = await d.docker(['run', '-d', '--name', box, 'busybox', 'sh', '-c', 'ln -s / /tmp/esc; ln -s ../../../../.. /tmp/up; echo ready > /tmp/ready; sleep 600']);
  if (r.code !== 0) throw new Error(`run -d failed: ${r.stderr}`);
  for (let i = 0; i < 200 && (await d.docker(['exec', box, 'cat', '/tmp/ready'])).stdout.trim() !== 'ready'; i++) await new Promise((res) => setTimeout(res, 100));
  const s = await d.docker(['run', '--name', stopped, 'busybox', 'sh', '-c', 'echo kept > /kept; rm -f /etc/group']);
  if (s.code !== 0) throw new Error(`run failed: ${s.stderr}`);
}, 120_000);

afterAll(async () => {
  if (!d) return;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    for (const id of ps.stdout.split('\n').filter(Boolean)) await d.docker(['rm', '-f', id]);
    const pids = (await run(['pgrep', '-f', `conmon.*${d.dir}`], { allowFailure: true })).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(d.dir));
    for (const m of mounts) await run(['umount', '-l', m.split(' ')[1]!], { allowFailure: true });
  } finally {
    await d.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}, 60_000);

function api(method: string, path: string, body?: Buffer, contentType = 'application/x-tar'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, method, path, headers: body ? { 'Content-Type': contentType, 'Content-Length': body.length } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function tarOf(entries: (Partial<tar.Header> & { name: string; body?: string })[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  pack.on('data', (c: unknown) => parts.push(c as Buffer));
  const done = new Promise<void>((res) => pack.on('end', () => res()));
  for (const e of entries) pack.entry({ mode: 0o644, ...e }, e.body ?? '');
  pack.finalize();
  await done;
  return Buffer.concat(parts);
}

describe('docker cp', () => {
  it('copies out of a running container (the stat header is base64 JSON) and into it, file and directory', async () => {
    const out = join(tmp, 'hostname-copy');
    const r = await d.docker(['cp', `${box}:/etc/passwd`, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toMatch(/^root:x:0:0/);
    const head = await api('HEAD', `/v1.47/containers/${box}/archive?path=/tmp/`);
    expect(head.status).toBe(200);
    const st = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString()) as Record<string, number | string>;
    expect(st.name).toBe('tmp');
    expect(Number(st.mode) >= 2 ** 31).toBe(true); // Go's ModeDir
    const link = JSON.parse(Buffer.from(String((await api('HEAD', `/v1.47/containers/${box}/archive?path=/tmp/esc`)).headers['x-docker-container-path-stat']), 'base64').toString()) as Record<string, string>;
    expect(link.linkTarget).toBe('/');

    await mkdir(join(tmp, 'dir/sub'), { recursive: true });
    await writeFile(join(tmp, 'dir/sub/f.txt'), 'in a dir\n');
    await writeFile(join(tmp, 'one.txt'), 'one\n');
    expect((await d.docker(['cp', join(tmp, 'one.txt'), `${box}:/tmp/`])).code).toBe(0);
    expect((await d.docker(['cp', join(tmp, 'one.txt'), `${box}:/tmp/renamed.txt`])).code).toBe(0);
    expect((await d.docker(['cp', join(tmp, 'dir'), `${box}:/opt`])).code).toBe(0);
    const cat = await d.docker(['exec', box, 'cat', '/tmp/one.txt', '/tmp/renamed.txt', '/opt/sub/f.txt']);
    expect(cat.stdout).toBe('one\none\nin a dir\n');
  }, 60_000);

  it('works on a stopped container both ways (its rootfs is mounted for the call, then unmounted)', async () => {
    const out = join(tmp, 'kept');
    const r = await d.docker(['cp', `${stopped}:/kept`, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('kept\n');
    expect((await d.docker(['cp', join(tmp, 'one.txt'), `${stopped}:/`])).code).toBe(0);
    const back = await d.docker(['cp', `${stopped}:/one.txt`, '-']);
    expect(back.stdout).toContain('one\n');
    const id = (await d.docker(['inspect', '-f', '{{.Id}}', stopped])).stdout.trim();
    expect((await readFile('/proc/mounts', 'utf8')).includes(`containers/${id}/rootfs`)).toBe(false);
    expect((await d.docker(['start', '-a', stopped])).code).toBe(0); // the next start still mounts and runs
  }, 60_000);

  it('symlinks in the container resolve inside its rootfs: cp to /tmp/esc/ and /tmp/up/ lands in the container root, not the host', async () => {
    const marker = `wharf-cp-escape-${suffix}.txt`;
    await writeFile(join(tmp, marker), 'x\n');
    expect((await d.docker(['cp', join(tmp, marker), `${box}:/tmp/esc/`])).code).toBe(0);
    expect((await d.docker(['cp', join(tmp, marker), `${box}:/tmp/up/etc/`])).code).toBe(0);
    expect(existsSync(`/${marker}`)).toBe(false);
    expect(existsSync(`/etc/${marker}`)).toBe(false);
    expect((await d.docker(['exec', box, 'ls', `/${marker}`, `/etc/${marker}`])).code).toBe(0);
  });

  it('archive PUT: entries climbing out are refused (400) and write nothing; planted symlinks stay inside; noOverwriteDirNonDir', async () => {
    const evil = await tarOf([{ name: '../../../../../../tmp/wharf-evil-' + suffix, body: 'x' }]);
    const r = await api('PUT', `/v1.47/containers/${box}/archive?path=/tmp`, evil);
    expect(r.status).toBe(400);
    expect(existsSync(`/tmp/wharf-evil-${suffix}`)).toBe(false);
    const planted = await tarOf([
      { name: 'lnk', type: 'symlink', linkname: '/etc' },
      { name: 'lnk/planted-' + suffix, body: 'p' },
    ]);
    expect((await api('PUT', `/v1.47/containers/${box}/archive?path=/tmp`, planted)).status).toBe(200);
    expect(existsSync(`/etc/planted-${suffix}`)).toBe(false);
    expect((await d.docker(['exec', box, 'cat', `/etc/planted-${suffix}`])).stdout).toBe('p');
    const clash = await tarOf([{ name: 'opt', body: 'file over a dir' }]);
    const no = await api('PUT', `/v1.47/containers/${box}/archive?path=/&noOverwriteDirNonDir=true`, clash);
    expect(no.status).toBe(400);
    expect(no.body.toString()).toMatch(/cannot overwrite directory/);
    expect((await api('PUT', `/v1.47/containers/${box}/archive?path=/nonexistent`, clash)).status).toBe(404);
    expect((await api('PUT', `/v1.47/containers/${box}/archive?path=/etc/passwd`, clash)).status).toBe(400);
    expect((await api('GET', `/v1.47/containers/${box}/archive?path=/nope`)).status).toBe(404);
  });

  it('copyUIDGID gives the entries the container user; without it the archive owner is kept', async () => {
    const owned = await tarOf([{ name: 'owned-' + suffix, body: 'o', uid: 1234, gid: 4321 }]);
    expect((await api('PUT', `/v1.47/containers/${box}/archive?path=/tmp`, owned)).status).toBe(200);
    expect((await d.docker(['exec', box, 'stat', '-c', '%u:%g', `/tmp/owned-${suffix}`])).stdout.trim()).toBe('1234:4321');
    expect((await api('PUT', `/v1.47/containers/${box}/archive?path=/tmp&copyUIDGID=1`, owned)).status).toBe(200);
    expect((await d.docker(['exec', box, 'stat', '-c', '%u:%g', `/tmp/owned-${suffix}`])).stdout.trim()).toBe('0:0');
  });
});

describe('export, diff, prune, ps filters', () => {
  it('export is a tar of the merged rootfs (running and stopped)', async () => {
    for (const c of [box, stopped]) {
      const r = await run(['sh', '-c', `/usr/local/bin/docker export ${c} | tar t`], { env: { ...process.env, DOCKER_HOST: d.host } });
      expect(r.stdout.split('\n')).toContain('bin/busybox');
    }
    const withKept = await run(['sh', '-c', `/usr/local/bin/docker export ${stopped} | tar t`], { env: { ...process.env, DOCKER_HOST: d.host } });
    expect(withKept.stdout.split('\n')).toContain('kept');
  }, 60_000);

  it('diff lists added (A), changed (C) and deleted (D) paths from the upper dir', async () => {
    const r = await d.docker(['diff', stopped]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain('A /kept');
    expect(lines).toContain('C /etc');
    expect(lines).toContain('D /etc/group');
  });

  it('ps filters before/since/name regex/status and --size', async () => {
    const a = `fa-${suffix}`;
    const b = `fb-${suffix}`;
    expect((await d.docker(['create', '--name', a, '--label', `prune-me=${suffix}`, 'busybox', 'true'])).code).toBe(0);
    expect((await d.docker(['create', '--name', b, 'busybox', 'true'])).code).toBe(0);
    const names = async (...f: string[]) => (await d.docker(['ps', '-a', '--format', '{{.Names}}', ...f.flatMap((x) => ['--filter', x])])).stdout.trim().split('\n').filter(Boolean);
    expect(await names(`since=${a}`)).toEqual([b]);
    expect(await names(`before=${b}`, `name=${suffix}`)).toContain(a);
    expect(await names(`before=${b}`)).not.toContain(b);
    expect(await names(`name=^/fa-${suffix}$`)).toEqual([a]);
    expect(await names('status=created', `name=${suffix}`)).toEqual([b, a]);
    const bad = await d.docker(['ps', '--filter', 'status=bogus']);
    expect(bad.code).not.toBe(0);
    const sz = await d.docker(['ps', '-a', '-s', '--filter', `name=${stopped}`, '--format', '{{.Size}}']);
    expect(sz.stdout.trim()).toMatch(/^\d+(\.\d+)?[kMG]?B \(virtual \d+(\.\d+)?[kMG]?B\)$/);
    expect(sz.stdout).not.toMatch(/^0B/);
  });

  it('container prune removes stopped containers matching the label filter and reports them', async () => {
    const r = await d.docker(['container', 'prune', '-f', '--filter', `label=prune-me=${suffix}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Deleted Containers:\n[0-9a-f]{64}\n/);
    expect((await d.docker(['inspect', `fa-${suffix}`])).code).not.toBe(0);
    expect((await d.docker(['inspect', `fb-${suffix}`])).code).toBe(0);
    // until=1s prunes what was created more than 1 s ago: make sure fb is that old (on a quick machine it may not be)
    await new Promise((r) => setTimeout(r, 1500));
    const all = await d.docker(['container', 'prune', '-f', '--filter', 'until=1s']);
    expect(all.code, all.stderr).toBe(0);
    expect((await d.docker(['inspect', `fb-${suffix}`])).code).not.toBe(0);
    expect((await d.docker(['inspect', box])).code).toBe(0); // running: kept
  });
});
