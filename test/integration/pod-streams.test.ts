import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { stringify as toYaml } from 'yaml';
import { createLogger, silentLogger } from '../../src/core/log.js';
import { run, spawnProcess } from '../../src/core/exec/run.js';
import { EngineDb } from '../../src/engine/db.js';
import { ImageService } from '../../src/engine/images/image-service.js';
import { OverlaySnapshotter } from '../../src/engine/snapshots/overlay-snapshotter.js';
import { ConmonRuntime } from '../../src/engine/runtime/conmon-runtime.js';
import { ContainerService } from '../../src/engine/containers/container-service.js';
import { ExecService } from '../../src/engine/containers/exec-service.js';
import { ContainerLogReader } from '../../src/engine/containers/container-logs.js';
import { ClusterClient } from '../../src/cluster/client/cluster-client.js';
import { loadClientConfig } from '../../src/cluster/client/config.js';
import { StreamingServer } from '../../src/cluster/agent/streaming/streaming-server.js';
import { ensureServingCert } from '../../src/cluster/agent/streaming/serving-cert.js';
import { STREAMING_CERT_ANNOTATION } from '../../src/cluster/apis/streaming.js';
import { EngineContainerStreams, POD_LABELS } from '../../src/cmd/engine-container-streams.js';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { removeCgroupTree, waitFor } from './runtime-harness.js';

// Pod logs, exec, attach, port-forward and cp through the real kubectl (every client version on
// the machine for exec and port-forward: SPDY for 1.27–1.29, WebSocket for 1.30+, SPDY inside
// WebSocket for port-forward from 1.31) → the API server (TLS, bearer token) → the node's
// streaming endpoint (its own HTTPS, client certificate, pinned serving certificate) → real
// containers (conmon + runc) started through the engine directly, labelled as the agent labels
// pod containers. The agent itself is not needed: the Node and Pod objects are written here.

const suffix = randomBytes(3).toString('hex');
const dataRoot = `/var/tmp/wharf-test-ps-${suffix}`;
const cgroupParent = `/wharf-test-ps-${suffix}`;
const NODE = `node-ps-${suffix}`;
const NS = 'default';
const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
const VERSIONS = ['1.27', '1.29', '1.30', '1.31', '1.33'];

let db: EngineDb;
let images: ImageService;
let ctrs: ContainerService;
let execs: ExecService;
let api: TestApiServer;
let client: ClusterClient;
let streaming: StreamingServer;
let tmp: string;
const pids: number[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function kubectl(args: string[], opts: { input?: string; version?: string; kubeconfig?: string; timeoutMs?: number; cwd?: string } = {}) {
  const bin = opts.version ? join(KUBECTL_DIR, `kubectl.${opts.version}`) : 'kubectl';
  return run([bin, '--kubeconfig', opts.kubeconfig ?? api.configPath, ...args], { allowFailure: true, timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
}

/** A pod container as the agent makes it: the pod's labels, attempt number, started. */
async function podContainer(pod: string, container: string, cmd: string[], opts: { attempt?: number; hostNet?: boolean; stdin?: boolean; tty?: boolean; wait?: boolean } = {}): Promise<string> {
  const { id } = await ctrs.create({
    name: `k8s_${container}_${pod}_${NS}_${opts.attempt ?? 0}_${suffix}`,
    image: 'busybox',
    options: { cmd, ...(opts.hostNet ? { namespaces: { net: { mode: 'host' } } } : {}), ...(opts.tty ? { tty: true } : {}) },
    ...(opts.stdin ? { openStdin: true } : {}),
    labels: { [POD_LABELS.podNamespace]: NS, [POD_LABELS.podName]: pod, [POD_LABELS.containerName]: container, [POD_LABELS.attempt]: String(opts.attempt ?? 0), [POD_LABELS.kind]: 'app' },
  });
  await ctrs.start(id);
  if (opts.wait) await ctrs.wait(id, 'not-running', AbortSignal.timeout(10_000));
  return id;
}

async function podObject(name: string, containers: { name: string; stdin?: boolean; tty?: boolean; image?: string }[], opts: { nodeName?: string; phase?: string } = {}): Promise<void> {
  const pods = client.resource('v1', 'Pod');
  await pods.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { ...(opts.nodeName !== '' ? { nodeName: opts.nodeName ?? NODE } : {}), containers: containers.map((c) => ({ image: 'busybox', ...c })) } } as never);
  await pods.patch(NS, name, { status: { phase: opts.phase ?? 'Running' } }, 'merge', { subresource: 'status' });
}

beforeAll(async () => {
  tmp = mkdtempSync('/var/tmp/wharf-test-ps-tmp-');
  db = EngineDb.open({ dataRoot });
  images = new ImageService({ dataRoot, db, logger: silentLogger() });
  const runtime = new ConmonRuntime({ root: join(dataRoot, 'runtime'), runtimeRoot: join(dataRoot, 'runc'), logger: silentLogger() });
  ctrs = new ContainerService({ dataRoot, db, images, snapshotter: new OverlaySnapshotter({ dataRoot, db, images }), runtime, logger: silentLogger(), cgroupParent });
  execs = new ExecService({ host: ctrs, logger: silentLogger(), removeSession: (cid, sid) => runtime.removeExec(cid, sid) });
  await images.bootstrapBusybox();
  api = await startTestApiServer();
  client = new ClusterClient(loadClientConfig({ config: api.configPath }));
  const cert = await ensureServingCert(join(tmp, 'streaming'), NODE);
  streaming = new StreamingServer({
    streams: new EngineContainerStreams({ containers: ctrs, execs, logs: new ContainerLogReader({ host: ctrs }), podIp: async () => undefined }),
    logger: process.env.WHARF_TEST_LOG ? createLogger({ level: process.env.WHARF_TEST_LOG }) : silentLogger(),
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    clientCaPem: api.clusterCaPem,
  });
  const port = await streaming.listen('127.0.0.1', 0);
  const nodes = client.resource('v1', 'Node');
  await nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE, annotations: { [STREAMING_CERT_ANNOTATION]: cert.fingerprint256 } } } as never);
  await nodes.patch(undefined, NODE, { status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: NODE }], daemonEndpoints: { kubeletEndpoint: { Port: port } } } }, 'merge', { subresource: 'status' });
}, 60_000);

