// Benchmark: load + unpack a ≥200 MB, 4-layer docker-archive built offline from Debian files.
//   (a) Wharf through the Docker API (POST /images/load on a real `wharf daemon`), and through the library;
//   (b) the peers: `skopeo copy docker-archive:X oci:DIR` + `umoci raw unpack`.
// Interleaved rounds, fresh data roots each time, `sync` before each timed run; medians reported.
// Run: npx tsx bench/image-load.ts [rounds]   (as root; needs skopeo, umoci; the built dist/ for the daemon)
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { run } from '../src/core/exec/run.js';
import { silentLogger } from '../src/core/log.js';
import { EngineDb } from '../src/engine/db.js';
import { ImageService } from '../src/engine/images/image-service.js';

const ROUNDS = Number(process.argv[2] ?? 3);
const DIRS = ['usr/share/doc', 'usr/share/locale', 'usr/share/i18n', 'usr/share/perl'];
const repo = new URL('..', import.meta.url).pathname;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function buildArchive(work: string): Promise<{ file: string; bytes: number }> {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  const layers: string[] = [];
  const diffIds: string[] = [];
  for (const [i, d] of DIRS.entries()) {
    const name = `l${i}/layer.tar`;
    mkdirSync(join(stage, `l${i}`));
    await run(['tar', '--numeric-owner', '-cf', join(stage, name), '-C', '/', d], { timeoutMs: 300_000 });
    layers.push(name);
    diffIds.push(await sha256File(join(stage, name)));
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '2026-11-26T00:00:00Z',
    config: { Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: DIRS.map((d) => ({ created: '2026-11-26T00:00:00Z', created_by: `tar ${d}` })),
  });
  writeFileSync(join(stage, 'config.json'), config);
  writeFileSync(join(stage, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['bench/debian-files:latest'], Layers: layers }]));
  const file = join(work, 'archive.tar');
  await run(['tar', '-cf', file, '-C', stage, 'manifest.json', 'config.json', ...layers], { timeoutMs: 300_000 });
  rmSync(stage, { recursive: true, force: true });
  return { file, bytes: statSync(file).size };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  await run(['sync']);
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function wharfLibrary(archive: string, work: string): Promise<number> {
  const root = join(work, 'lib-root');
  const db = EngineDb.open({ dataRoot: root });
  const svc = new ImageService({ dataRoot: root, db, logger: silentLogger() });
  try {
    return await timed(async () => {
      await svc.load(createReadStream(archive, { highWaterMark: 1 << 20 }));
    });
  } finally {
    db.close();
    rmSync(root, { recursive: true, force: true });
  }
}

async function waitForSocket(sock: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const r = request({ socketPath: sock, path: '/_ping' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      r.on('error', () => resolve(false));
      r.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon socket ${sock} not ready`);
}

async function wharfApi(archive: string, work: string): Promise<number> {
  const root = join(work, 'api-root');
  const exec = join(work, 'api-exec');
  const sock = join(exec, 'wharf.sock');
  mkdirSync(exec, { recursive: true });
  const daemon = spawn(process.execPath, [join(repo, 'dist/cmd/main.js'), 'daemon', '--data-root', root, '--exec-root', exec, '-H', `unix://${sock}`, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForSocket(sock, 30_000);
    return await timed(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request(
            { socketPath: sock, method: 'POST', path: '/v1.47/images/load?quiet=1', headers: { 'Content-Type': 'application/x-tar' } },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                const body = Buffer.concat(chunks).toString();
                if (res.statusCode !== 200 || !body.includes('Loaded image')) reject(new Error(`load: ${res.statusCode} ${body}`));
                else resolve();
              });
            },
          );
          req.on('error', reject);
          createReadStream(archive, { highWaterMark: 1 << 20 }).pipe(req);
        }),
    );
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    rmSync(root, { recursive: true, force: true });
    rmSync(exec, { recursive: true, force: true });
  }
}

async function peers(archive: string, work: string): Promise<number> {
  const oci = join(work, 'oci');
  const rootfs = join(work, 'bundle');
  try {
    return await timed(async () => {
      await run(['skopeo', 'copy', '--quiet', `docker-archive:${archive}`, `oci:${oci}:bench`], { timeoutMs: 600_000 });
      await run(['umoci', 'raw', 'unpack', '--image', `${oci}:bench`, rootfs], { timeoutMs: 600_000 });
    });
  } finally {
    rmSync(oci, { recursive: true, force: true });
    rmSync(rootfs, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!existsSync(join(repo, 'dist/cmd/main.js'))) throw new Error('build first: npm run build');
  const work = mkdtempSync('/var/tmp/wharf-bench-image-load-');
  try {
    const { file, bytes } = await buildArchive(work);
    console.log(`archive: ${(bytes / 1e6).toFixed(0)} MB, ${DIRS.length} layers (${DIRS.join(', ')})`);
    const api: number[] = [];
    const lib: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      peer.push(await peers(file, work));
      api.push(await wharfApi(file, work));
      lib.push(await wharfLibrary(file, work));
      console.log(`round ${i + 1}: peers ${peer.at(-1)!.toFixed(0)} ms, wharf API ${api.at(-1)!.toFixed(0)} ms, wharf library ${lib.at(-1)!.toFixed(0)} ms`);
    }
    const p = median(peer);
    const a = median(api);
    const l = median(lib);
    const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    const line = `| ${new Date().toISOString().slice(0, 10)} | 2 cores, Debian 12, kernel ${kernel} (load average ${load}) | \`npx tsx bench/image-load.ts ${ROUNDS}\` (${(bytes / 1e6).toFixed(0)} MB docker-archive, ${DIRS.length} layers, medians of ${ROUNDS} interleaved rounds) | Wharf POST /images/load on a real daemon: ${(a / 1000).toFixed(1)} s; Wharf library: ${(l / 1000).toFixed(1)} s; skopeo copy + umoci raw unpack: ${(p / 1000).toFixed(1)} s | API ${(a / p).toFixed(2)}×, library ${(l / p).toFixed(2)}× (goal ≤ 1.0×) |`;
    console.log(line);
    if (process.env.BENCH_RECORD) {
      const results = join(repo, 'bench/RESULTS.md');
      if (!existsSync(results)) writeFileSync(results, '# Benchmark results\n\n');
      appendFileSync(results, `${line}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
