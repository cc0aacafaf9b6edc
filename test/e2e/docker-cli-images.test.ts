import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { WHARF_BIN, buildBusyboxArchive, exitOf, startDaemon, type TestDaemon } from './daemon-harness.js';

// The real docker CLI 28 against `wharf daemon`: system, image load/save/import/tag/rmi/prune,
// df, the data-root lock, and clean SIGTERM shutdown. Each run has its own data root and socket.

const suffix = Math.random().toString(36).slice(2, 8);
const REF = `e2e/busybox${suffix}:v1`;
let d: TestDaemon;
let work: string;
let archive: string;
let rootfsTar: string;

beforeAll(async () => {
  work = mkdtempSync('/var/tmp/wharf-test-e2e-work-');
  [d, { archive, rootfsTar }] = await Promise.all([startDaemon(), buildBusyboxArchive(work, REF)]);
});

afterAll(async () => {
  await d?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const lines = (s: string) => s.split('\n').filter(Boolean);

describe('docker CLI against wharf daemon', () => {
  it('version and info: API 1.47, real machine figures', async () => {
    const v = await d.docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('1.47 1.24 linux');
    const i = await d.docker(['info', '--format', '{{.Driver}}|{{.NCPU}}|{{.DockerRootDir}}|{{.OSType}}|{{gt .MemTotal 0}}']);
    expect(i.code, i.stderr).toBe(0);
    const [driver, ncpu, root, os, mem] = i.stdout.trim().split('|');
    expect([driver, root, os, mem]).toEqual(['overlay2', d.dataRoot, 'linux', 'true']);
    expect(Number(ncpu)).toBeGreaterThan(0);
  });

  it('refuses clients below API 1.24 with Docker’s message', async () => {
    const r = await d.docker(['version'], { env: { DOCKER_API_VERSION: '1.23' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('client version 1.23 is too old. Minimum supported API version is 1.24');
  });

  it('load -i an umoci+skopeo archive, then images and image inspect show it', async () => {
    const l = await d.docker(['load', '-i', archive]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout.trim()).toBe(`Loaded image: ${REF}`);
    const ls = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.Size}}']);
    expect(lines(ls.stdout)).toContainEqual(expect.stringMatching(new RegExp(`^${REF} 1\\.9\\dMB$`)));
    const ins = await d.docker(['image', 'inspect', REF]);
    expect(ins.code, ins.stderr).toBe(0);
    const [img] = JSON.parse(ins.stdout) as { Id: string; Config: { Cmd: string[]; Env: string[]; Labels: Record<string, string> }; RootFS: { Layers: string[] }; Os: string }[];
    expect(img!.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img!.Config.Cmd).toEqual(['sh']);
    expect(img!.Config.Env).toEqual(['PATH=/bin']);
    expect(img!.Config.Labels).toEqual({ e2e: 'yes' });
    expect(img!.RootFS.Layers).toHaveLength(1);
    const missing = await d.docker(['image', 'inspect', 'nothere:latest']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No such image: nothere:latest');
  });

  it('tag (the CLI sends a fully normalised repo) and filter by reference', async () => {
    const t = await d.docker(['tag', REF, `mybox${suffix}:t1`]);
    expect(t.code, t.stderr).toBe(0);
    const ls = await d.docker(['images', '--filter', `reference=mybox${suffix}`, '--format', '{{.Repository}}:{{.Tag}}']);
    expect(lines(ls.stdout)).toEqual([`mybox${suffix}:t1`]);
    const bad = await d.docker(['tag', 'nothere', 'x:y']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('No such image: nothere');
  });

  it('save is readable by skopeo and loads back as the same image', async () => {
    const out = join(work, 'saved.tar');
    const s = await d.docker(['save', '-o', out, `mybox${suffix}:t1`]);
    expect(s.code, s.stderr).toBe(0);
    const info = JSON.parse((await run(['skopeo', 'inspect', `docker-archive:${out}`])).stdout) as { Layers: string[]; Os: string };
    expect(info.Layers).toHaveLength(1);
    expect(info.Os).toBe('linux');
    const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', `mybox${suffix}:t1`])).stdout.trim();
    const rm = await d.docker(['rmi', `mybox${suffix}:t1`]);
    expect(rm.stdout).toContain(`Untagged: mybox${suffix}:t1`);
    const l = await d.docker(['load', '-i', out]);
    expect(l.code, l.stderr).toBe(0);
    expect((await d.docker(['image', 'inspect', '--format', '{{.Id}}', `mybox${suffix}:t1`])).stdout.trim()).toBe(id);
  });

  it('rmi of an image with two tags untags; the last tag deletes it', async () => {
    const a = await d.docker(['rmi', `mybox${suffix}:t1`]);
    expect(a.code, a.stderr).toBe(0);
    // The re-load recorded a digest ref mybox@sha256:…; Docker drops it with the repo's last tag.
    expect(lines(a.stdout)[0]).toBe(`Untagged: mybox${suffix}:t1`);
    expect(a.stdout).not.toContain('Deleted:');
    expect((await d.docker(['image', 'inspect', '--format', '{{json .RepoTags}}', REF])).stdout.trim()).toBe(JSON.stringify([REF]));
    const b = await d.docker(['rmi', REF]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(`Untagged: ${REF}`);
    expect(b.stdout).toMatch(/Deleted: sha256:[0-9a-f]{64}/);
    expect((await d.docker(['images', '-q'])).stdout.trim()).toBe('');
  });

  it('import with changes, an untagged import, image prune and system df', async () => {
    const imp = await d.docker(['import', '-c', 'CMD ["/bin/sh","-c","echo hi"]', '-c', 'ENV A=b', '-m', 'imported', rootfsTar, `imp${suffix}:1`]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const cfg = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .Config}}', `imp${suffix}:1`])).stdout) as { Cmd: string[]; Env: string[] };
    expect(cfg.Cmd).toEqual(['/bin/sh', '-c', 'echo hi']);
    expect(cfg.Env).toContain('A=b');
    const dangling = await d.docker(['import', rootfsTar]);
    const danglingId = dangling.stdout.trim();
    expect(lines((await d.docker(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).stdout)).toEqual([danglingId]);
    const df = await d.docker(['system', 'df', '--format', '{{.Type}} {{.TotalCount}}']);
    expect(lines(df.stdout)).toContain('Images 2');
    const p = await d.docker(['image', 'prune', '-f']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain(`deleted: ${danglingId}`);
    expect((await d.docker(['images', '-q', '--filter', 'dangling=true'])).stdout.trim()).toBe('');
    expect(lines((await d.docker(['images', '--format', '{{.Repository}}'])).stdout)).toEqual([`imp${suffix}`]);
  });

  it('pull from a registry nobody serves fails clearly and stores nothing', async () => {
    const before = (await d.docker(['images', '-q'])).stdout;
    const r = await d.docker(['pull', '127.0.0.1:1/nobody/here:1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot reach registry 127.0.0.1:1');
    expect((await d.docker(['images', '-q'])).stdout).toBe(before);
  });

  it('wharf client commands work against the daemon (images, save, rmi, load, image bootstrap)', async () => {
    const boot = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.stdout).toContain('Loaded image: busybox:latest');
    const ls = await d.wharf(['images']);
    expect(ls.stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/m);
    expect(ls.stdout).toMatch(/^busybox\s+latest\s+[0-9a-f]{12}\s/m);
    const out = join(work, 'wharf-saved.tar');
    expect((await d.wharf(['save', '-o', out, 'busybox'])).code).toBe(0);
    expect((await d.wharf(['rmi', 'busybox'])).stdout).toContain('Untagged: busybox:latest');
    const l = await d.wharf(['load', '-i', out]);
    expect(l.stdout.trim()).toBe('Loaded image: busybox:latest');
    const miss = await d.wharf(['image', 'inspect', 'nothere']);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toContain('Error response from daemon: No such image: nothere');
    // The one image busybox is what `docker run busybox …` will use: /bin/sh must be there.
    const hist = await d.docker(['history', '-q', 'busybox']);
    expect(hist.code).toBe(0);
  }, 180_000);

  it('docker events: replay with --since/--until ends by itself; a follower sees new events live', async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    expect((await d.docker(['tag', 'busybox', `ev${suffix}:1`])).code).toBe(0);
    const replay = await d.docker(['events', '--since', String(t0), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'], { timeoutMs: 20_000 });
    expect(replay.code, replay.stderr).toBe(0);
    expect(lines(replay.stdout)).toContain(`image tag ev${suffix}:1`);
    const follower = spawnProcess(['docker', '-H', d.host, 'events', '--filter', 'type=image', '--filter', 'event=tag', '--format', '{{.Action}} {{.Actor.Attributes.name}}'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    follower.stdout!.on('data', (b: Buffer) => (seen += b.toString()));
    follower.stderr!.resume();
    try {
      // The follower's connect time is unknown: tag new names until one shows up in its stream.
      for (let i = 0; i < 40 && !seen.includes('tag live'); i++) {
        await d.docker(['tag', 'busybox', `live${suffix}:${i}`]);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(seen).toMatch(new RegExp(`tag live${suffix}:\\d+`));
      expect(seen).not.toContain('untag');
    } finally {
      follower.kill('SIGTERM');
      await exitOf(follower, 5_000).catch(() => follower.kill('SIGKILL'));
    }
  }, 90_000);

  it('a second daemon on the same data root is refused; tcp:// is refused', async () => {
    const second = spawnProcess(['node', WHARF_BIN, 'daemon', '--data-root', d.dataRoot, '--exec-root', join(work, 'exec2'), '-H', `unix://${join(work, 'second.sock')}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    second.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    second.stdout!.resume();
    expect(await exitOf(second, 20_000)).toBe(1);
    expect(err).toContain(`data root ${d.dataRoot} is in use by another wharf daemon (pid ${d.proc.pid}`);
    expect(existsSync(join(work, 'second.sock'))).toBe(false);
    const tcp = await run(['node', WHARF_BIN, 'daemon', '--data-root', join(work, 'data3'), '--exec-root', join(work, 'exec3'), '-H', 'tcp://127.0.0.1:2375'], { allowFailure: true });
    expect(tcp.code).toBe(1);
    expect(tcp.stderr).toContain('listening on tcp://127.0.0.1:2375 is not supported yet');
  }, 90_000);

  it('SIGTERM shuts down cleanly: exit 0, socket and lock removed, data kept', async () => {
    d.proc.kill('SIGTERM');
    expect(await exitOf(d.proc, 10_000)).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
    expect(existsSync(join(d.dataRoot, 'wharf.lock'))).toBe(false);
    expect(existsSync(join(d.dataRoot, 'wharf.db'))).toBe(true);
    expect(d.logs()).toContain('"msg":"daemon stopped"');
  });
});
