import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { WHARF_BIN, exitOf, startDaemon, waitFor, type TestDaemon } from './daemon-harness.js';

// Volumes and mounts through wharf: the real docker CLI 28 against `wharf daemon` (own data root
// and socket), busybox:latest from the bootstrap. Names carry a random suffix; at the end no
// container, no volume and no mount under the test's directory may be left.

const sfx = Math.random().toString(36).slice(2, 8);
const n = (s: string) => `${s}-${sfx}`;
let d: TestDaemon;
/** A second daemon process on the same data root (restart test); stopped in afterAll. */
let restarted: ChildProcess | undefined;

beforeAll(async () => {
  d = await startDaemon();
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 150_000);

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp.startsWith(dir));
}

afterAll(async () => {
  if (!d) return;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    for (const id of ps.stdout.split('\n').filter(Boolean)) await d.docker(['rm', '-f', '-v', id]);
    const vols = await d.docker(['volume', 'ls', '-q']);
    for (const v of vols.stdout.split('\n').filter(Boolean)) await d.docker(['volume', 'rm', '-f', v]);
    const conmons = await run(['pgrep', '-f', `conmon.*${d.dir}`], { allowFailure: true });
    for (const pid of conmons.stdout.split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const mp of mountsUnder(d.dir).reverse()) await run(['umount', '-l', mp], { allowFailure: true });
  } finally {
    if (restarted && restarted.exitCode === null) {
      restarted.kill('SIGTERM');
      await exitOf(restarted, 10_000).catch(() => restarted?.kill('SIGKILL'));
    }
    await d.stop();
  }
}, 120_000);

