import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { buildTar } from '../../src/engine/images/testing.js';
import { startDaemon, type TestDaemon } from './daemon-harness.js';

// `docker build` (the docker CLI 28's classic builder path: POST /build with a tar context)
// against `wharf daemon`: multi-stage builds that run, the layer cache, .dockerignore, build
// args, --target, config in `docker inspect`, and bad input that leaves nothing behind.
// Every image is built from the bootstrapped busybox and files written by the test.

const suffix = Math.random().toString(36).slice(2, 8);
let d: TestDaemon;
let work: string;

beforeAll(async () => {
  d = await startDaemon();
  work = mkdtempSync('/var/tmp/wharf-test-build-ctx-');
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 90_000);

afterAll(async () => {
  if (!d) return;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    for (const id of ps.stdout.split('\n').filter(Boolean)) await d.docker(['rm', '-f', id]);
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(d.dir));
    for (const m of mounts) await run(['umount', '-l', m.split(' ')[1]!], { allowFailure: true });
  } finally {
    await d.stop();
    rmSync(work, { recursive: true, force: true });
  }
}, 60_000);

/** A context directory with the given files. */
function context(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

function build(args: string[], timeoutMs = 120_000) {
  // DOCKER_BUILDKIT=0 is what users set; the CLI takes the same path without it here (no buildx).
  return d.docker(['build', ...args], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs });
}

async function leftovers(): Promise<{ containers: string; volumes: string; mounts: string[]; buildDirs: string[] }> {
  const ps = await d.docker(['ps', '-aq']);
  const vols = await d.docker(['volume', 'ls', '-q']);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(d.dataRoot));
  const bdir = join(d.dataRoot, 'build');
  return { containers: ps.stdout.trim(), volumes: vols.stdout.trim(), mounts, buildDirs: existsSync(bdir) ? readdirSync(bdir) : [] };
}

const MULTI = `# stage 1 makes a file with RUN, stage 2 starts from scratch
FROM busybox AS maker
ARG WHO=world
WORKDIR /src
RUN echo "hello $WHO" > greeting.txt && echo built-in-stage-1
FROM scratch
COPY --from=maker /bin/busybox /bin/busybox
COPY --from=maker /src/greeting.txt /greeting.txt
ENTRYPOINT ["/bin/busybox", "cat"]
CMD ["/greeting.txt"]
`;

