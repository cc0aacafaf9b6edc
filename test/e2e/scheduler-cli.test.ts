// The built program: `wharf server --tls` (which runs the scheduler inside it) and
// `wharf sim-nodes` as a separate client; the real Kubernetes client creates pods and reads
// where they went and why not.
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnProcess } from '../../src/core/exec/run.js';
import { WHARF_BIN, requireBuilt } from './daemon-harness.js';

let dir: string;
const procs: ChildProcess[] = [];
let core: CoreV1Api;

function start(args: string[]): { proc: ChildProcess; out: () => string; err: () => string } {
  const proc = spawnProcess([WHARF_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, out: () => out, err: () => err };
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(f)
      .catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  requireBuilt();
  dir = mkdtempSync('/var/tmp/wharf-test-e2e-sched-');
  const server = start(['server', '--data-root', dir, '--listen', '127.0.0.1:0']);
  const url = await waitFor('server URL', () => /listening on (https:\/\/[0-9.]+:\d+)/.exec(server.out())?.[1]);
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'admin.yaml'));
  core = kc.makeApiClient(CoreV1Api);
  const cluster = kc.getCurrentCluster()!;
  const caFile = join(dir, 'test-ca.pem');
  writeFileSync(caFile, Buffer.from(cluster.caData!, 'base64'));
  const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  start(['sim-nodes', '--count', '3', '--zones', '3', '--cpu', '2', '--memory', '4Gi', '--server', url, '--token', token, '--certificate-authority', caFile]);
  await waitFor('3 ready nodes', async () => (await core.listNode()).items.length === 3);
}, 90_000);

afterAll(async () => {
  for (const p of procs.reverse()) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pod = (name: string, spec: Partial<NonNullable<V1Pod['spec']>>, requests: Record<string, string>): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: { containers: [{ name: 'c', image: 'busybox:1.36', resources: { requests } }], ...spec },
});

describe('wharf server + wharf sim-nodes', () => {
  it('places pods on simulated nodes and explains the ones it cannot place', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('zoned', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-2' } }, { cpu: '500m' }) });
    await core.createNamespacedPod({ namespace: 'default', body: pod('huge', {}, { memory: '64Gi' }) });
    const zoned = await waitFor('zoned running', async () => {
      const p = await core.readNamespacedPod({ namespace: 'default', name: 'zoned' });
      return p.status?.phase === 'Running' ? p : undefined;
    });
    expect(zoned.spec?.nodeName).toBe('sim-node-2');
    const huge = await waitFor('huge unschedulable', async () => {
      const p = await core.readNamespacedPod({ namespace: 'default', name: 'huge' });
      return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? p : undefined;
    });
    const cond = huge.status!.conditions!.find((c) => c.type === 'PodScheduled')!;
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
    const events = await waitFor('FailedScheduling event', async () => {
      const l = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=huge' });
      return l.items.some((e) => e.reason === 'FailedScheduling') ? l : undefined;
    });
    expect(events.items.find((e) => e.reason === 'FailedScheduling')?.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
  });

  it('rejects bad sim-nodes flags with a clear error', async () => {
    const bad = start(['sim-nodes', '--count', '-1', '--server', 'http://127.0.0.1:1', '--token', 'x']);
    const code = await new Promise<number | null>((r) => bad.proc.once('exit', r));
    expect(code).not.toBe(0);
    expect(bad.err()).toMatch(/--count: a positive integer/);
  });
});