afterAll(async () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await streaming?.close();
  for (const r of ctrs?.list({ all: true }) ?? []) await ctrs.remove(r.id, { force: true }).catch(() => undefined);
  ctrs?.close();
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(dataRoot));
  for (const line of mounts) await run(['umount', '-l', line.split(' ')[1]!], { allowFailure: true });
  db?.close();
  await removeCgroupTree(cgroupParent);
  await rm(dataRoot, { recursive: true, force: true });
  await client?.close();
  await api?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe('kubectl logs', () => {
  it('prints, tails, timestamps and limits a container log', async () => {
    await podContainer('logger', 'main', ['sh', '-c', 'echo one; sleep 0.1; echo two >&2; sleep 0.1; echo three'], { wait: true });
    await podObject('logger', [{ name: 'main' }]);
    const all = await kubectl(['logs', 'logger']);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe('one\ntwo\nthree\n');
    expect((await kubectl(['logs', 'logger', '--tail=1', '--timestamps'])).stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z three\n$/);
    expect((await kubectl(['logs', 'logger', '--limit-bytes=5'])).stdout).toBe('one\nt');
    expect((await kubectl(['logs', 'logger', '--since=1h'])).stdout).toBe('one\ntwo\nthree\n');
  });

  it('-f follows until the container exits', async () => {
    await podContainer('follower', 'main', ['sh', '-c', 'echo start; sleep 3; echo later']);
    await podObject('follower', [{ name: 'main', image: 'busybox' }, { name: 'side' }]);
    const child = spawnProcess(['kubectl', '--kubeconfig', api.configPath, 'logs', '-f', 'follower', '-c', 'main']);
    pids.push(child.pid!);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let done = false;
    void exited.then(() => (done = true));
    await waitFor(async () => out.includes('start'), 15_000, 'first line');
    expect(done).toBe(false);
    expect(await exited).toBe(0);
    expect(out).toBe('start\nlater\n');
  });

  it('--previous shows the attempt before the restart', async () => {
    await podContainer('restarter', 'app', ['sh', '-c', 'echo first run; exit 1'], { attempt: 0, wait: true });
    await podContainer('restarter', 'app', ['sh', '-c', 'echo second run; sleep 60'], { attempt: 1 });
    await podObject('restarter', [{ name: 'app' }]);
    await waitFor(async () => (await kubectl(['logs', 'restarter'])).stdout === 'second run\n', 10_000, 'second run log');
    const prev = await kubectl(['logs', 'restarter', '--previous']);
    expect(prev.stdout).toBe('first run\n');
    expect(prev.code).toBe(0);
  });
});

