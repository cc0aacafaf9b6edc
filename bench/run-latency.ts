// bench/run-latency: container start latency and scale, Wharf against its floor and peers.
//
// In one interleaved run, median of N (default 20) of:
//   (a) the floor: `runc run` of a busybox bundle running `true` (plain rootfs directory);
//   (b) `docker run --rm --network none busybox true` through a `wharf daemon` (the built bin/wharf);
//   (c) the same through dockerd (Debian docker.io; own --data-root/--exec-root/-H, --bridge=none --iptables=false);
//   (d) `podman run --rm --network none busybox true` (Debian podman; own --root/--runroot, runc).
// The same busybox image (Wharf's bootstrap, saved with `docker save`) is loaded into each.
// Then, on Wharf: time to start 50 detached containers, `docker ps` latency with 500 running,
// daemon RSS idle and with 500 running, RSS per container (daemon share + conmon).
// Peers are installed with apt when missing (`--no-peers` skips them) and stopped afterwards.
//
// Usage: npm run build && npx tsx bench/run-latency.ts [N=20] [--scale 500] [--no-peers]
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../src/core/exec/run.js';
import { buildSpec, serializeSpec } from '../src/engine/runtime/spec.js';
import { makeBusyboxRootfs, PASSWD, GROUP } from '../test/integration/busybox-rootfs.js';
import { removeCgroupTree } from '../test/integration/runtime-harness.js';

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^[0-9]+$/.test(a)) ?? 20);
const SCALE = Number(args[args.indexOf('--scale') + 1] ?? 500) || 500;
const PEERS = !args.includes('--no-peers');
const suffix = randomBytes(4).toString('hex');
const dir = `/var/tmp/wharf-bench-rl-${suffix}`;
const cgroupParent = `/wharf-bench-${suffix}`;
const REPO = join(import.meta.dirname, '..');
const DOCKER = '/usr/local/bin/docker';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const since = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid: number) => Number(/VmRSS:\s+([0-9]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const pssKb = (pid: number) => Number(/Pss:\s+([0-9]+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);

async function waitSocket(path: string, proc: ChildProcess, what: string): Promise<void> {
  const end = Date.now() + 60_000;
  while (!existsSync(path)) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (Date.now() > end) throw new Error(`${what}: no socket after 60 s`);
    await sleep(100);
  }
}

async function stopProc(p: ChildProcess | undefined, what: string): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const end = Date.now() + 30_000;
  while (p.exitCode === null && p.signalCode === null && Date.now() < end) await sleep(100);
  if (p.exitCode === null && p.signalCode === null) {
    console.error(`${what} did not stop in 30 s: SIGKILL`);
    p.kill('SIGKILL');
  }
}

async function ensurePackage(bin: string, pkg: string): Promise<boolean> {
  if (existsSync(bin)) return true;
  console.error(`installing ${pkg} (apt) for the comparison…`);
  const r = await run(['apt-get', 'install', '-y', '--no-install-recommends', pkg], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    allowFailure: true,
    timeoutMs: 900_000,
  });
  if (r.code !== 0) console.error(`apt-get install ${pkg} failed: ${r.stderr.slice(-500)}`);
  return existsSync(bin);
}

