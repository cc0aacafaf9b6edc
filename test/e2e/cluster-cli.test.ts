import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { WHARF_BIN as BIN, ensureBuilt, startServerProcess, stopProcess } from '../helpers/server-process.js';

// The built `wharf` program: `wharf server` as a process, and apply/get/describe/delete as a user runs them.

let dataRoot: string;
let server: ChildProcess | undefined;
let env: NodeJS.ProcessEnv;
const ns = `cli-${Math.random().toString(36).slice(2, 8)}`;

async function wharf(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('node', [BIN, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

beforeAll(async () => {
  await ensureBuilt();
  dataRoot = mkdtempSync('/var/tmp/wharf-test-cli-');
  // The API server alone: the CLI's output must not depend on controllers acting meanwhile.
  const s = await startServerProcess(dataRoot, ['--disable-scheduler', '--no-controllers']);
  server = s.proc;
  env = { ...process.env, WHARF_CONFIG: join(dataRoot, 'admin.yaml'), HOME: dataRoot };
});

afterAll(async () => {
  await stopProcess(server);
  if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
});

const manifests = () => `
apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}, creationTimestamp: null}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.25", resources: {}}]
status: {}
---
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "${ns}", "labels": {"app": "web"}}, "data": {"mode": "fast"}}
`;

describe('wharf CLI against wharf server', () => {
  it('writes admin.token, admin.yaml and node-join.token at first start', () => {
    for (const f of ['admin.token', 'admin.yaml', 'node-join.token']) expect(existsSync(join(dataRoot, f)), f).toBe(true);
    expect(readFileSync(join(dataRoot, 'admin.yaml'), 'utf8')).toContain(readFileSync(join(dataRoot, 'admin.token'), 'utf8').trim());
  });

  it('apply creates, then reports unchanged/configured; --dry-run=server stores nothing', async () => {
    const file = join(dataRoot, 'app.yaml');
    writeFileSync(file, manifests());
    const dry = await wharf(['apply', '-f', file, '--dry-run=server']);
    expect(dry.stdout).toContain('namespace/' + ns + ' created (server dry run)');
    expect((await wharf(['get', 'ns', ns])).code).toBe(1);
    const first = await wharf(['apply', '-f', file]);
    expect(first.stderr).toBe('');
    expect(first.stdout.trim().split('\n')).toEqual([`namespace/${ns} created`, 'deployment.apps/web created', 'configmap/settings created']);
    const again = await wharf(['apply', '-f', '-'], manifests().replace('mode": "fast', 'mode": "slow'));
    expect(again.stdout.trim().split('\n')).toEqual([`namespace/${ns} unchanged`, 'deployment.apps/web unchanged', 'configmap/settings configured']);
  });

  it('takes the README form: wharf --config DATA_ROOT/admin.yaml apply -f FILE (no WHARF_CONFIG)', async () => {
    const file = join(dataRoot, 'readme-app.yaml');
    writeFileSync(file, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "readme", "namespace": "${ns}"}, "data": {"k": "v"}}`);
    const bare = { ...env };
    delete bare.WHARF_CONFIG;
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile('node', [BIN, ...args], { env: bare, timeout: 30_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
    const applied = await run(['--config', join(dataRoot, 'admin.yaml'), 'apply', '-f', file]);
    expect(applied.stderr).toBe('');
    expect(applied.stdout.trim()).toBe('configmap/readme created');
    const got = await run(['--config', join(dataRoot, 'admin.yaml'), 'get', 'cm', 'readme', '-n', ns, '-o', 'name']);
    expect(got.stdout.trim()).toBe('configmap/readme');
    const deleted = await run(['--config', join(dataRoot, 'admin.yaml'), 'delete', 'cm', 'readme', '-n', ns]);
    expect(deleted.code).toBe(0);
    const missing = await run(['--config', join(dataRoot, 'admin.yaml'), 'get', 'cm', 'readme', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found/i);
  });

  it('get prints tables, yaml/json/name/jsonpath, honours -l, -A and kind aliases', async () => {
    const t = await wharf(['get', 'deploy', '-n', ns]);
    expect(t.stdout).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+0\/2\s+0\s+0\s+\d+s\n$/);
    const y = await wharf(['get', 'cm', 'settings', '-n', ns, '-o', 'yaml']);
    expect(y.stdout).toContain('mode: slow');
    const j = JSON.parse((await wharf(['get', 'configmaps', '-n', ns, '-l', 'app=web', '-o', 'json'])).stdout);
    expect(j.kind).toBe('List');
    expect(j.items.map((x: any) => x.metadata.name)).toEqual(['settings']);
    expect((await wharf(['get', 'deployment.apps/web', '-n', ns, '-o', 'jsonpath={.spec.template.spec.containers[*].image}'])).stdout).toBe('nginx:1.25');
    const a = await wharf(['get', 'cm', '-A']);
    expect(a.stdout).toMatch(new RegExp(`NAMESPACE\\s+NAME\\s+DATA\\s+AGE[\\s\\S]*${ns}\\s+settings\\s+1`));
    const d = await wharf(['describe', 'deploy', 'web', '-n', ns]);
    expect(d.stdout).toMatch(/Name:\s+web/);
    expect(d.stdout).toContain('image: nginx:1.25');
  });

  it('get -w prints changes as they happen', async () => {
    const watcher = spawn('node', [BIN, 'get', 'cm', '-n', ns, '-w'], { env });
    let out = '';
    watcher.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      const until = async (re: RegExp) => {
        const end = Date.now() + 15_000;
        while (!re.test(out)) {
          if (Date.now() > end) throw new Error(`no ${re} in: ${out}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(/settings/);
      await wharf(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched', namespace: ns }, data: { a: '1', b: '2' } }));
      await until(/watched\s+2/);
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  it('bad manifests and unknown kinds fail with a clear error and store nothing', async () => {
    const bad = await wharf(['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error parsing <stdin>/);
    const kind = await wharf(['apply', '-f', '-'], 'apiVersion: v9\nkind: Frob\nmetadata: {name: x}\n');
    expect(kind.code).toBe(1);
    expect(kind.stderr).toContain('no matches for kind "Frob" in version "v9"');
    const inv = await wharf(['apply', '-f', '-', '-n', ns], 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_DNS}\n');
    expect(inv.code).toBe(1);
    expect(inv.stderr).toContain('Error from server (Invalid)');
    expect((await wharf(['get', 'cm', '-n', ns, '-o', 'name'])).stdout.trim().split('\n')).toEqual(['configmap/settings', 'configmap/watched']);
    const badTok = await wharf(['get', 'pods', '--token', 'wrong']);
    expect(badTok.stderr).toContain('Error from server (Unauthorized)');
  });

  it('delete by name, by file and by selector', async () => {
    const one = await wharf(['delete', 'cm', 'watched', '-n', ns]);
    expect(one.stdout).toBe('configmap "watched" deleted\n');
    const missing = await wharf(['delete', 'cm', 'watched', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Error from server (NotFound)');
    const file = join(dataRoot, 'app.yaml');
    const byFile = await wharf(['delete', '-f', file]);
    expect(byFile.stdout).toContain('deployment.apps "web" deleted');
    expect(byFile.stdout).toContain('configmap "settings" deleted');
  });

  it('wharf token create/revoke: a node token is refused outside its role, then revoked', async () => {
    const created = await wharf(['token', 'create', 'agent-e2e', '--role', 'node', '--data-root', dataRoot]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    await new Promise((r) => setTimeout(r, 600));
    const denied = await wharf(['get', 'deploy', '-n', ns, '--token', token]);
    expect(denied.stderr).toContain('Error from server (Forbidden)');
    const revoked = await wharf(['token', 'revoke', 'agent-e2e', '--data-root', dataRoot]);
    expect(revoked.stdout).toMatch(/^revoked [0-9a-f]{8} \(agent-e2e\)/);
  });
});
