import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { MT } from '../../src/oci/manifest.js';
import { buildImage, sha256, type BuiltImage } from '../../src/engine/images/testing.js';

// Helpers for registry tests: images written as OCI layouts (skopeo's `oci:` transport), a free
// loopback port, Debian's docker-registry as the reference, and skopeo itself.

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function testImage(seed: string, arch = 'amd64', layerBytes = 4096): Promise<BuiltImage> {
  return buildImage({
    layers: [
      [{ path: 'etc/' }, { path: `etc/seed-${arch}`, data: `${seed} ${arch}\n` }],
      [{ path: 'data/' }, { path: 'data/blob', data: Buffer.alloc(layerBytes, seed) }],
    ],
    configOverrides: { architecture: arch },
  });
}

/** Writes images into an OCI layout dir; `index` adds a multi-arch index tagged `tag`. */
export function writeOciLayout(dir: string, images: { image: BuiltImage; tag?: string; platform?: { os: string; architecture: string } }[], index?: { tag: string }): { indexDigest?: string } {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => writeFileSync(join(dir, 'blobs', 'sha256', sha256(b).slice(7)), b);
  const top: unknown[] = [];
  const children: unknown[] = [];
  for (const { image, tag, platform } of images) {
    put(image.config);
    for (const l of image.layers) put(l.blob);
    put(image.manifest);
    const desc = { mediaType: MT.ociManifest, digest: image.manifestDigest, size: image.manifest.length };
    if (tag) top.push({ ...desc, annotations: { 'org.opencontainers.image.ref.name': tag } });
    children.push({ ...desc, ...(platform ? { platform } : {}) });
  }
  let indexDigest: string | undefined;
  if (index) {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: children }));
    put(body);
    indexDigest = sha256(body);
    top.push({ mediaType: MT.ociIndex, digest: indexDigest, size: body.length, annotations: { 'org.opencontainers.image.ref.name': index.tag } });
  }
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: top }));
  return indexDigest ? { indexDigest } : {};
}

export async function skopeo(args: string[], allowFailure = false) {
  return run(['skopeo', '--insecure-policy', ...args], { timeoutMs: 60_000, allowFailure });
}

export interface ReferenceRegistry {
  port: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Debian's docker-registry (distribution) on 127.0.0.1:<free port> with its own storage dir. */
export async function startReferenceRegistry(dir: string): Promise<ReferenceRegistry> {
  const port = await freePort();
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log: {level: error}',
      'storage:',
      `  filesystem: {rootdirectory: ${join(dir, 'storage')}}`,
      '  delete: {enabled: true}',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const proc = spawnProcess(['/usr/bin/docker-registry', 'serve', config], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill('SIGKILL');
      throw new Error('docker-registry did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    proc,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
