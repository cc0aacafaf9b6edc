// bench/build: cold and cached `docker build` of a 10-step Dockerfile through the real docker CLI
// (classic builder, POST /build) against a `wharf daemon` with its own data root and socket.
//   cold   = `docker build --no-cache` (every step runs: 3 RUN containers, 2 COPY, WORKDIR, metadata)
//   cached = the same build again with the cache (goal: < 0.5 s)
// Rounds alternate cold and cached; medians are reported. The docker CLI process start
// (~50–100 ms) is inside the figures, as a user sees them.
// Usage: npm run build && npx tsx bench/build.ts [ROUNDS=5]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { run, spawnProcess } from '../src/core/exec/run.js';

const ROUNDS = Number(process.argv[2] ?? 5);
const repo = resolve(import.meta.dirname, '..');
const dir = `/var/tmp/wharf-bench-build-${randomBytes(4).toString('hex')}`;
const socket = join(dir, 'd.sock');
const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(dir, 'docker-config') };

const DOCKERFILE = `FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY src/ /app/src/
RUN for i in 1 2 3 4 5 6 7 8; do cat src/* > out.$i; done
RUN adduser -D -u 1000 app 2>/dev/null || echo "app:x:1000:1000::/app:/bin/sh" >> /etc/passwd
COPY config.json /etc/app.json
RUN wc -c /app/out.* > /app/sizes
LABEL bench=build
CMD ["cat", "/app/sizes"]
`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timedBuild(args: string[]): Promise<{ ms: number; out: string }> {
  const t0 = process.hrtime.bigint();
  const r = await run(['docker', 'build', ...args], { env, timeoutMs: 300_000, allowFailure: true });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`docker build failed: ${r.stderr}\n${r.stdout}`);
  return { ms, out: r.stdout };
}

async function main(): Promise<void> {
  if (!existsSync(join(repo, 'dist/cmd/main.js'))) throw new Error('run "npm run build" first');
  await mkdir(join(dir, 'ctx/src'), { recursive: true });
  for (let i = 0; i < 20; i++) await writeFile(join(dir, 'ctx/src', `f${i}.txt`), randomBytes(16 * 1024).toString('base64'));
  await writeFile(join(dir, 'ctx/config.json'), JSON.stringify({ bench: true }));
  await writeFile(join(dir, 'ctx/Dockerfile'), DOCKERFILE);
  const daemon = spawnProcess(['node', join(repo, 'bin/wharf'), 'daemon', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '-H', `unix://${socket}`], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  try {
    const end = Date.now() + 60_000;
    while (!existsSync(socket)) {
      if (Date.now() > end || daemon.exitCode !== null) throw new Error('the daemon did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    await run(['node', join(repo, 'bin/wharf'), 'image', 'bootstrap'], { env, timeoutMs: 120_000 });
    const ctx = join(dir, 'ctx');
    await timedBuild(['-t', 'bench:warmup', ctx]); // first build: page cache, busybox layer
    const cold: number[] = [];
    const cached: number[] = [];
    const load0 = loadavg()[0]!;
    for (let i = 0; i < ROUNDS; i++) {
      cold.push((await timedBuild(['--no-cache', '-t', 'bench:latest', ctx])).ms);
      const c = await timedBuild(['-t', 'bench:latest', ctx]);
      if ((c.out.match(/Using cache/g) ?? []).length !== 9) throw new Error(`expected 9 cache hits:\n${c.out}`);
      cached.push(c.ms);
    }
    const load1 = loadavg()[0]!;
    const noop = [] as number[];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = process.hrtime.bigint();
      await run(['docker', 'version', '--format', '{{.Server.Version}}'], { env, timeoutMs: 30_000 });
      noop.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const f = (x: number) => `${x.toFixed(0)} ms`;
    console.log(`rounds: ${ROUNDS}, load average ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
    console.log(`cold (--no-cache, 10 steps, 3 RUN): median ${f(median(cold))} (min ${f(Math.min(...cold))}, max ${f(Math.max(...cold))})`);
    console.log(`cached rebuild: median ${f(median(cached))} (min ${f(Math.min(...cached))}, max ${f(Math.max(...cached))}); goal < 500 ms`);
    console.log(`floor: docker CLI round trip (docker version): median ${f(median(noop))}`);
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 2000));
    const mounts = (await run(['cat', '/proc/mounts'])).stdout.split('\n').filter((l) => l.includes(dir));
    for (const m of mounts) await run(['umount', '-l', m.split(' ')[1]!], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
