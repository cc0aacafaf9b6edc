// Published-port throughput: 1 GB from the host through a container's published port
// (127.0.0.1:HOSTPORT → DNAT + masquerade) vs straight to the container's address, with busybox
// nc on both ends, against the built bin/wharf through the docker CLI. Median of 3 interleaved.
//   npx tsx bench/port-throughput.ts [--gigabytes 1] [--rounds 3]
// Goal (issue 4): published / direct ≥ 0.9.
import { createServer } from 'node:net';
import { run } from '../src/core/exec/run.js';
import { cleanupDaemonNetworking, startDaemon, type TestDaemon } from '../test/e2e/daemon-harness.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const GB = arg('gigabytes', 1);
const ROUNDS = arg('rounds', 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function send(d: TestDaemon, name: string, host: string, port: number): Promise<number> {
  const before = (await d.docker(['logs', name])).stdout.split('\n').filter(Boolean).length;
  // The sink counts bytes and exits at EOF; the container's log then holds the count.
  const mb = Math.round(GB * 1024);
  const t0 = performance.now();
  const r = await run(['bash', '-c', `dd if=/dev/zero bs=1M count=${mb} status=none | busybox nc ${host} ${port}`], { timeoutMs: 600_000, allowFailure: true });
  const secs = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`send to ${host}:${port}: ${r.stderr}`);
  // Only a transfer the sink counted in full counts.
  const end = Date.now() + 30_000;
  let lines: string[] = [];
  while ((lines = (await d.docker(['logs', name])).stdout.split('\n').filter(Boolean)).length <= before) {
    if (Date.now() > end) throw new Error('the sink never reported a count');
    await new Promise((res) => setTimeout(res, 100));
  }
  const got = Number(lines[lines.length - 1]);
  if (got !== mb * 1024 * 1024) throw new Error(`the sink got ${got} bytes of ${mb * 1024 * 1024}`);
  return mb / secs;
}

async function main(): Promise<void> {
  const d = await startDaemon();
  const name = `sink-${process.pid}`;
  try {
    const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 120_000 });
    if (b.code !== 0) throw new Error(`bootstrap: ${b.stderr}`);
    const hostPort = await freePort();
    // A sink that accepts one connection after another and logs the byte count (its stdin is held
    // open by a fifo a sleep writes to: busybox nc quits when its stdin ends).
    const r = await d.docker(['run', '-d', '--name', name, '-p', `127.0.0.1:${hostPort}:9000`, 'busybox', 'sh', '-c', 'mkfifo /f; sleep 1000000 > /f & exec 3< /f; while true; do nc -l -p 9000 <&3 | wc -c; done']);
    if (r.code !== 0) throw new Error(`sink: ${r.stderr}`);
    const ip = (await d.docker(['inspect', '--format', '{{.NetworkSettings.IPAddress}}', name])).stdout.trim();
    await new Promise((res) => setTimeout(res, 500));
    const direct: number[] = [];
    const published: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      direct.push(await send(d, name, ip, 9000));
      await new Promise((res) => setTimeout(res, 200));
      published.push(await send(d, name, '127.0.0.1', hostPort));
      await new Promise((res) => setTimeout(res, 200));
    }
    const load = (await run(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    console.log(`${GB} GB through busybox nc, median of ${ROUNDS} interleaved (load ${load}):`);
    console.log(`  direct to ${ip}:9000:            ${median(direct).toFixed(0)} MiB/s`);
    console.log(`  published 127.0.0.1:${hostPort}: ${median(published).toFixed(0)} MiB/s`);
    console.log(`  ratio published/direct = ${(median(published) / median(direct)).toFixed(2)} (goal ≥ 0.9)`);
  } finally {
    await d.docker(['rm', '-f', name]);
    await d.stop();
    await cleanupDaemonNetworking(d.bridge);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