describe('kubectl exec', () => {
  beforeAll(async () => {
    await podContainer('shell', 'sh', ['sleep', '3600']);
    await podObject('shell', [{ name: 'sh' }]);
  });

  it.each(VERSIONS)('kubectl %s: stdout, stderr and the exit code of a command', async (version) => {
    const r = await kubectl(['exec', 'shell', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { version });
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.stderr).toContain('command terminated with exit code 3');
    expect(r.code).toBe(3);
    const ok = await kubectl(['exec', 'shell', '--', 'echo', 'ok'], { version });
    expect(ok.stdout).toBe('ok\n');
    expect(ok.code).toBe(0);
  });

  it('-i passes stdin through and closes it at EOF', async () => {
    const r = await kubectl(['exec', '-i', 'shell', '--', 'sh', '-c', 'wc -c; cat >/dev/null; echo done'], { input: 'hello world\n' });
    expect(r.stdout).toBe('12\ndone\n');
    expect(r.code).toBe(0);
  });

  it('-it under a real pty (script): a shell runs "echo hi; exit 7"', async () => {
    const cmd = `kubectl --kubeconfig ${api.configPath} exec -it shell -- sh`;
    const r = await run(['script', '-qec', cmd, '/dev/null'], { input: 'echo hi; exit 7\n', allowFailure: true, timeoutMs: 30_000 });
    expect(r.stdout).toMatch(/\bhi\r?\n/);
    expect(r.code).toBe(7);
  });

  it('-it passes the terminal size (the resize channel)', async () => {
    const cmd = `stty rows 33 cols 101; kubectl --kubeconfig ${api.configPath} exec -it shell -- sh -c "sleep 0.5; stty size"`;
    const r = await run(['script', '-qec', cmd, '/dev/null'], { input: '', allowFailure: true, timeoutMs: 30_000 });
    expect(r.stdout, JSON.stringify(r)).toContain('33 101');
    expect(r.code).toBe(0);
  });

  it('a command that does not exist exits 127 with the runtime message', async () => {
    const r = await kubectl(['exec', 'shell', '--', 'no-such-binary']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/no-such-binary/);
  });
});