describe('docker build against wharf daemon', () => {
  it('multi-stage: RUN in stage 1, FROM scratch + COPY --from in stage 2, the image runs; a rebuild is all cache hits with the same ID', async () => {
    const dir = context('multi', { Dockerfile: MULTI });
    const tag = `multi-${suffix}:v1`;
    const r = await build(['-t', tag, dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('Step 1/9 : FROM busybox AS maker');
    expect(r.stdout).toContain('built-in-stage-1'); // the RUN step's output is streamed
    expect(r.stdout).toContain(`Successfully tagged ${tag}`);
    const id = /Successfully built ([0-9a-f]{12})/.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    const out = await d.docker(['run', '--rm', tag]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe('hello world\n');
    // only busybox and two files: a small image
    const size = await d.docker(['image', 'inspect', tag, '--format', '{{.Size}}']);
    expect(Number(size.stdout.trim())).toBeLessThan(4 * 1024 * 1024);

    const t0 = Date.now();
    const again = await build(['-t', tag, dir]);
    const ms = Date.now() - t0;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('Running in');
    expect(again.stdout.match(/ ---> Using cache/g)?.length).toBe(7);
    expect(again.stdout).toContain(`Successfully built ${id}`);
    console.log(`cached rebuild through the docker CLI: ${ms} ms`);

    // the intermediate images are hidden from `docker images` (shown with -a), like Docker's
    const list = await d.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(list.stdout).toContain(tag);
    const all = await d.docker(['images', '-a', '-q']);
    expect(all.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(list.stdout.split('\n').filter(Boolean).length);
    expect(await leftovers()).toEqual({ containers: '', volumes: '', mounts: [], buildDirs: [] });
  }, 240_000);

  it('--target stops at a stage; --build-arg reaches ARG and RUN; --no-cache runs again', async () => {
    const dir = context('target', { Dockerfile: MULTI });
    const tag = `target-${suffix}`;
    const r = await build(['--target', 'maker', '--build-arg', 'WHO=wharf', '-t', tag, dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('Step 4/4 : RUN');
    expect(r.stdout).not.toContain('FROM scratch');
    const out = await d.docker(['run', '--rm', tag, 'cat', '/src/greeting.txt']);
    expect(out.stdout).toBe('hello wharf\n');
    const nc = await build(['--no-cache', '--target', 'maker', '--build-arg', 'WHO=wharf', '-t', tag, dir]);
    expect(nc.code).toBe(0);
    expect(nc.stdout).not.toContain('Using cache');
    expect(nc.stdout).toContain('Running in');
    const unused = await build(['--target', 'maker', '--build-arg', `NOPE_${suffix}=1`, dir]);
    expect(unused.stdout).toContain(`[Warning] One or more build-args [NOPE_${suffix}] were not consumed`);
  }, 240_000);

  it('.dockerignore (with ! exceptions) is respected; a COPY of an ignored file fails', async () => {
    const dir = context('ignore', {
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n',
      '.dockerignore': '*.secret\nlogs\n!logs/keep.log\n',
      'app.txt': 'app',
      'password.secret': 'hunter2',
      'logs/a.log': 'a',
      'logs/keep.log': 'keep',
    });
    const r = await build(['-t', `ignore-${suffix}`, dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const files = await d.docker(['run', '--rm', `ignore-${suffix}`, 'find', '/ctx', '-type', 'f']);
    const got = files.stdout.split('\n').filter(Boolean).sort();
    expect(got).toContain('/ctx/app.txt');
    expect(got).toContain('/ctx/logs/keep.log');
    expect(got).not.toContain('/ctx/password.secret');
    expect(got).not.toContain('/ctx/logs/a.log');
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nCOPY password.secret /\n');
    const bad = await build([dir]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('file not found in build context or excluded by .dockerignore');
  }, 240_000);

  it('ENV, WORKDIR, USER, ENTRYPOINT, CMD, LABEL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, --label show in docker inspect; RUN uses ENV/WORKDIR/USER', async () => {
    const dir = context('config', {
      Dockerfile: [
        'FROM busybox',
        'ENV APP_HOME=/opt/app MODE="fast lane"',
        'WORKDIR $APP_HOME',
        'RUN echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd && echo "app:x:1000:1000:app:/home/app:/bin/sh" >> /etc/passwd && echo "app:x:1000:" > /etc/group',
        'VOLUME /data',
        'RUN echo in-volume > /data/x && echo outside > /tmp/after-volume',
        'USER app',
        'RUN echo "$MODE in $(pwd) as $(id -u)" > /tmp/who',
        'LABEL org.example.name="demo app" tier=web',
        'EXPOSE 8080 53/udp',
        'VOLUME /data',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=5s --retries=2 CMD true',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["cat /tmp/who"]',
      ].join('\n'),
    });
    const tag = `config-${suffix}`;
    const r = await build(['-t', tag, '--label', 'built-by=test', dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const insp = await d.docker(['image', 'inspect', tag, '--format', '{{json .Config}}']);
    const cfg = JSON.parse(insp.stdout) as Record<string, unknown>;
    expect(cfg.Env).toContain('APP_HOME=/opt/app');
    expect(cfg.Env).toContain('MODE=fast lane');
    expect(cfg.WorkingDir).toBe('/opt/app');
    expect(cfg.User).toBe('app');
    expect(cfg.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(cfg.Cmd).toEqual(['cat /tmp/who']);
    expect(cfg.Labels).toEqual({ 'org.example.name': 'demo app', tier: 'web', 'built-by': 'test' });
    expect(Object.keys(cfg.ExposedPorts as object).sort()).toEqual(['53/udp', '8080/tcp']);
    expect(Object.keys(cfg.Volumes as object)).toEqual(['/data']);
    expect(cfg.StopSignal).toBe('SIGINT');
    expect((cfg.Healthcheck as { Test: string[]; Interval: number; Retries: number })).toMatchObject({ Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
    const out = await d.docker(['run', '--rm', tag]);
    expect(out.stdout).toBe('fast lane in /opt/app as 1000\n');
    // like Docker: a RUN's writes below a VOLUME are not kept, the rest is
    const vol = await d.docker(['run', '--rm', '--entrypoint', 'sh', tag, '-c', 'ls /data; cat /tmp/after-volume']);
    expect(vol.stdout).toBe('outside\n');
    expect(await leftovers()).toEqual({ containers: '', volumes: '', mounts: [], buildDirs: [] });
  }, 240_000);

  it('a failing RUN stops the build with its output and exit code; no image is tagged, no container, mount or work dir is left', async () => {
    const dir = context('fail', { Dockerfile: 'FROM busybox\nRUN echo before-failure\nRUN echo about-to-fail && exit 3\nRUN echo never\n' });
    const tag = `fail-${suffix}`;
    const r = await build(['-t', tag, dir]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain('about-to-fail');
    expect(r.stdout).not.toContain('never');
    expect(r.stderr).toContain("The command '/bin/sh -c echo about-to-fail && exit 3' returned a non-zero code: 3");
    const img = await d.docker(['image', 'inspect', tag]);
    expect(img.code).not.toBe(0);
    expect(await leftovers()).toEqual({ containers: '', volumes: '', mounts: [], buildDirs: [] });
  }, 240_000);

  it('bad Dockerfiles and contexts get clear errors', async () => {
    const cases: [string, Record<string, string>, string, string[]?][] = [
      ['unknown', { Dockerfile: 'FROM busybox\nFROBNICATE x\n' }, 'unknown instruction: FROBNICATE'],
      ['nofrom', { Dockerfile: 'RUN true\n' }, 'must begin with FROM'],
      ['outside', { Dockerfile: 'FROM busybox\nCOPY ../../etc/passwd /x\n' }, 'forbidden path outside the build context'],
      ['missing', { Dockerfile: 'FROM busybox\nCOPY nothere.txt /x\n' }, 'file not found in build context'],
      ['url', { Dockerfile: 'FROM busybox\nADD http://example.invalid/x.tgz /x\n' }, 'not supported'],
      ['platform', { Dockerfile: 'FROM --platform=linux/arm64 busybox\n' }, 'Wharf builds linux/amd64'],
      ['noimage', { Dockerfile: `FROM nosuchimage-${suffix}\n` }, 'not present locally'],
    ];
    for (const [name, files, msg] of cases) {
      const r = await build([context(`bad-${name}`, files)]);
      expect(r.code, name).not.toBe(0);
      expect(r.stderr + r.stdout, name).toContain(msg);
    }
    expect(await leftovers()).toEqual({ containers: '', volumes: '', mounts: [], buildDirs: [] });
  }, 240_000);

  it('-f with a Dockerfile outside the context; ADD of a local tar extracts it; COPY --chown/--chmod; heredoc RUN', async () => {
    const dir = context('extra', { 'data/a.txt': 'A\n' });
    await run(['tar', '-C', join(dir, 'data'), '-czf', join(dir, 'bundle.tgz'), 'a.txt']);
    const df = join(work, 'elsewhere.Dockerfile');
    writeFileSync(
      df,
      [
        'FROM busybox',
        'ADD bundle.tgz /unpacked/',
        'COPY --chown=1:2 --chmod=600 data/a.txt /owned.txt',
        'RUN <<EOF',
        'set -e',
        'cat /unpacked/a.txt > /report',
        'stat -c "%u:%g %a" /owned.txt >> /report',
        'EOF',
        'CMD ["cat", "/report"]',
      ].join('\n'),
    );
    const tag = `extra-${suffix}`;
    const r = await build(['-f', df, '-t', tag, dir]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = await d.docker(['run', '--rm', tag]);
    expect(out.stdout).toBe('A\n1:2 600\n');
  }, 240_000);

  it('a context tar with a traversal entry is refused and nothing is written outside', async () => {
    const marker = `wharf-escape-${suffix}`;
    const tar = buildTar([
      { path: 'Dockerfile', data: 'FROM busybox\nCOPY . /\n' },
      { path: `../../../../../../tmp/${marker}`, data: 'x' },
    ]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath: d.socket, path: '/v1.47/build?t=escape', method: 'POST', headers: { 'Content-Type': 'application/x-tar' } }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end(tar);
    });
    expect(res.body).toMatch(/invalid build context: path with \.\./);
    expect(res.body).toContain('errorDetail');
    expect(existsSync(`/tmp/${marker}`)).toBe(false);
    expect((await d.docker(['image', 'inspect', 'escape'])).code).not.toBe(0);
  }, 60_000);

  it('wharf build (dockerode) builds, tags twice, writes --iidfile, and -q prints only the ID', async () => {
    const dir = context('wharfcli', { Dockerfile: 'FROM busybox\nCOPY hi.txt /\nCMD ["cat", "/hi.txt"]\n', 'hi.txt': 'hi from wharf build\n' });
    const iid = join(work, 'iid');
    const r = await d.wharf(['build', '-t', `wb-${suffix}:a`, '-t', `wb-${suffix}:b`, '--iidfile', iid, dir], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Successfully tagged wb-${suffix}:a`);
    const id = readFileSync(iid, 'utf8');
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const q = await d.wharf(['build', '-q', dir], { timeoutMs: 120_000 });
    expect(q.stdout.trim()).toBe(id);
    const out = await d.docker(['run', '--rm', `wb-${suffix}:b`]);
    expect(out.stdout).toBe('hi from wharf build\n');
  }, 240_000);
});
