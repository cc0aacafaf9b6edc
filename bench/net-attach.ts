// Networking cost of a container start and published-port throughput, on real namespaces.
//   npx tsx bench/net-attach.ts [--iterations 20] [--gigabytes 1]
// 1. attach+detach of a fresh netns to a user network (no ports, and with one published port):
//    median of N, and processes spawned per attach. The netns itself is made outside the timing
//    (the runtime creates it anyway).
// 2. 1 GB through busybox nc: via the published port (127.0.0.1:HOSTPORT, DNAT + masquerade) vs
//    straight to the container address; ratio = published / direct (goal ≥ 0.9).
// Everything it creates carries a random suffix and is removed at the end, also on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { run, spawnProcess } from '../src/core/exec/run.js';
import { silentLogger } from '../src/core/log.js';
import { systemClock } from '../src/core/clock.js';
import { MemoryNetworkStore } from '../src/engine/networks/network-store.js';
import { NetworkManager } from '../src/engine/networks/network-manager.js';
import { NetnsPool } from '../src/engine/networks/netns-pool.js';
import { randomBytes } from 'node:crypto';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('iterations', 20);
const GB = arg('gigabytes', 1);
const sfx = randomBytes(3).toString('hex');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function freeSubnet(): Promise<string> {
  const routes = (await run(['ip', '-4', 'route', 'show', 'table', 'all'])).stdout;
  for (;;) {
    const s = `10.${230 + Math.floor(Math.random() * 20)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${s}.`)) return `${s}.0/24`;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync('/var/tmp/wharf-bench-net-');
  const subnet = await freeSubnet();
  const mgr = new NetworkManager({
    runner: run,
    logger: silentLogger(),
    clock: systemClock,
    store: new MemoryNetworkStore(),
    daemonName: `b${sfx}`,
    bridgeName: `whb${sfx}0`,
    bip: (await freeSubnet()).replace(/0\/24$/, '1/24'),
    vethPrefix: `wb${sfx.slice(0, 2)}`,
    ipForward: false,
    dnsUpstreams: [],
  });
  const spaces: string[] = [];
  const mkns = async (tag: string) => {
    const name = `whbns${sfx}${tag}`;
    await run(['ip', 'netns', 'add', name]);
    spaces.push(name);
    return name;
  };
  try {
    await mgr.restore(() => true);
    const net = await mgr.createNetwork({ name: `bench-${sfx}`, subnet, options: { 'com.docker.network.bridge.name': `whb${sfx}1` } });
    const results: Record<string, { attach: number[]; detach: number[]; spawns: number[] }> = {};
    for (const withPort of [false, true]) {
      const key = withPort ? 'one published port' : 'no ports';
      const r = (results[key] = { attach: [] as number[], detach: [] as number[], spawns: [] as number[] });
      for (let i = 0; i < N; i++) {
        const ns = await mkns(`${withPort ? 'p' : 'n'}${i}`);
        const before = mgr.ip.spawns + mgr.nft.spawns;
        const t0 = performance.now();
        await mgr.attach(`bench-${i}`, `/run/netns/${ns}`, {
          network: net.name,
          containerName: `b${i}`,
          ...(withPort ? { ports: [{ hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp' as const }] } : {}),
        });
        const t1 = performance.now();
        r.spawns.push(mgr.ip.spawns + mgr.nft.spawns - before);
        await mgr.detach(`bench-${i}`);
        r.detach.push(performance.now() - t1);
        r.attach.push(t1 - t0);
        await run(['ip', 'netns', 'del', ns]);
        spaces.pop();
      }
      console.log(
        `attach (${key}): median ${median(r.attach).toFixed(1)} ms, detach ${median(r.detach).toFixed(1)} ms, spawns/attach ${median(r.spawns)} (n=${N})`,
      );
    }

    // Warm pool: take a prepared netns (refill awaited between takes, so each take is warm).
    const pool = new NetnsPool({ manager: mgr, runner: run, logger: silentLogger(), size: 2, network: net.name, prefix: `whbns${sfx}w` });
    const takes: number[] = [];
    const takeSpawns: number[] = [];
    try {
      for (let i = 0; i < N; i++) {
        await pool.fill();
        const before = mgr.ip.spawns + mgr.nft.spawns;
        const t0 = performance.now();
        const t = await pool.take(`pool-bench-${i}`, { network: net.name, containerName: `p${i}` });
        takes.push(performance.now() - t0);
        takeSpawns.push(mgr.ip.spawns + mgr.nft.spawns - before);
        if (!t) throw new Error('pool was empty');
        await pool.release(`pool-bench-${i}`, t.netnsName);
      }
    } finally {
      await pool.drain();
    }
    console.log(`warm pool take (no ports): median ${median(takes).toFixed(2)} ms, spawns/take ${median(takeSpawns)} (n=${N})`);

    // Floor: the same two processes (host batch, nsenter batch) run straight, without the manager.
    const floor: number[] = [];
    for (let i = 0; i < N; i++) {
      const ns = await mkns(`f${i}`);
      const hostIf = `wbf${sfx}${i}`.slice(0, 15);
      const t0 = performance.now();
      await run(['ip', '-batch', '-'], {
        input: `link add ${hostIf} type veth peer name eth0 netns /run/netns/${ns}\nlink set dev ${hostIf} master ${net.bridge} up\n`,
      });
      await run(['nsenter', `--net=/run/netns/${ns}`, '--', 'ip', '-batch', '-'], {
        input: `addr add ${subnet.replace(/0\/24$/, '200/24')} dev eth0\nlink set dev eth0 up\nlink set dev lo up\nroute replace default via ${net.gateway}\n`,
      });
      floor.push(performance.now() - t0);
      await run(['ip', 'netns', 'del', ns]);
      spaces.pop();
    }
    console.log(`floor (the same 2 ip processes, no manager): median ${median(floor).toFixed(1)} ms`);
    const load = (await run(['cat', '/proc/loadavg'])).stdout.trim();
    console.log(`load average during the run: ${load}`);

    // Throughput: a sink in the netns, 1 GB from the host.
    const ns = await mkns('t');
    const ep = await mgr.attach('bench-tp', `/run/netns/${ns}`, { network: net.name, containerName: 'tp', ports: [{ hostIp: '', hostPort: 0, containerPort: 9000, proto: 'tcp' }] });
    const hostPort = ep.ports[0]!.hostPort;
    const send = async (host: string, port: number): Promise<number> => {
      // The sink counts what it received, so a failed transfer cannot pass for a fast one.
      const sink = spawnProcess(['ip', 'netns', 'exec', ns, 'bash', '-c', 'busybox nc -l -p 9000 | wc -c'], { stdio: ['pipe', 'pipe', 'ignore'] }); // stdin held open: busybox nc quits on stdin EOF
      let out = '';
      sink.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      const done = new Promise<void>((r) => sink.once('exit', () => r()));
      for (let i = 0; i < 100; i++) {
        const l = await run(['ip', 'netns', 'exec', ns, 'busybox', 'netstat', '-ltn'], { allowFailure: true });
        if (l.stdout.includes(':9000 ')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const bytes = Math.round(GB * 1024) * 1024 * 1024;
      const t0 = performance.now();
      await run(['bash', '-c', `dd if=/dev/zero bs=1M count=${Math.round(GB * 1024)} status=none | busybox nc ${host} ${port}`], { timeoutMs: 120_000 });
      await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
      const secs = (performance.now() - t0) / 1000;
      if (sink.exitCode === null) sink.kill('SIGKILL');
      if (Number(out.trim()) !== bytes) throw new Error(`sink received ${out.trim() || 'nothing'} of ${bytes} bytes via ${host}:${port}`);
      return bytes / 1024 / 1024 / secs; // MiB/s
    };
    const direct: number[] = [];
    const published: number[] = [];
    for (let i = 0; i < 3; i++) {
      direct.push(await send(ep.ip, 9000));
      published.push(await send('127.0.0.1', hostPort));
    }
    const d = median(direct);
    const p = median(published);
    console.log(`throughput ${GB} GB via nc: direct ${d.toFixed(0)} MiB/s, published 127.0.0.1:${hostPort} ${p.toFixed(0)} MiB/s, ratio ${(p / d).toFixed(2)} (median of 3, interleaved)`);
    await mgr.detach('bench-tp');
  } finally {
    await mgr.destroyAll().catch((e: unknown) => console.error('cleanup:', e));
    await mgr.close();
    for (const s of spaces) await run(['ip', 'netns', 'del', s], { allowFailure: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
