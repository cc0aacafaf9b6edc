// Benchmark: push and pull a ≥200 MB, 4-layer gzip image between Wharf and a registry on loopback,
// side by side with `skopeo copy` between the same endpoints, for Wharf's registry (`wharf registry`)
// and Debian's docker-registry.
//   pull: Wharf daemon POST /images/create (download + verify + unpack)  vs  skopeo copy docker:// → oci: (download only)
//   push: Wharf daemon POST /images/{name}/push                          vs  skopeo copy oci: → docker://
// The image is built offline from Debian files (like bench/image-load.ts). Rounds are interleaved;
// medians reported. Run: npm run build && npx tsx bench/registry.ts [rounds]   (as root)
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { run } from '../src/core/exec/run.js';
import { freePort, startReferenceRegistry } from '../test/integration/registry-harness.js';

const ROUNDS = Number(process.argv[2] ?? 2);
const DIRS = ['usr/share/doc', 'usr/share/locale', 'usr/share/i18n', 'usr/share/perl'];
const repo = new URL('..', import.meta.url).pathname;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** An OCI layout with 4 gzip layers of Debian files. */
async function buildLayout(work: string): Promise<{ layout: string; tarBytes: number; gzBytes: number }> {
  const layout = join(work, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layers: { digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  let tarBytes = 0;
  let gzBytes = 0;
  for (const [i, d] of DIRS.entries()) {
    const tar = join(work, `l${i}.tar`);
    await run(['tar', '--numeric-owner', '-cf', tar, '-C', '/', d], { timeoutMs: 300_000 });
    tarBytes += statSync(tar).size;
    diffIds.push(await sha256File(tar));
    await run(['gzip', '-1', tar], { timeoutMs: 300_000 });
    const gz = `${tar}.gz`;
    const digest = await sha256File(gz);
    const size = statSync(gz).size;
    gzBytes += size;
    await run(['mv', gz, join(blobs, digest.slice(7))]);
    layers.push({ digest, size });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2026-11-26T00:00:00Z',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: DIRS.map((d) => ({ created: '2026-11-26T00:00:00Z', created_by: `tar ${d}` })),
    }),
  );
  const cd = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  writeFileSync(join(blobs, cd.slice(7)), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l })),
    }),
  );
  const md = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  writeFileSync(join(blobs, md.slice(7)), manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }),
  );
  return { layout, tarBytes, gzBytes };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  await run(['sync']);
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function api(sock: string, method: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path, headers: { 'X-Registry-Auth': 'e30=' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        if ((res.statusCode ?? 500) >= 300 || body.includes('"errorDetail"')) reject(new Error(`${method} ${path}: ${res.statusCode} ${body.slice(-400)}`));
        else resolve(body);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready`);
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!existsSync(join(repo, 'dist/cmd/main.js'))) throw new Error('build first: npm run build');
  const work = mkdtempSync('/var/tmp/wharf-bench-registry-');
  const procs: ChildProcess[] = [];
  let ref: Awaited<ReturnType<typeof startReferenceRegistry>> | undefined;
  try {
    const { layout, tarBytes, gzBytes } = await buildLayout(work);
    console.log(`image: ${DIRS.length} layers, ${(tarBytes / 1e6).toFixed(0)} MB uncompressed, ${(gzBytes / 1e6).toFixed(0)} MB gzip`);
    const wport = await freePort();
    const wreg = spawn(process.execPath, [join(repo, 'dist/cmd/main.js'), 'registry', '--listen', `127.0.0.1:${wport}`, '--data-root', join(work, 'wreg')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, WHARF_LOG_LEVEL: 'warn' },
    });
    procs.push(wreg);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${wport}/v2/`)).ok, 30_000, 'wharf registry');
    ref = await startReferenceRegistry(join(work, 'ref'));
    const exec = join(work, 'exec');
    mkdirSync(exec);
    const sock = join(exec, 'wharf.sock');
    const daemon = spawn(process.execPath, [join(repo, 'dist/cmd/main.js'), 'daemon', '--data-root', join(work, 'data'), '--exec-root', exec, '-H', `unix://${sock}`, '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.push(daemon);
    await waitFor(async () => (await api(sock, 'GET', '/_ping')) === 'OK', 30_000, 'wharf daemon');
    const registries = [
      { name: 'wharf registry', host: `127.0.0.1:${wport}` },
      { name: 'docker-registry', host: `127.0.0.1:${ref.port}` },
    ];
    const results: Record<string, Record<string, number[]>> = {};
    for (const r of registries) {
      results[r.name] = { seed: [], skopeoPull: [], wharfPull: [], skopeoPush: [], wharfPush: [] };
      results[r.name]!.seed!.push(await timed(() => run(['skopeo', '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${r.host}/bench/img:1`], { timeoutMs: 600_000 }).then(() => undefined)));
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of registries) {
        const res = results[r.name]!;
        const out = join(work, `out-${round}`);
        res.skopeoPull!.push(await timed(() => run(['skopeo', '--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${r.host}/bench/img:1`, `oci:${out}:x`], { timeoutMs: 600_000 }).then(() => undefined)));
        rmSync(out, { recursive: true, force: true });
        res.wharfPull!.push(await timed(() => api(sock, 'POST', `/v1.47/images/create?fromImage=${encodeURIComponent(`${r.host}/bench/img`)}&tag=1`).then(() => undefined)));
        const pushName = `${r.host}/bench/w${round}`;
        await api(sock, 'POST', `/v1.47/images/${r.host}/bench/img:1/tag?repo=${encodeURIComponent(pushName)}&tag=1`);
        // Wharf knows the blobs are in bench/img there and would mount them: push to a fresh registry path is
        // still a mount, so time the push to the *other* registry's fresh repository instead (a real upload).
        const other = registries.find((x) => x !== r)!;
        const target = `${other.host}/bench/from-wharf-${round}`;
        await api(sock, 'POST', `/v1.47/images/${r.host}/bench/img:1/tag?repo=${encodeURIComponent(target)}&tag=1`);
        res.wharfPush!.push(await timed(() => api(sock, 'POST', `/v1.47/images/${target}/push?tag=1`).then(() => undefined)));
        res.skopeoPush!.push(await timed(() => run(['skopeo', '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${other.host}/bench/from-skopeo-${round}:1`], { timeoutMs: 600_000 }).then(() => undefined)));
        await api(sock, 'DELETE', `/v1.47/images/${encodeURIComponent(`${r.host}/bench/img:1`)}?force=1`).catch(() => undefined);
        await api(sock, 'DELETE', `/v1.47/images/${encodeURIComponent(`${pushName}:1`)}?force=1`).catch(() => undefined);
        await api(sock, 'DELETE', `/v1.47/images/${encodeURIComponent(`${target}:1`)}?force=1`).catch(() => undefined);
      }
    }
    const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const rows: string[] = [];
    for (const r of registries) {
      const x = results[r.name]!;
      const line = `${r.name}: pull — Wharf pull+unpack ${fmt(median(x.wharfPull!))} vs skopeo copy ${fmt(median(x.skopeoPull!))} (${(median(x.wharfPull!) / median(x.skopeoPull!)).toFixed(2)}×); push (to the other registry) — Wharf ${fmt(median(x.wharfPush!))} vs skopeo ${fmt(median(x.skopeoPush!))} (${(median(x.wharfPush!) / median(x.skopeoPush!)).toFixed(2)}×); skopeo seed push ${fmt(x.seed![0]!)}`;
      console.log(line);
      rows.push(line);
    }
    const wr = results['wharf registry']!;
    const rr = results['docker-registry']!;
    const thr = `registry serving (same skopeo pull): wharf registry ${fmt(median(wr.skopeoPull!))} vs docker-registry ${fmt(median(rr.skopeoPull!))} (${(median(rr.skopeoPull!) / median(wr.skopeoPull!)).toFixed(2)}× the reference's throughput); seed push wharf ${fmt(wr.seed![0]!)} vs docker-registry ${fmt(rr.seed![0]!)}`;
    console.log(thr);
    if (process.env.BENCH_APPEND === '1') {
      const load = (await run(['cat', '/proc/loadavg'])).stdout.split(' ')[0];
      appendFileSync(
        join(repo, 'bench/RESULTS.md'),
        `| ${new Date().toISOString().slice(0, 10)} | 2 cores, Debian 12, kernel 6.18 (load average ${load}) | \`npx tsx bench/registry.ts ${ROUNDS}\` (${(tarBytes / 1e6).toFixed(0)} MB image, ${DIRS.length} gzip layers, ${(gzBytes / 1e6).toFixed(0)} MB compressed; medians of ${ROUNDS}) | ${rows.join('; ')} | ${thr} |\n`,
      );
    }
  } finally {
    for (const p of procs) await stop(p);
    await ref?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
