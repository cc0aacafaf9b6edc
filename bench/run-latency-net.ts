// Networking's cost on a container start, in one run: Wharf's `docker run --rm busybox true`
// on the default bridge vs `--network none`, interleaved, through the real docker CLI against
// the built bin/wharf (own data root, bridge and subnet; everything removed at the end).
//   npx tsx bench/run-latency-net.ts [--iterations 20]
// Goal (issue 4): the bridge adds ≤ 15 ms median to a start (warm netns pool).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/core/exec/run.js';
import { cleanupDaemonNetworking, startDaemon } from '../test/e2e/daemon-harness.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('iterations', 20);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const scratch = mkdtempSync('/var/tmp/wharf-bench-rln-');
  const d = await startDaemon(['--netns-pool', '4']);
  try {
    const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 120_000 });
    if (b.code !== 0) throw new Error(`bootstrap: ${b.stderr}`);
    const timeRun = async (extra: string[]): Promise<number> => {
      const t0 = performance.now();
      const r = await d.docker(['run', '--rm', ...extra, 'busybox', 'true'], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`docker run ${extra.join(' ')}: ${r.stderr}`);
      return performance.now() - t0;
    };
    await timeRun([]);
    await timeRun(['--network', 'none']);
    const bridge: number[] = [];
    const none: number[] = [];
    for (let i = 0; i < N; i++) {
      bridge.push(await timeRun([]));
      none.push(await timeRun(['--network', 'none']));
    }
    const load = (await run(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    console.log(`docker run --rm busybox true, median of ${N} interleaved (load ${load}):`);
    console.log(`  bridge (default network, warm pool): ${median(bridge).toFixed(0)} ms`);
    console.log(`  --network none:                      ${median(none).toFixed(0)} ms`);
    console.log(`  added by networking: ${(median(bridge) - median(none)).toFixed(0)} ms (goal ≤ 15 ms)`);
  } finally {
    await d.stop();
    await cleanupDaemonNetworking(d.bridge);
    rmSync(join(scratch), { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
