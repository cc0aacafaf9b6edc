import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { AppsV1Api, CoreV1Api, KubeConfig, Watch, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';

// The real Kubernetes client (@kubernetes/client-node 1.4) against `wharf server` on SQLite, over TLS
// with the generated CA (client-node refuses plain HTTP unless told to skip TLS verification).

let srv: TestApiServer;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
const ns = `t-${Math.random().toString(36).slice(2, 8)}`;

const pod = (name: string, labels: Record<string, string> = { app: 'web' }): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: [{ name: 'c', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
});

async function statusOf(p: Promise<unknown>): Promise<{ code: number; body: any }> {
  try {
    await p;
  } catch (e: any) {
    return { code: e.code, body: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  srv = await startTestApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(srv.configPath);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await srv?.stop();
});

describe('@kubernetes/client-node against wharf server', () => {
  it('creates, gets and lists pods with label selectors', async () => {
    const created = await core.createNamespacedPod({ namespace: ns, body: pod('web-1') });
    expect(created.metadata?.uid).toMatch(/[0-9a-f-]{36}/);
    expect(created.status?.phase).toBe('Pending');
    await core.createNamespacedPod({ namespace: ns, body: pod('db-1', { app: 'db' }) });
    const got = await core.readNamespacedPod({ namespace: ns, name: 'web-1' });
    expect(got.spec?.containers[0]?.imagePullPolicy).toBe('IfNotPresent');
    const web = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app in (web,api)' });
    expect(web.items.map((p) => p.metadata?.name)).toEqual(['web-1']);
    const all = await core.listPodForAllNamespaces({ fieldSelector: `metadata.namespace=${ns}` });
    expect(all.items.map((p) => p.metadata?.name).sort()).toEqual(['db-1', 'web-1']);
    const dup = await statusOf(core.createNamespacedPod({ namespace: ns, body: pod('web-1') }));
    expect(dup.code).toBe(409);
    expect(dup.body.reason).toBe('AlreadyExists');
  });

  it('watches, and resumes a watch from a resourceVersion', async () => {
    const list = await core.listNamespacedPod({ namespace: ns });
    const rv = list.metadata!.resourceVersion!;
    const watch = new Watch(kc);
    const seen: string[] = [];
    let lastRv = rv;
    let resolveN: () => void = () => undefined;
    const gotTwo = new Promise<void>((r) => (resolveN = r));
    const ac = await watch.watch(`/api/v1/namespaces/${ns}/pods`, { resourceVersion: rv }, (type, obj) => {
      seen.push(`${type} ${obj.metadata.name}`);
      lastRv = obj.metadata.resourceVersion;
      if (seen.length === 2) resolveN();
    }, () => undefined);
    await core.createNamespacedPod({ namespace: ns, body: pod('w-a') });
    await core.createNamespacedPod({ namespace: ns, body: pod('w-b') });
    await gotTwo;
    ac.abort();
    expect(seen).toEqual(['ADDED w-a', 'ADDED w-b']);
    // While nobody watches: a change and a deletion. A watch resumed from lastRv sees exactly them.
    await core.patchNamespacedPod({ namespace: ns, name: 'w-a', body: { metadata: { labels: { tier: 'x' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await core.deleteNamespacedPod({ namespace: ns, name: 'w-b' });
    const resumed: string[] = [];
    let resolve2: () => void = () => undefined;
    const got2 = new Promise<void>((r) => (resolve2 = r));
    const ac2 = await watch.watch(`/api/v1/namespaces/${ns}/pods`, { resourceVersion: lastRv }, (type, obj) => {
      resumed.push(`${type} ${obj.metadata.name}`);
      if (resumed.length === 2) resolve2();
    }, () => undefined);
    await got2;
    ac2.abort();
    expect(resumed).toEqual(['MODIFIED w-a', 'DELETED w-b']);
  });

  it('patches with merge patch and JSON patch, and rejects a patch that makes the object invalid', async () => {
    const merged = await core.patchNamespacedPod(
      { namespace: ns, name: 'web-1', body: { metadata: { annotations: { note: 'hi' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.annotations).toEqual({ note: 'hi' });
    const jp = await core.patchNamespacedPod(
      { namespace: ns, name: 'web-1', body: [{ op: 'replace', path: '/spec/containers/0/image', value: 'busybox:1.37' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jp.spec?.containers[0]?.image).toBe('busybox:1.37');
    expect(Number(jp.metadata?.resourceVersion)).toBeGreaterThan(Number(merged.metadata?.resourceVersion));
    const bad = await statusOf(
      core.patchNamespacedPod(
        { namespace: ns, name: 'web-1', body: [{ op: 'add', path: '/spec/containers/0/bogus', value: 1 }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    expect(bad.code).toBe(422);
    expect(bad.body.details.causes[0].field).toBe('spec.containers[0].bogus');
    const after = await core.readNamespacedPod({ namespace: ns, name: 'web-1' });
    expect(after.metadata?.resourceVersion).toBe(jp.metadata?.resourceVersion);
  });

  it('creates a Deployment, scales it through the scale subresource, rejects a stale update', async () => {
    const d = await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] } },
        },
      },
    });
    expect(d.metadata?.generation).toBe(1);
    expect(d.spec?.strategy?.type).toBe('RollingUpdate');
    const s = await apps.patchNamespacedDeploymentScale(
      { namespace: ns, name: 'web', body: { spec: { replicas: 5 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(s.spec?.replicas).toBe(5);
    expect(s.status?.selector).toBe('app=web');
    const now = await apps.readNamespacedDeployment({ namespace: ns, name: 'web' });
    expect(now.spec?.replicas).toBe(5);
    expect(now.metadata?.generation).toBe(2);
    const stale = await statusOf(apps.replaceNamespacedDeployment({ namespace: ns, name: 'web', body: { ...now, metadata: { ...now.metadata, resourceVersion: d.metadata!.resourceVersion! } } }));
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    const bad = await statusOf(
      apps.createNamespacedDeployment({
        namespace: ns,
        body: { metadata: { name: 'bad' }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } },
      }),
    );
    expect(bad.code).toBe(422);
  });

  it('answers 401 without a token and 404 for a missing namespace', async () => {
    const anon = new KubeConfig();
    anon.loadFromOptions({
      clusters: [{ name: 'c', server: srv.url, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const noTok = await statusOf(anon.makeApiClient(CoreV1Api).listNamespace());
    expect(noTok.code).toBe(401);
    const missing = await statusOf(core.createNamespacedPod({ namespace: 'no-such-ns', body: pod('x') }));
    expect(missing.code).toBe(404);
    expect(missing.body.message).toContain('namespaces "no-such-ns" not found');
  });
});