describe('kubectl port-forward', () => {
  it.each(VERSIONS)('kubectl %s: curl through a forwarded port reaches busybox httpd', async (version) => {
    const podPort = await freePort();
    const pod = `web-${version.replace('.', '')}`;
    await podContainer(pod, 'httpd', ['sh', '-c', `mkdir -p /www && echo hello from ${pod} > /www/index.html && exec httpd -f -p 127.0.0.1:${podPort} -h /www`], { hostNet: true });
    await podObject(pod, [{ name: 'httpd' }]);
    await waitFor(async () => (await run(['curl', '-s', `http://127.0.0.1:${podPort}/`], { allowFailure: true })).stdout.includes('hello'), 10_000, 'httpd up');
    const local = await freePort();
    const child = spawnProcess([join(KUBECTL_DIR, `kubectl.${version}`), '--kubeconfig', api.configPath, 'port-forward', `pod/${pod}`, `${local}:${podPort}`]);
    pids.push(child.pid!);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await waitFor(async () => out.includes('Forwarding from'), 15_000, `port-forward ready (${out})`);
      for (let i = 0; i < 3; i++) {
        const r = await run(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${local}/`], { allowFailure: true });
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe(`hello from ${pod}\n`);
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('kubectl attach and cp', () => {
  it('attach -i: the main process reads what kubectl sends', async () => {
    await podContainer('reader', 'main', ['sh', '-c', 'while read l; do echo got:$l; done; echo bye'], { stdin: true });
    await podObject('reader', [{ name: 'main', stdin: true }]);
    const r = await kubectl(['attach', '-i', 'reader'], { input: 'hello\nworld\n' });
    expect(r.stdout).toContain('got:hello\ngot:world\n');
    expect(r.code).toBe(0);
  });

  it('attach -it: the shell of a TTY container under a real pty', async () => {
    await podContainer('ttyer', 'main', ['sh'], { stdin: true, tty: true });
    await podObject('ttyer', [{ name: 'main', stdin: true, tty: true }]);
    const cmd = `kubectl --kubeconfig ${api.configPath} attach -it ttyer`;
    const r = await run(['script', '-qec', cmd, '/dev/null'], { input: 'echo hi-$((6*7)); exit 0\n', allowFailure: true, timeoutMs: 30_000 });
    expect(r.stdout).toContain('hi-42');
    expect(r.code).toBe(0);
  });

  it('cp copies a file into the pod and back out (exec + tar both ways)', async () => {
    const src = join(tmp, 'upload.txt');
    const data = `${randomBytes(2048).toString('base64')}\n`;
    writeFileSync(src, data);
    const up = await kubectl(['cp', 'upload.txt', 'shell:/tmp/upload.txt'], { cwd: tmp });
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect((await kubectl(['exec', 'shell', '--', 'cat', '/tmp/upload.txt'])).stdout).toBe(data);
    const back = join(tmp, 'download.txt');
    const down = await kubectl(['cp', 'shell:/tmp/upload.txt', 'download.txt'], { cwd: tmp });
    expect(down.code).toBe(0);
    expect(readFileSync(back, 'utf8')).toBe(data);
  });
});

describe('bad input', () => {
  it('a pod on no node: 400 "does not have a host assigned"', async () => {
    await podObject('pending', [{ name: 'c' }], { nodeName: '', phase: 'Pending' });
    const l = await kubectl(['logs', 'pending']);
    expect(l.code).toBe(1);
    expect(l.stderr).toContain('pod pending does not have a host assigned');
    const e = await kubectl(['exec', 'pending', '--', 'true']);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('pod pending does not have a host assigned');
  });

  it('a container that is not running: "container not found"', async () => {
    await podObject('ghost', [{ name: 'c' }]);
    const e = await kubectl(['exec', 'ghost', '--', 'true']);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('container not found ("c")');
    const l = await kubectl(['logs', 'ghost']);
    expect(l.code).toBe(1);
    expect(l.stderr).toContain('container not found ("c")');
  });

  it('a wrong container name: 400 "is not valid for pod"', async () => {
    const e = await kubectl(['exec', 'shell', '-c', 'nope', '--', 'true']);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/container nope is not valid for pod shell|container nope not found in pod shell/);
    const l = await kubectl(['logs', 'shell', '-c', 'nope']);
    expect(l.code).toBe(1);
    expect(l.stderr).toContain('container nope is not valid for pod shell');
  });

  it('--previous without an earlier attempt: 400', async () => {
    const l = await kubectl(['logs', 'shell', '--previous']);
    expect(l.code).toBe(1);
    expect(l.stderr).toContain('previous terminated container "sh" in pod "shell" not found');
  });

  it('a node that publishes no streaming endpoint: 503 naming what is missing', async () => {
    const nodes = client.resource('v1', 'Node');
    await nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `bare-${suffix}` } } as never);
    await podObject('stranded', [{ name: 'c' }], { nodeName: `bare-${suffix}` });
    const l = await kubectl(['logs', 'stranded']);
    expect(l.code).toBe(1);
    expect(l.stderr).toContain(`node bare-${suffix} publishes no streaming endpoint`);
  });

  it('a completed pod: exec refused', async () => {
    await podObject('done', [{ name: 'c' }], { phase: 'Succeeded' });
    const e = await kubectl(['exec', 'done', '--', 'true']);
    expect(e.code).toBe(1);
    expect(e.stderr).toContain('cannot exec into a container in a completed pod; current phase is Succeeded');
  });

  it('a user without the right (the node token): Forbidden', async () => {
    const nodeToken = readFileSync(join(api.dataRoot, 'node-join.token'), 'utf8').trim();
    const cfg = join(tmp, 'node.yaml');
    const admin = loadClientConfig({ config: api.configPath });
    writeFileSync(
      cfg,
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'w', cluster: { server: admin.server, 'certificate-authority-data': Buffer.from(api.caPem!).toString('base64') } }],
        users: [{ name: 'node-user', user: { token: nodeToken } }],
        contexts: [{ name: 'w', context: { cluster: 'w', user: 'node-user', namespace: NS } }],
        'current-context': 'w',
      }),
    );
    const e = await kubectl(['exec', 'shell', '--', 'true'], { kubeconfig: cfg });
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/Forbidden|cannot create resource "pods\/exec"/);
    const l = await kubectl(['logs', 'shell'], { kubeconfig: cfg });
    expect(l.code).toBe(1);
    expect(l.stderr).toMatch(/cannot get resource "pods\/log"/);
  });

  it('the streaming endpoint refuses callers without the API server certificate', async () => {
    const port = (await client.resource('v1', 'Node').get(undefined, NODE)) as unknown as { status: { daemonEndpoints: { kubeletEndpoint: { Port: number } } } };
    const r = await run(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port.status.daemonEndpoints.kubeletEndpoint.Port}/containerLogs/default/shell/sh`], { allowFailure: true });
    // No client certificate: the TLS handshake itself fails (curl prints 000).
    expect(r.stdout).toBe('000');
    // A certificate from the cluster CA but for another name: 403.
    const pki = join(api.dataRoot, 'pki');
    const key = join(tmp, 'other.key');
    const crt = join(tmp, 'other.crt');
    await run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', join(tmp, 'other.csr'), '-subj', '/CN=someone-else']);
    await run(['openssl', 'x509', '-req', '-in', join(tmp, 'other.csr'), '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key'), '-CAcreateserial', '-out', crt, '-days', '1']);
    const other = await run(['curl', '-sk', '--cert', crt, '--key', key, '-w', '\n%{http_code}', `https://127.0.0.1:${port.status.daemonEndpoints.kubeletEndpoint.Port}/containerLogs/default/shell/sh`], { allowFailure: true });
    expect(other.stdout).toMatch(/accepts only the API server[\s\S]*\n403$/);
  });
});
