import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { hashPassword, parseUsersFile } from '../../src/registry/server/auth.js';
import { RegistryServer } from '../../src/registry/server/server.js';
import { freePort, skopeo, startReferenceRegistry, testImage, writeOciLayout, type ReferenceRegistry } from '../integration/registry-harness.js';
import { WHARF_BIN, buildBusyboxArchive, exitOf, startDaemon, waitFor, type TestDaemon } from './daemon-harness.js';

// The real docker CLI 28 pushing to and pulling from registries on loopback through `wharf daemon`:
// Wharf's own registry, Debian's docker-registry, one with token auth (docker login), a multi-arch
// index, and an HTTPS registry (`wharf registry --tls-cert`) trusted through certs.d/<host>/ca.crt.

const suffix = Math.random().toString(36).slice(2, 8);
const LOCAL = `e2e/regbox${suffix}:v1`;
let d: TestDaemon;
let work: string;
let wharfReg: RegistryServer;
let wharfHost: string;
let authReg: RegistryServer;
let authHost: string;
let ref: ReferenceRegistry;
let localId: string;

async function imageId(name: string): Promise<string> {
  const r = await d.docker(['image', 'inspect', '--format', '{{.Id}}', name]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

function ingestEmpty(): boolean {
  const dir = join(d.dataRoot, 'blobs', 'ingest');
  return readdirSync(dir).length === 0;
}

beforeAll(async () => {
  work = mkdtempSync('/var/tmp/wharf-test-e2e-registry-');
  const users = parseUsersFile(
    `users:\n  - name: alice\n    password: "${hashPassword('s3cret')}"\n    access: ["*: push"]\n`,
  );
  wharfReg = new RegistryServer({ dataRoot: join(work, 'wharf-reg'), logger: silentLogger() });
  authReg = new RegistryServer({ dataRoot: join(work, 'auth-reg'), logger: silentLogger(), auth: users });
  const [, a1, a2, r, built] = await Promise.all([
    startDaemon(['--config-dir', join(work, 'daemon-config')]).then((x) => (d = x)),
    wharfReg.listen('127.0.0.1', 0),
    authReg.listen('127.0.0.1', 0),
    startReferenceRegistry(join(work, 'ref')),
    buildBusyboxArchive(join(work, 'bb'), LOCAL),
  ]);
  wharfHost = `127.0.0.1:${a1.port}`;
  authHost = `127.0.0.1:${a2.port}`;
  ref = r;
  const l = await d.docker(['load', '-i', built.archive]);
  expect(l.code, l.stderr).toBe(0);
  localId = await imageId(LOCAL);
}, 120_000);

afterAll(async () => {
  await d?.stop();
  await wharfReg?.close();
  await authReg?.close();
  await ref?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function roundTrip(host: string): Promise<void> {
  const target = `${host}/e2e/box${suffix}:1`;
  expect((await d.docker(['tag', LOCAL, target])).code).toBe(0);
  const push = await d.docker(['push', target], { timeoutMs: 60_000 });
  expect(push.code, push.stderr).toBe(0);
  expect(push.stdout).toContain(`The push refers to repository [${host}/e2e/box${suffix}]`);
  expect(push.stdout).toMatch(/: Pushed$/m);
  expect(push.stdout).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
  // A second push skips the layers.
  const again = await d.docker(['push', target], { timeoutMs: 60_000 });
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toMatch(/: Layer already exists$/m);
  expect(again.stdout).not.toMatch(/: Pushed$/m);
  const rmi = await d.docker(['rmi', target]);
  expect(rmi.code, rmi.stderr).toBe(0);
  const pull = await d.docker(['pull', target], { timeoutMs: 60_000 });
  expect(pull.code, pull.stderr).toBe(0);
  expect(pull.stdout).toContain(`1: Pulling from e2e/box${suffix}`);
  expect(pull.stdout).toMatch(/^Digest: sha256:[0-9a-f]{64}$/m);
  // LOCAL still holds the image: only the manifest is checked, no layer moves, the tag comes back.
  expect(pull.stdout).toContain(`Status: Downloaded newer image for ${target}`);
  expect(pull.stdout).not.toContain('Pull complete');
  expect(await imageId(target)).toBe(localId);
  const same = await d.docker(['pull', target], { timeoutMs: 60_000 });
  expect(same.stdout).toContain(`Status: Image is up to date for ${target}`);
  const r = await d.docker(['run', '--rm', target, 'sh', '-c', `echo pulled-from-${host}`], { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim()).toBe(`pulled-from-${host}`);
}

describe('docker push / pull through wharf daemon', () => {
  it("pushes to Wharf's registry and pulls back the same image, which runs", async () => roundTrip(wharfHost), 120_000);

  it("pushes to Debian's docker-registry and pulls back the same image", async () => roundTrip(`127.0.0.1:${ref.port}`), 120_000);

  it('a removed image is pulled with progress, and `docker run` of a missing image pulls it', async () => {
    const target = `${wharfHost}/e2e/fresh${suffix}:2`;
    expect((await d.docker(['tag', LOCAL, target])).code).toBe(0);
    expect((await d.docker(['push', target], { timeoutMs: 60_000 })).code).toBe(0);
    // Remove every name of the image so the pull really downloads.
    const names = (await d.docker(['image', 'inspect', '--format', '{{join .RepoTags " "}}', localId])).stdout.trim().split(' ');
    expect((await d.docker(['rmi', ...names])).code).toBe(0);
    expect((await d.docker(['images', '-q'])).stdout.trim()).toBe('');
    const pull = await d.docker(['pull', target], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toMatch(/^[0-9a-f]{12}: Pull complete$/m);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${target}`);
    expect(await imageId(target)).toBe(localId);
    expect(ingestEmpty()).toBe(true);
    // docker run of an image that is not here: create 404 → POST /images/create → create again.
    expect((await d.docker(['rmi', target])).code).toBe(0);
    const r = await d.docker(['run', '--rm', target, 'sh', '-c', 'echo auto-pulled'], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('auto-pulled');
    expect(r.stderr).toContain(`Unable to find image '${target}' locally`);
    expect(await imageId(target)).toBe(localId);
    expect((await d.docker(['tag', target, LOCAL])).code).toBe(0);
  }, 180_000);

  it('a missing tag is a clear error and stores nothing', async () => {
    const before = (await d.docker(['images', '-q'])).stdout;
    const r = await d.docker(['pull', `${wharfHost}/e2e/nothere${suffix}:x`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not found');
    expect((await d.docker(['images', '-q'])).stdout).toBe(before);
  });

  it('a multi-arch index selects linux/amd64', async () => {
    const amd = await testImage(`multi${suffix}`, 'amd64');
    const arm = await testImage(`multi${suffix}`, 'arm64');
    const layout = join(work, 'multi');
    writeOciLayout(
      layout,
      [
        { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      ],
      { tag: 'multi' },
    );
    const target = `${wharfHost}/e2e/multi${suffix}:1`;
    await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${target}`]);
    const pull = await d.docker(['pull', target], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
    const ins = await d.docker(['image', 'inspect', '--format', '{{.Id}} {{.Architecture}}', target]);
    expect(ins.stdout.trim()).toBe(`${amd.configDigest} amd64`);
  }, 60_000);

  it('auth: push is denied without login, a bad login fails, a good one lets the push through', async () => {
    const target = `${authHost}/team/app${suffix}:1`;
    expect((await d.docker(['tag', LOCAL, target])).code).toBe(0);
    const denied = await d.docker(['push', target], { timeoutMs: 60_000 });
    expect(denied.code).toBe(1);
    expect(denied.stderr + denied.stdout).toMatch(/unauthorized|denied|authentication required/i);
    const bad = await d.docker(['login', '-u', 'alice', '--password-stdin', authHost], { input: 'wrong\n' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unauthorized|denied|invalid/i);
    const good = await d.docker(['login', '-u', 'alice', '--password-stdin', authHost], { input: 's3cret\n' });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('Login Succeeded');
    const push = await d.docker(['push', target], { timeoutMs: 60_000 });
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^1: digest: sha256:[0-9a-f]{64}/m);
    // Pull back with the stored credentials.
    expect((await d.docker(['rmi', target])).code).toBe(0);
    const pull = await d.docker(['pull', target], { timeoutMs: 60_000 });
    expect(pull.code, pull.stderr).toBe(0);
    expect(await imageId(target)).toBe(localId);
  }, 120_000);

  it('HTTPS: `wharf registry --tls-cert` trusted through certs.d/<host>/ca.crt', async () => {
    const tls = join(work, 'tls');
    mkdirSync(tls, { recursive: true });
    const o = (args: string[]) => run(['openssl', ...args], { timeoutMs: 30_000 });
    await o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=wharf-test-ca', '-keyout', join(tls, 'ca.key'), '-out', join(tls, 'ca.crt')]);
    await o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', join(tls, 'srv.key'), '-out', join(tls, 'srv.csr')]);
    writeFileSync(join(tls, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    await o(['x509', '-req', '-in', join(tls, 'srv.csr'), '-CA', join(tls, 'ca.crt'), '-CAkey', join(tls, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', join(tls, 'ext.cnf'), '-out', join(tls, 'srv.crt')]);
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const proc: ChildProcess = spawnProcess(
      ['node', WHARF_BIN, 'registry', '--listen', host, '--data-root', join(work, 'tls-reg'), '--tls-cert', join(tls, 'srv.crt'), '--tls-key', join(tls, 'srv.key')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr!.resume();
    try {
      await waitFor(() => out.includes('listening on') || proc.exitCode !== null, 30_000, 'wharf registry (https)');
      expect(out).toContain('(https)');
      // The daemon runs with --config-dir WORK/daemon-config (default /etc/wharf), like Docker's /etc/docker/certs.d.
      const certs = join(work, 'daemon-config', 'certs.d', host);
      mkdirSync(certs, { recursive: true });
      copyFileSync(join(tls, 'ca.crt'), join(certs, 'ca.crt'));
      const target = `${host}/secure/box${suffix}:1`;
      expect((await d.docker(['tag', LOCAL, target])).code).toBe(0);
      const push = await d.docker(['push', target], { timeoutMs: 60_000 });
      expect(push.code, push.stderr).toBe(0);
      // skopeo verifies the chain with the same CA: the registry really speaks TLS with that cert.
      const insp = await skopeo(['inspect', '--raw', '--cert-dir', certs, `docker://${target}`]);
      expect(JSON.parse(insp.stdout)).toHaveProperty('layers');
      expect((await d.docker(['rmi', target])).code).toBe(0);
      const pull = await d.docker(['pull', target], { timeoutMs: 60_000 });
      expect(pull.code, pull.stderr).toBe(0);
      expect(await imageId(target)).toBe(localId);
    } finally {
      proc.kill('SIGTERM');
      await exitOf(proc, 10_000).catch(() => proc.kill('SIGKILL'));
    }
  }, 120_000);

  it('wharf login / push / pull / logout (plain progress lines off a terminal, credentials in WHARF_CONFIG)', async () => {
    const env = { ...process.env, DOCKER_HOST: d.host, WHARF_CONFIG: join(work, 'wharf-config'), DOCKER_CONFIG: join(work, 'empty-docker-config') };
    const wharf = (args: string[], input?: string) =>
      run(['node', WHARF_BIN, ...args], { env, allowFailure: true, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
    const target = `${authHost}/team/cli${suffix}:7`;
    expect((await d.docker(['tag', LOCAL, target])).code).toBe(0);
    const denied = await wharf(['push', target]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/unauthorized|authentication required/i);
    const bad = await wharf(['login', '-u', 'alice', '--password-stdin', authHost], 'nope\n');
    expect(bad.code).toBe(1);
    const login = await wharf(['login', '-u', 'alice', '--password-stdin', authHost], 's3cret\n');
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');
    const saved = JSON.parse(readFileSync(join(work, 'wharf-config', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(saved.auths[authHost]!.auth, 'base64').toString()).toBe('alice:s3cret');
    const push = await wharf(['push', target]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stdout).toMatch(/^7: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    expect((await d.docker(['rmi', target])).code).toBe(0);
    const pull = await wharf(['pull', target]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${target}`);
    expect(await imageId(target)).toBe(localId);
    const out = await wharf(['logout', authHost]);
    expect(out.stdout).toContain(`Removing login credentials for ${authHost}`);
    expect((await wharf(['pull', target])).code).toBe(1);
  }, 120_000);
});