/** One raw Docker API call on the daemon's socket (status codes the CLI does not show). */
function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      { socketPath: d.socket, method, path: `/v1.47${path}`, headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown = text;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function volumeNames(): Promise<string[]> {
  return (await d.docker(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
}

async function ok(args: string[], timeoutMs?: number): Promise<string> {
  const r = await d.docker(args, timeoutMs ? { timeoutMs } : {});
  expect(r.code, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('volumes and mounts with the docker CLI', () => {
  it('a named volume survives its container and the next container sees the file', async () => {
    const v = n('data');
    await ok(['run', '--rm', '-v', `${v}:/data`, 'busybox', 'sh', '-c', 'echo kept > /data/f']);
    expect(await volumeNames()).toContain(v);
    expect(await ok(['run', '--rm', '-v', `${v}:/data`, 'busybox', 'cat', '/data/f'])).toBe('kept\n');
    const mp = (await ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', v])).trim();
    expect(mp).toBe(join(d.dataRoot, 'volumes', v, '_data'));
    expect(readFileSync(join(mp, 'f'), 'utf8')).toBe('kept\n');
    await ok(['volume', 'rm', v]);
    expect(existsSync(mp)).toBe(false);
  }, 150_000);

  it("a named volume on an image path with content is pre-populated (not with nocopy)", async () => {
    const v = n('etc');
    expect(await ok(['run', '--rm', '-v', `${v}:/etc`, 'busybox', 'cat', '/etc/passwd'])).toMatch(/^root:x:0:0:/);
    expect((await ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', v])).trim()).toBe(join(d.dataRoot, 'volumes', v, '_data'));
    expect(existsSync(join(d.dataRoot, 'volumes', v, '_data', 'group'))).toBe(true);
    const nc = n('nocopy');
    expect(await ok(['run', '--rm', '--mount', `type=volume,src=${nc},dst=/etc,volume-nocopy`, 'busybox', 'ls', '-A', '/etc'])).toBe('');
    await ok(['volume', 'rm', v, nc]);
  }, 150_000);

  it("the image's VOLUME becomes an anonymous volume with the image's content; -v over it wins", async () => {
    const ctx = join(d.dir, n('img'));
    mkdirSync(join(ctx, 'bin'), { recursive: true });
    mkdirSync(join(ctx, 'srv'));
    await run(['cp', '/bin/busybox', join(ctx, 'bin/busybox')]);
    await run(['ln', '-s', 'busybox', join(ctx, 'bin/sh')]);
    writeFileSync(join(ctx, 'srv', 'hello'), 'from-image\n');
    const tar = join(d.dir, n('img.tar'));
    await run(['tar', '-C', ctx, '-cf', tar, '.']);
    const img = `volimg-${sfx}:1`;
    await ok(['import', '--change', 'VOLUME /srv', '--change', 'ENV PATH=/bin', tar, img], 60_000);
    const c = n('imgvol');
    expect(await ok(['run', '--name', c, img, 'busybox', 'cat', '/srv/hello'])).toBe('from-image\n');
    const m = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', c])) as Array<{ Type: string; Name: string; Destination: string }>;
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ Type: 'volume', Destination: '/srv' });
    expect((await ok(['ps', '-a', '--filter', `volume=${m[0]!.Name}`, '--format', '{{.Names}}'])).trim()).toBe(c);
    await ok(['rm', '-v', c]);
    expect(await volumeNames()).not.toContain(m[0]!.Name);
    const host = join(d.dir, n('over'));
    mkdirSync(host);
    expect(await ok(['run', '--rm', '-v', `${host}:/srv`, img, 'busybox', 'ls', '-A', '/srv'])).toBe('');
    await ok(['rmi', img]);
  }, 150_000);

  it('a read-only bind mount refuses writes; a read-write one writes to the host', async () => {
    const host = join(d.dir, n('bind'));
    mkdirSync(host);
    writeFileSync(join(host, 'in'), 'from-host');
    const ro = await d.docker(['run', '--rm', '-v', `${host}:/x:ro`, 'busybox', 'touch', '/x/y']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain('Read-only file system');
    expect(existsSync(join(host, 'y'))).toBe(false);
    expect(await ok(['run', '--rm', '--mount', `type=bind,src=${host},dst=/x`, 'busybox', 'sh', '-c', 'cat /x/in; echo out > /x/out'])).toBe('from-host');
    expect(readFileSync(join(host, 'out'), 'utf8')).toBe('out\n');
    // -v creates a missing host directory (Docker's behaviour).
    const created = join(d.dir, n('made'));
    await ok(['run', '--rm', '-v', `${created}:/m`, 'busybox', 'true']);
    expect(existsSync(created)).toBe(true);
  }, 150_000);

  it('--mount type=tmpfs is a tmpfs of the given size; --tmpfs too', async () => {
    const out = await ok(['run', '--rm', '--mount', 'type=tmpfs,dst=/t,tmpfs-size=8m,tmpfs-mode=1770', '--tmpfs', '/run:size=4m', 'busybox', 'sh', '-c', 'grep -E " /(t|run) " /proc/mounts; stat -c %a /t']);
    const lines = out.trim().split('\n');
    expect(lines.find((l) => l.startsWith('tmpfs /t '))).toMatch(/size=8192k/);
    expect(lines.find((l) => l.startsWith('tmpfs /run '))).toMatch(/size=4096k/);
    expect(lines.at(-1)).toBe('1770');
  }, 150_000);

  it('--volumes-from shares the volumes (and :ro makes them read-only); rm -v removes the anonymous volume, keeps the named one', async () => {
    const src = n('src');
    const named = n('shared');
    const before = new Set(await volumeNames());
    await ok(['run', '--name', src, '-v', `${named}:/data`, '-v', '/anon', 'busybox', 'sh', '-c', 'echo a > /anon/a; echo s > /data/s']);
    const anon = (await volumeNames()).filter((v) => !before.has(v) && v !== named);
    expect(anon).toHaveLength(1);
    const ins = JSON.parse(await ok(['inspect', '-f', '{{json .Mounts}}', src])) as Array<Record<string, unknown>>;
    expect(ins).toEqual(
      expect.arrayContaining([
        { Type: 'volume', Name: named, Source: join(d.dataRoot, 'volumes', named, '_data'), Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' },
        expect.objectContaining({ Type: 'volume', Name: anon[0], Destination: '/anon', RW: true }),
      ]),
    );
    expect(await ok(['run', '--rm', '--volumes-from', src, 'busybox', 'cat', '/anon/a', '/data/s'])).toBe('a\ns\n');
    const ro = await d.docker(['run', '--rm', '--volumes-from', `${src}:ro`, 'busybox', 'touch', '/data/nope']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain('Read-only file system');
    // In use (even by a stopped container): 409, nothing removed.
    const inUse = await api('DELETE', `/volumes/${named}`);
    expect(inUse.status).toBe(409);
    expect(inUse.json.message).toMatch(/volume is in use/);
    const cli = await d.docker(['volume', 'rm', named]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/volume is in use/);
    await ok(['rm', '-v', src]);
    const after = await volumeNames();
    expect(after).not.toContain(anon[0]);
    expect(after).toContain(named);
    // --rm containers take their anonymous volumes with them.
    const pre = (await volumeNames()).length;
    await ok(['run', '--rm', '-v', '/scratch', 'busybox', 'true']);
    expect((await volumeNames()).length).toBe(pre);
    await ok(['volume', 'rm', named]);
  }, 150_000);

  it('system df -v lists volume sizes and links; volume events are emitted', async () => {
    const v = n('sized');
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(['run', '--name', n('writer'), '-v', `${v}:/d`, 'busybox', 'sh', '-c', 'head -c 5000 /dev/zero > /d/z']);
    const df = await ok(['system', 'df', '-v']);
    const row = df.split('\n').find((l) => l.startsWith(`${v} `));
    expect(row).toBeDefined();
    expect(row!.split(/\s+/).slice(1, 3)).toEqual(['1', '5kB']);
    const api1 = await api('GET', '/system/df');
    expect(api1.json.Volumes.find((x: { Name: string }) => x.Name === v).UsageData).toEqual({ Size: 5000, RefCount: 1 });
    await ok(['rm', n('writer')]);
    await ok(['volume', 'rm', v]);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const ev = await ok(['events', '--since', String(since), '--until', String(until), '--filter', 'type=volume', '--filter', `volume=${v}`, '--format', '{{.Action}}']);
    expect(ev.trim().split('\n')).toEqual(['create', 'mount', 'unmount', 'destroy']);
  }, 150_000);

  it('bad input is a 400 with a clear message, and nothing is created', async () => {
    const fresh = n('never');
    const vols0 = await volumeNames();
    const cases: Array<{ args: string[]; msg: RegExp }> = [
      { args: ['-v', `${fresh}:/a`, '-v', '/tmp:relative'], msg: /must be absolute/ },
      { args: ['-v', `${fresh}:/a`, '-v', '/tmp:/x:bogus'], msg: /invalid mode "bogus"/ },
      { args: ['-v', `${fresh}:/a`, '--mount', `type=bind,src=/nonexistent-${sfx},dst=/x`], msg: new RegExp(`bind source path does not exist: /nonexistent-${sfx}`) },
    ];
    for (const c of cases) {
      const r = await d.docker(['create', ...c.args, 'busybox', 'true']);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(c.msg);
    }
    const raw = await api('POST', '/containers/create', { Image: 'busybox', HostConfig: { Binds: [`${fresh}:/a`], Mounts: [{ Type: 'bind', Source: `/nonexistent-${sfx}`, Target: '/x' }] } });
    expect(raw.status).toBe(400);
    expect(raw.json.message).toBe(`invalid mount config for type "bind": bind source path does not exist: /nonexistent-${sfx}`);
    expect((await api('POST', '/containers/create', { Image: 'busybox', HostConfig: { Mounts: [{ Type: 'volume', Target: 'rel' }] } })).status).toBe(400);
    expect((await api('POST', '/volumes/create', { Name: 'b@d' })).status).toBe(400);
    expect((await api('POST', '/volumes/create', { Name: fresh, DriverOpts: { type: 'tmpfs' } })).status).toBe(400);
    expect((await api('DELETE', `/volumes/${fresh}`)).status).toBe(404);
    expect(existsSync(`/nonexistent-${sfx}`)).toBe(false);
    expect(await volumeNames()).toEqual(vols0);
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
  }, 150_000);

  it('wharf volume create|ls|inspect|rm|prune with Docker flags and output', async () => {
    const a = n('cli-a');
    const t = n('cli-tmp');
    expect((await d.wharf(['volume', 'create', '--label', 'team=blue', a])).stdout).toBe(`${a}\n`);
    expect((await d.wharf(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=2m', t])).code).toBe(0);
    // Idempotent create, like Docker.
    const again = await api('POST', '/volumes/create', { Name: a });
    expect(again.status).toBe(201);
    expect(again.json.Labels).toEqual({ team: 'blue' });
    const ls = await d.wharf(['volume', 'ls', '--filter', 'label=team=blue']);
    expect(ls.stdout).toBe(`DRIVER    VOLUME NAME\nlocal     ${a}\n`);
    // inspect prints what it found and fails for what it did not.
    const ins = await d.wharf(['volume', 'inspect', a, n('missing')]);
    expect(ins.code).toBe(1);
    expect(ins.stderr).toMatch(/no such volume/);
    expect((JSON.parse(ins.stdout) as Array<Record<string, unknown>>)[0]).toMatchObject({ Name: a, Driver: 'local', Labels: { team: 'blue' }, Scope: 'local', Mountpoint: join(d.dataRoot, 'volumes', a, '_data') });
    // A tmpfs-backed volume is a tmpfs of its size while a container uses it, unmounted after.
    expect(await ok(['run', '--rm', '-v', `${t}:/v`, 'busybox', 'grep', ' /v ', '/proc/mounts'])).toMatch(/tmpfs \/v tmpfs .*size=2048k/);
    expect(mountsUnder(join(d.dataRoot, 'volumes'))).toEqual([]);
    // prune: anonymous only by default, all unused ones with -a.
    const anon = (await api('POST', '/volumes/create', {})).json.Name as string;
    expect(await ok(['volume', 'prune', '-f'])).toContain(anon);
    expect(await volumeNames()).toEqual(expect.arrayContaining([a, t]));
    const p2 = await d.wharf(['volume', 'prune', '-a', '-f', '--filter', 'label=team=blue']);
    expect(p2.stdout).toBe(`Deleted Volumes:\n${a}\n\nTotal reclaimed space: 0B\n`);
    expect((await d.wharf(['volume', 'rm', t])).stdout).toBe(`${t}\n`);
    expect(await volumeNames()).toEqual([]);
  }, 180_000); // six bin/wharf runs: slow when two test files share 2 cores on CI

  it('volumes survive a daemon kill -9; the running container keeps its volume and re-acquires it', async () => {
    const v = n('persist');
    const c = n('keeper');
    await ok(['run', '-d', '--name', c, '-v', `${v}:/p`, 'busybox', 'sh', '-c', 'echo before > /p/f; sleep 300']);
    await waitFor(() => existsSync(join(d.dataRoot, 'volumes', v, '_data', 'f')), 20_000, 'the container to write into its volume');
    d.proc.kill('SIGKILL');
    await exitOf(d.proc, 10_000);
    restarted = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', d.dataRoot, '--exec-root', d.execRoot, '-H', d.host, '--bridge-name', d.bridge, '--bip', d.bip], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    restarted.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    await waitFor(() => err.includes('daemon ready') || restarted!.exitCode !== null, 60_000, 'the restarted daemon');
    expect(restarted.exitCode, err).toBeNull();
    expect((await ok(['inspect', '-f', '{{.State.Status}}', c])).trim()).toBe('running');
    expect(await ok(['volume', 'ls', '-q'])).toContain(v);
    const rm = await d.docker(['volume', 'rm', v]);
    expect(rm.stderr).toMatch(/volume is in use/);
    await ok(['rm', '-f', c], 60_000);
    await ok(['volume', 'rm', v]);
    expect(mountsUnder(d.dir)).toEqual([]);
  }, 180_000);

  it('leaves nothing behind: no container, no volume, no mount under the test directory', async () => {
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
    expect(await volumeNames()).toEqual([]);
    expect(mountsUnder(d.dir)).toEqual([]);
    expect(existsSync(join(d.dataRoot, 'volumes')) ? (await run(['ls', '-A', join(d.dataRoot, 'volumes')])).stdout.trim() : '').toBe('');
  }, 60_000);
});
