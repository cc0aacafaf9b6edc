import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt, startServerProcess, stopProcess } from '../helpers/server-process.js';

// The real kubectl against `wharf server` with nothing but the admin.yaml the server writes
// (--kubeconfig, no other flag): the server is HTTPS with its own CA, so kubectl sends the token.

const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
const VERSIONS = ['1.27', '1.29', '1.30', '1.31', '1.33'];
const sfx = Math.random().toString(36).slice(2, 8);
let root: string;
let proc: ChildProcess | undefined;
let kubeconfig: string;

function kubectl(args: string[], version?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = version ? join(KUBECTL_DIR, `kubectl.${version}`) : 'kubectl';
  return new Promise((resolve) => {
    execFile(bin, ['--kubeconfig', kubeconfig, ...args], { timeout: 30_000, env: { ...process.env, HOME: root } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  await ensureBuilt();
  root = mkdtempSync('/var/tmp/wharf-test-kubectl-');
  const s = await startServerProcess(root, ['--disable-scheduler', '--no-controllers']);
  proc = s.proc;
  kubeconfig = s.configPath;
  expect(s.url).toMatch(/^https:\/\//);
}, 60_000);

afterAll(async () => {
  await stopProcess(proc);
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('kubectl with the kubeconfig of wharf server', () => {
  it('every kubectl version on the machine authenticates over HTTPS and lists namespaces', async () => {
    for (const v of [undefined, ...VERSIONS]) {
      const r = await kubectl(['get', 'namespaces', '-o', 'name'], v);
      expect(r.stderr, `kubectl ${v ?? '(default)'}`).toBe('');
      expect(r.stdout.trim().split('\n')).toEqual(expect.arrayContaining(['namespace/default', 'namespace/kube-system']));
    }
  });

  it('create, get -o jsonpath, apply --validate=false created/unchanged/configured, label, delete', async () => {
    const ns = `kc-${sfx}`;
    expect((await kubectl(['create', 'namespace', ns])).stdout).toBe(`namespace/${ns} created\n`);
    expect((await kubectl(['-n', ns, 'create', 'configmap', 'cm1', '--from-literal=a=b'])).stdout).toBe('configmap/cm1 created\n');
    expect((await kubectl(['-n', ns, 'get', 'configmap', 'cm1', '-o', 'jsonpath={.data.a}'])).stdout).toBe('b');
    const file = join(root, 'cm2.yaml');
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm2, namespace: ${ns}}\ndata: {x: "1"}\n`);
    expect((await kubectl(['apply', '--validate=false', '-f', file])).stdout).toBe('configmap/cm2 created\n');
    expect((await kubectl(['apply', '--validate=false', '-f', file])).stdout).toBe('configmap/cm2 unchanged\n');
    writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm2, namespace: ${ns}}\ndata: {x: "2"}\n`);
    expect((await kubectl(['apply', '--validate=false', '-f', file])).stdout).toBe('configmap/cm2 configured\n');
    expect((await kubectl(['-n', ns, 'get', 'cm', 'cm2', '-o', 'jsonpath={.data.x}'])).stdout).toBe('2');
    expect((await kubectl(['-n', ns, 'label', 'cm', 'cm2', 'tier=x'])).stdout).toBe('configmap/cm2 labeled\n');
    expect((await kubectl(['-n', ns, 'get', 'cm', '-l', 'tier=x', '-o', 'name'])).stdout).toBe('configmap/cm2\n');
    expect((await kubectl(['delete', '-f', file])).stdout).toBe('configmap "cm2" deleted\n');
    const missing = await kubectl(['-n', ns, 'get', 'cm', 'cm2']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('configmaps "cm2" not found');
    // --wait=false: with no controllers in this server the namespace stays Terminating.
    expect((await kubectl(['delete', 'namespace', ns, '--wait=false'])).stdout).toBe(`namespace "${ns}" deleted\n`);
  });

  it('a wrong token is refused with 401 (Unauthorized) and nothing is created', async () => {
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, readFileSync(kubeconfig, 'utf8').replace(/token: .*/, 'token: wrong'));
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile('kubectl', ['--kubeconfig', bad, 'create', 'configmap', `nope-${sfx}`], { timeout: 30_000, env: { ...process.env, HOME: root } }, (err, _o, stderr) =>
        resolve({ code: err ? 1 : 0, stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Unauthorized|must be logged in/);
    expect((await kubectl(['get', 'cm', `nope-${sfx}`])).code).toBe(1);
  });
});
