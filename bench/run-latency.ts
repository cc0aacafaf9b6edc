// bench/run-latency (start): median of N interleaved runs of
//   (a) the floor: `runc run` of a busybox bundle running `true` (plain rootfs dir);
//   (b) Wharf's runtime driver: create (conmon → runc create) + start + wait + delete of the
//       same container on an overlay rootfs (mounted before the timed part; the mount and
//       unmount are timed separately as (c)).
// Usage: npx tsx bench/run-latency.ts [N=20]
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { run } from '../src/core/exec/run.js';
import { silentLogger } from '../src/core/log.js';
import { ConmonRuntime } from '../src/engine/runtime/conmon-runtime.js';
import { buildSpec, serializeSpec } from '../src/engine/runtime/spec.js';
import { makeBusyboxRootfs, PASSWD, GROUP } from '../test/integration/busybox-rootfs.js';
import { removeCgroupTree } from '../test/integration/runtime-harness.js';

const N = Number(process.argv[2] ?? 20);
const suffix = randomBytes(4).toString('hex');
const dir = `/var/tmp/wharf-bench-rl-${suffix}`;
const cgroupParent = `/wharf-bench-${suffix}`;
const lower = join(dir, 'rootfs');
const runcRoot = join(dir, 'runc');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function main(): Promise<void> {
  await mkdir(dir, { recursive: true });
  await makeBusyboxRootfs(lower);
  const rt = new ConmonRuntime({ root: join(dir, 'state'), runtimeRoot: runcRoot, logger: silentLogger() });
  const floor: number[] = [];
  const wharf: number[] = [];
  const mounts: number[] = [];
  try {
    for (let i = 0; i < N + 1; i++) {
      // (a) runc run
      const idA = `a${i}-${suffix}`;
      const bundle = join(dir, 'bundles', idA);
      await mkdir(bundle, { recursive: true });
      await writeFile(join(bundle, 'config.json'), serializeSpec(buildSpec({}, { cmd: ['true'] }, { rootfs: lower, cgroupsPath: `${cgroupParent}/${idA}`, passwd: PASSWD, group: GROUP })));
      let t0 = process.hrtime.bigint();
      await run(['runc', '--root', runcRoot, 'run', '--bundle', bundle, idA], { timeoutMs: 30_000 });
      if (i > 0) floor.push(ms(t0));
      await rm(bundle, { recursive: true, force: true });

      // (c) overlay mount, then (b) the driver on it
      const idB = `b${i}-${suffix}`;
      const ov = join(dir, 'ov', idB);
      for (const d of ['upper', 'work', 'merged']) await mkdir(join(ov, d), { recursive: true });
      t0 = process.hrtime.bigint();
      await run(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${ov}/upper,workdir=${ov}/work,index=off`, `${ov}/merged`]);
      const mountMs = ms(t0);
      const spec = buildSpec({}, { cmd: ['true'] }, { rootfs: `${ov}/merged`, cgroupsPath: `${cgroupParent}/${idB}`, passwd: PASSWD, group: GROUP });
      t0 = process.hrtime.bigint();
      await rt.create(idB, spec);
      await rt.start(idB);
      const exit = await rt.wait(idB, AbortSignal.timeout(10_000));
      await rt.delete(idB);
      if (i > 0) wharf.push(ms(t0));
      if (exit.exitCode !== 0) throw new Error(`exit ${exit.exitCode}`);
      t0 = process.hrtime.bigint();
      await run(['umount', `${ov}/merged`]);
      if (i > 0) mounts.push(mountMs + ms(t0));
      await rm(ov, { recursive: true, force: true });
    }
  } finally {
    rt.close();
    await removeCgroupTree(cgroupParent);
    await rm(dir, { recursive: true, force: true });
  }
  const a = median(floor);
  const b = median(wharf);
  const c = median(mounts);
  const load = loadavg()[0]!.toFixed(1);
  console.log(JSON.stringify({ n: N, runcRunMs: a, driverMs: b, overlayMountUmountMs: c, ratio: b / a, load1: Number(load) }));
  console.log(
    `| ${new Date().toISOString().slice(0, 10)} | run-latency (runtime driver) | 2 cores, Debian 12, kernel 6.18 (load ${load}) | ` +
      `runc run \`true\` ${a.toFixed(1)} ms; driver create+start+wait+delete ${b.toFixed(1)} ms (overlay rootfs; mount+umount ${c.toFixed(1)} ms extra) | ` +
      `driver/floor ${(b / a).toFixed(2)}× | median of ${N}, interleaved |`,
  );
}

await main();