async function main(): Promise<void> {
  if (!existsSync(join(REPO, 'dist/cmd/main.js'))) throw new Error('run "npm run build" first');
  await mkdir(dir, { recursive: true });
  const procs: { p: ChildProcess; what: string }[] = [];
  const results: Record<string, unknown> = { n: N, load1Start: Number(loadavg()[0]!.toFixed(1)) };
  const wharfSock = join(dir, 'wharf.sock');
  const dockerdSock = join(dir, 'dockerd.sock');
  const wharfEnv = { ...process.env, DOCKER_HOST: `unix://${wharfSock}`, DOCKER_CONFIG: join(dir, 'cfg') };
  const dockerdEnv = { ...process.env, DOCKER_HOST: `unix://${dockerdSock}`, DOCKER_CONFIG: join(dir, 'cfg') };
  const podmanArgs = ['--root', join(dir, 'podman-root'), '--runroot', join(dir, 'podman-run'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  let wharfPid = 0;
  let havePodman = false;
  let haveDockerd = false;
  try {
    // Wharf.
    const wharf = spawnProcess(['node', join(REPO, 'bin/wharf'), 'daemon', '--data-root', join(dir, 'wharf-data'), '--exec-root', join(dir, 'wharf-exec'), '-H', `unix://${wharfSock}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    procs.push({ p: wharf, what: 'wharf daemon' });
    await waitSocket(wharfSock, wharf, 'wharf daemon');
    wharfPid = wharf.pid!;
    await sleep(1000);
    results.wharfIdleRssMB = rssKb(wharfPid) / 1024;
    await run(['node', join(REPO, 'bin/wharf'), 'image', 'bootstrap'], { env: wharfEnv, timeoutMs: 120_000 });
    const tar = join(dir, 'busybox.tar');
    await run([DOCKER, 'save', '-o', tar, 'busybox:latest'], { env: wharfEnv, timeoutMs: 120_000 });

    // Peers.
    if (PEERS) {
      haveDockerd = await ensurePackage('/usr/sbin/dockerd', 'docker.io');
      havePodman = await ensurePackage('/usr/bin/podman', 'podman');
    }
    if (haveDockerd) {
      const dd = spawnProcess(
        ['/usr/sbin/dockerd', '--data-root', join(dir, 'dockerd-data'), '--exec-root', join(dir, 'dockerd-exec'), '-H', `unix://${dockerdSock}`, '--pidfile', join(dir, 'dockerd.pid'), '--bridge=none', '--iptables=false', '--ip-masq=false', '--containerd-namespace', `bench-${suffix}`, '--containerd-plugins-namespace', `bench-p-${suffix}`],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      procs.push({ p: dd, what: 'dockerd' });
      await waitSocket(dockerdSock, dd, 'dockerd');
      await sleep(2000);
      await run([DOCKER, 'load', '-i', tar], { env: dockerdEnv, timeoutMs: 120_000 });
    }
    if (havePodman) await run(['podman', ...podmanArgs, 'load', '-i', tar], { timeoutMs: 120_000 });

    // (a) floor bundle.
    const lower = join(dir, 'rootfs');
    await makeBusyboxRootfs(lower);
    const runcRoot = join(dir, 'runc');

    const floor: number[] = [];
    const viaWharf: number[] = [];
    const viaDockerd: number[] = [];
    const viaPodman: number[] = [];
    for (let i = 0; i < N + 1; i++) {
      const id = `a${i}-${suffix}`;
      const bundle = join(dir, 'bundles', id);
      await mkdir(bundle, { recursive: true });
      await writeFile(join(bundle, 'config.json'), serializeSpec(buildSpec({}, { cmd: ['true'] }, { rootfs: lower, cgroupsPath: `${cgroupParent}/${id}`, passwd: PASSWD, group: GROUP })));
      let t0 = process.hrtime.bigint();
      await run(['runc', '--root', runcRoot, 'run', '--bundle', bundle, id], { timeoutMs: 30_000 });
      if (i > 0) floor.push(since(t0));
      await rm(bundle, { recursive: true, force: true });

      t0 = process.hrtime.bigint();
      await run([DOCKER, 'run', '--rm', '--network', 'none', 'busybox', 'true'], { env: wharfEnv, timeoutMs: 60_000 });
      if (i > 0) viaWharf.push(since(t0));

      if (haveDockerd) {
        t0 = process.hrtime.bigint();
        await run([DOCKER, 'run', '--rm', '--network', 'none', 'busybox', 'true'], { env: dockerdEnv, timeoutMs: 60_000 });
        if (i > 0) viaDockerd.push(since(t0));
      }
      if (havePodman) {
        t0 = process.hrtime.bigint();
        await run(['podman', ...podmanArgs, 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768', 'busybox', 'true'], { timeoutMs: 60_000 });
        if (i > 0) viaPodman.push(since(t0));
      }
    }
    results.floorMs = median(floor);
    results.wharfMs = median(viaWharf);
    if (haveDockerd) results.dockerdMs = median(viaDockerd);
    if (havePodman) results.podmanMs = median(viaPodman);
    results.load1Latency = Number(loadavg()[0]!.toFixed(1));
    console.error(JSON.stringify(results));

    // Scale, on Wharf: 50 detached, then up to SCALE running.
    const startBatch = async (from: number, to: number, par: number) => {
      for (let i = from; i < to; i += par) {
        await Promise.all(
          Array.from({ length: Math.min(par, to - i) }, (_, k) =>
            run([DOCKER, 'run', '-d', '--name', `b${i + k}-${suffix}`, '--network', 'none', 'busybox', 'sleep', '3600'], { env: wharfEnv, timeoutMs: 120_000 }),
          ),
        );
      }
    };
    let t0 = process.hrtime.bigint();
    await startBatch(0, 50, 1);
    results.start50DetachedSeqS = since(t0) / 1000;
    t0 = process.hrtime.bigint();
    await startBatch(50, SCALE, 8);
    results[`start${SCALE - 50}Par8S`] = since(t0) / 1000;
    const psTimes: number[] = [];
    let listed = 0;
    for (let i = 0; i < 10; i++) {
      t0 = process.hrtime.bigint();
      const ps = await run([DOCKER, 'ps', '-q'], { env: wharfEnv });
      psTimes.push(since(t0));
      listed = ps.stdout.split('\n').filter(Boolean).length;
    }
    results.running = listed;
    results.psMs = median(psTimes);
    // The CLI's own cost: `docker version` against the same daemon.
    const verTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      t0 = process.hrtime.bigint();
      await run([DOCKER, 'version', '--format', '{{.Server.Version}}'], { env: wharfEnv });
      verTimes.push(since(t0));
    }
    results.cliFloorMs = median(verTimes);
    results.wharfRssMBRunning = rssKb(wharfPid) / 1024;
    const conmons = (await run(['pgrep', '-f', `conmon.*${dir}/wharf-exec`], { allowFailure: true })).stdout.split('\n').filter(Boolean).map(Number);
    const cRss = conmons.map(rssKb);
    const cPss = conmons.map(pssKb);
    results.conmonCount = conmons.length;
    results.conmonRssMB = median(cRss) / 1024;
    results.conmonPssMB = median(cPss) / 1024;
    results.daemonPerContainerKB = ((results.wharfRssMBRunning as number) - (results.wharfIdleRssMB as number)) * 1024 / Math.max(1, listed);
    results.load1End = Number(loadavg()[0]!.toFixed(1));
    console.log(JSON.stringify(results, null, 1));
    const f = (x: unknown) => (typeof x === 'number' ? x.toFixed(1) : String(x));
    const ratio = (peer: unknown) => (typeof peer === 'number' ? `${(peer / (results.wharfMs as number)).toFixed(1)}×` : 'n/a');
    console.log(
      `| ${new Date().toISOString().slice(0, 10)} | 2 cores, Debian 12, kernel 6.18 (load ${results.load1Start}→${results.load1End}) | \`npx tsx bench/run-latency.ts ${N}\` | ` +
        `median of ${N}, interleaved: runc run \`true\` ${f(results.floorMs)} ms; \`docker run --rm --network none busybox true\` via Wharf ${f(results.wharfMs)} ms, via dockerd 20.10 ${f(results.dockerdMs)} ms, podman 4.3 ${f(results.podmanMs)} ms; ` +
        `50 detached (sequential CLI) ${f(results.start50DetachedSeqS)} s; ${listed} running: \`docker ps\` ${f(results.psMs)} ms (CLI floor \`docker version\` ${f(results.cliFloorMs)} ms); ` +
        `daemon RSS idle ${f(results.wharfIdleRssMB)} MB, with ${listed} running ${f(results.wharfRssMBRunning)} MB (${f(results.daemonPerContainerKB)} KB per container); conmon RSS ${f(results.conmonRssMB)} MB, PSS ${f(results.conmonPssMB)} MB per container | ` +
        `Wharf/floor ${((results.wharfMs as number) / (results.floorMs as number)).toFixed(2)}×; dockerd/Wharf ${ratio(results.dockerdMs)}, podman/Wharf ${ratio(results.podmanMs)} (goal ≤ 90 ms and ≥ 3×) |`,
    );
  } finally {
    // Everything this run made: Wharf containers, peers' containers, daemons, cgroups, files.
    if (wharfPid) {
      const ps = await run([DOCKER, 'ps', '-aq'], { env: wharfEnv, allowFailure: true });
      const ids = ps.stdout.split('\n').filter(Boolean);
      for (let i = 0; i < ids.length; i += 50) await run([DOCKER, 'rm', '-f', ...ids.slice(i, i + 50)], { env: wharfEnv, allowFailure: true, timeoutMs: 300_000 });
    }
    if (havePodman) await run(['podman', ...podmanArgs, 'rm', '-af'], { allowFailure: true, timeoutMs: 120_000 });
    if (haveDockerd && existsSync(dockerdSock)) {
      const ps = await run([DOCKER, 'ps', '-aq'], { env: dockerdEnv, allowFailure: true });
      for (const id of ps.stdout.split('\n').filter(Boolean)) await run([DOCKER, 'rm', '-f', id], { env: dockerdEnv, allowFailure: true });
    }
    for (const { p, what } of procs.reverse()) await stopProc(p, what);
    if (havePodman) await run(['podman', ...podmanArgs, 'system', 'reset', '-f'], { allowFailure: true, timeoutMs: 120_000 });
    await removeCgroupTree(cgroupParent);
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes(dir)).map((l) => l.split(' ')[1]!);
    for (const m of mounts.reverse()) await run(['umount', '-l', m], { allowFailure: true });
    const left = (await run(['pgrep', '-f', dir], { allowFailure: true })).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await rm(dir, { recursive: true, force: true }).catch(async () => {
      await sleep(1000);
      await rm(dir, { recursive: true, force: true });
    });
  }
}

await main();
