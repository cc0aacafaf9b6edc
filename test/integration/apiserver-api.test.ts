import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startTestApiServer, type TestApiServer } from '../helpers/api-server.js';
import { ClusterClient, type ResourceClient } from '../../src/cluster/client/cluster-client.js';
import { loadClientConfig } from '../../src/cluster/client/config.js';
import { ClientInformer } from '../../src/cluster/client/informer.js';
import { TokenFileStore } from '../../src/cluster/apiserver/tokens.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { isWharfError } from '../../src/core/errors.js';
import type { KubeObject } from '../../src/cluster/apis/meta.js';

// The API server through HTTP with Wharf's own client: bad input answered with Status errors and
// nothing stored, deletion semantics, subresources, watch edge cases, pagination, access control.

let srv: TestApiServer;
let client: ClusterClient;
let pods: ResourceClient;
const ns = `api-${Math.random().toString(36).slice(2, 8)}`;

async function http(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ code: number; json: any }> {
  const res = await srv.fetch(path, {
    method,
    headers: { authorization: `Bearer ${srv.adminToken}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { code: res.status, json };
}

async function podCount(): Promise<number> {
  return (await pods.list({ namespace: ns })).items.length;
}

async function failure(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    if (isWharfError(e)) return e;
    throw e;
  }
  throw new Error('expected failure');
}

const podBody = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
  ...extra,
});

beforeAll(async () => {
  srv = await startTestApiServer({ maxBodyBytes: 64 * 1024, bookmarkIntervalMs: 200 });
  client = new ClusterClient(loadClientConfig({ config: srv.configPath }));
  pods = client.resource('v1', 'Pod');
  await client.resource('v1', 'Namespace').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

afterAll(async () => {
  await client?.close();
  await srv?.stop();
});

describe('bad input: a Status error and nothing stored', () => {
  it('rejects malformed JSON and YAML, wrong kinds, bad names, oversized bodies', async () => {
    const p = `/api/v1/namespaces/${ns}/pods`;
    const before = await podCount();
    const cases: [string, { code: number; json: any }, number, string][] = [
      ['malformed JSON', await http('POST', p, '{"metadata": {'), 400, 'BadRequest'],
      ['malformed YAML', await http('POST', p, 'metadata: [unclosed', { 'content-type': 'application/yaml' }), 400, 'BadRequest'],
      ['wrong kind', await http('POST', p, JSON.stringify({ ...podBody('x'), kind: 'Service' })), 400, 'BadRequest'],
      ['wrong version', await http('POST', p, JSON.stringify({ ...podBody('x'), apiVersion: 'v2' })), 400, 'BadRequest'],
      ['non-DNS name', await http('POST', p, JSON.stringify(podBody('Bad_Name'))), 422, 'Invalid'],
      ['unknown field', await http('POST', p, JSON.stringify(podBody('x', { spec: { containers: [{ name: 'c', image: 'i', imagePullPolicyy: 'x' }] } }))), 422, 'Invalid'],
      ['oversized body', await http('POST', p, JSON.stringify(podBody('x', { metadata: { name: 'x', annotations: { a: 'z'.repeat(70 * 1024) } } }))), 413, 'RequestEntityTooLarge'],
      ['missing namespace', await http('POST', '/api/v1/namespaces/nope/pods', JSON.stringify(podBody('x', { metadata: { name: 'x' } }))), 404, 'NotFound'],
      ['namespace mismatch', await http('POST', p, JSON.stringify(podBody('x', { metadata: { name: 'x', namespace: 'other' } }))), 400, 'BadRequest'],
      ['unknown resource', await http('GET', '/api/v1/namespaces/default/frobs'), 404, 'NotFound'],
      ['bad method', await http('POST', `${p}/x/status`, '{}'), 405, 'MethodNotAllowed'],
    ];
    for (const [what, res, code, reason] of cases) {
      expect(res.code, what).toBe(code);
      expect(res.json.kind, what).toBe('Status');
      expect(res.json.reason, what).toBe(reason);
    }
    expect(cases[5]![1].json.message).toContain('spec.containers[0].imagePullPolicyy: unknown field');
    expect(cases[4]![1].json.details.causes[0].field).toBe('metadata.name');
    expect(await podCount()).toBe(before);
  });

  it('rejects bad selectors, a watch from a future revision, and a patch that produces an invalid object', async () => {
    await pods.create(podBody('sel') as KubeObject);
    expect((await http('GET', `/api/v1/pods?labelSelector=${encodeURIComponent('a in (b')}`)).code).toBe(400);
    const fs = await http('GET', `/api/v1/pods?fieldSelector=spec.image%3Dx`);
    expect(fs.code).toBe(400);
    expect(fs.json.message).toContain('field label not supported');
    const future = await http('GET', `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=99999999`);
    expect(future.code).toBe(504);
    expect(future.json.details.causes[0].reason).toBe('ResourceVersionTooLarge');
    const before = await pods.get(ns, 'sel');
    const e = await failure(pods.patch(ns, 'sel', { spec: { restartPolicy: 'Sometimes' } }));
    expect(e.details.code).toBe(422);
    const e2 = await failure(pods.patch(ns, 'sel', { metadata: { name: 'Other_Name' } }));
    expect(e2.kind).toBe('InvalidArgument');
    const unsupported = await http('PATCH', `/api/v1/namespaces/${ns}/pods/sel`, '{}', { 'content-type': 'application/apply-patch+yaml' });
    expect(unsupported.code).toBe(415);
    expect((await pods.get(ns, 'sel')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });
});

describe('semantics', () => {
  it('generateName, update conflicts, status subresource and binding', async () => {
    const g = await pods.create({ apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'gen-', namespace: ns }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } as KubeObject);
    expect(g.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const cur = (await pods.get(ns, g.metadata.name!)) as any;
    // status through the main resource is ignored; through /status it is written
    const upd = (await pods.update({ ...cur, status: { phase: 'Running' } })) as any;
    expect(upd.status.phase).toBe('Pending');
    const st = (await pods.updateStatus({ ...cur, status: { ...cur.status, phase: 'Running' } })) as any;
    expect(st.status.phase).toBe('Running');
    // stale resourceVersion: 409 Conflict
    const stale = await failure(pods.updateStatus({ ...cur, status: { phase: 'Failed' } }));
    expect(stale.kind).toBe('Conflict');
    // binding: once
    await pods.bind({ metadata: { name: g.metadata.name!, namespace: ns } }, 'node-a');
    const bound = (await pods.get(ns, g.metadata.name!)) as any;
    expect(bound.spec.nodeName).toBe('node-a');
    expect(bound.status.conditions.find((c: any) => c.type === 'PodScheduled').status).toBe('True');
    const again = await failure(pods.bind({ metadata: { name: g.metadata.name!, namespace: ns } }, 'node-b'));
    expect(again.kind).toBe('Conflict');
    // graceful deletion of a bound pod: deletionTimestamp first, gone after a delete with grace 0
    await pods.delete(ns, g.metadata.name!);
    const terminating = (await pods.get(ns, g.metadata.name!)) as any;
    expect(terminating.metadata.deletionTimestamp).toBeTruthy();
    expect(terminating.metadata.deletionGracePeriodSeconds).toBe(30);
    await pods.delete(ns, g.metadata.name!, { gracePeriodSeconds: 0 });
    expect((await failure(pods.get(ns, g.metadata.name!))).kind).toBe('NotFound');
  });

  it('finalizers and propagationPolicy: deletion waits until the last finalizer is removed', async () => {
    const cms = client.resource('v1', 'ConfigMap');
    await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fin', namespace: ns, finalizers: ['example.com/hold'] }, data: { a: '1' } } as KubeObject);
    await cms.delete(ns, 'fin', { propagationPolicy: 'Foreground' });
    const held = await cms.get(ns, 'fin');
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    expect(held.metadata.finalizers).toEqual(['example.com/hold', 'foregroundDeletion']);
    const added = await failure(cms.patch(ns, 'fin', { metadata: { finalizers: ['example.com/hold', 'foregroundDeletion', 'new'] } }));
    expect(added.kind).toBe('Forbidden');
    await cms.patch(ns, 'fin', { metadata: { finalizers: null } });
    expect((await failure(cms.get(ns, 'fin'))).kind).toBe('NotFound');
    await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orph', namespace: ns } } as KubeObject);
    await cms.delete(ns, 'orph', { propagationPolicy: 'Orphan' });
    expect((await cms.get(ns, 'orph')).metadata.finalizers).toEqual(['orphan']);
  });

  it('lists in pages with limit/continue, and deletecollection by label', async () => {
    const cms = client.resource('v1', 'ConfigMap');
    for (let i = 0; i < 7; i++) await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `page-${i}`, namespace: ns, labels: { page: 'yes', odd: String(i % 2) } } } as KubeObject);
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const p = await cms.list({ namespace: ns, labelSelector: 'page=yes', limit: 3, ...(cont ? { continue: cont } : {}) });
      names.push(...p.items.map((x) => x.metadata.name!));
      cont = p.continue;
      pages++;
    } while (cont);
    expect(names).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`));
    expect(pages).toBe(3);
    const odd = await cms.list({ namespace: ns, labelSelector: 'page,odd notin (0)', limit: 2 });
    expect(odd.items.map((x) => x.metadata.name)).toEqual(['page-1', 'page-3']);
    const del = await http('DELETE', `/api/v1/namespaces/${ns}/configmaps?labelSelector=odd%3D1`);
    expect(del.code).toBe(200);
    expect((await cms.list({ namespace: ns, labelSelector: 'page=yes' })).items.map((x) => x.metadata.name)).toEqual(['page-0', 'page-2', 'page-4', 'page-6']);
  });

  it('watch: 410 when compacted, bookmarks, timeoutSeconds, and selector-filtered events', async () => {
    const cms = client.resource('v1', 'ConfigMap');
    const r1 = await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w1', namespace: ns, labels: { w: 'a' } } } as KubeObject);
    const oldRv = Number(r1.metadata.resourceVersion);
    for (let i = 0; i < 3; i++) await cms.patch(ns, 'w1', { data: { i: String(i) } });
    // A label change moves the object out of the selector: the filtered watch sees DELETED.
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const ev of cms.watch({ namespace: ns, labelSelector: 'w=a', resourceVersion: String(oldRv), signal: ac.signal, allowWatchBookmarks: true, timeoutSeconds: 5 })) {
        seen.push(ev.type);
        if (seen.filter((t) => t === 'BOOKMARK').length >= 1 && seen.includes('DELETED')) ac.abort();
      }
    })();
    await cms.patch(ns, 'w1', { metadata: { labels: { w: 'b' } } });
    await done;
    expect(seen.filter((t) => t !== 'BOOKMARK')).toEqual(['MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    expect(seen).toContain('BOOKMARK');
    // timeoutSeconds ends the stream
    const t0 = Date.now();
    for await (const _ of cms.watch({ namespace: ns, resourceVersion: String(await srv.store.currentRevision()), signal: new AbortController().signal, timeoutSeconds: 1 })) void _;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // compaction: an old revision is Gone (410)
    await srv.store.compact(await srv.store.currentRevision());
    const gone = await http('GET', `/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${oldRv}`);
    expect(gone.code).toBe(410);
    expect(gone.json.reason).toBe('Expired');
  });

  it('an informer lists, watches and resyncs', async () => {
    const cms = client.resource('v1', 'ConfigMap');
    const inf = new ClientInformer(cms, systemClock, silentLogger(), { namespace: ns, labelSelector: 'inf=1', resyncMs: 300 });
    const events: string[] = [];
    inf.addHandlers({
      onAdd: (o) => events.push(`add ${o.metadata.name}`),
      onUpdate: (a, b) => events.push(a === b ? `resync ${b.metadata.name}` : `update ${b.metadata.name}`),
      onDelete: (o) => events.push(`delete ${o.metadata.name}`),
    });
    await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inf-a', namespace: ns, labels: { inf: '1' } } } as KubeObject);
    const ac = new AbortController();
    const running = inf.run(ac.signal);
    await inf.waitForSync();
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['inf-a']);
    await cms.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'inf-b', namespace: ns, labels: { inf: '1' } } } as KubeObject);
    await cms.patch(ns, 'inf-a', { data: { x: 'y' } });
    await cms.delete(ns, 'inf-b');
    const until = Date.now() + 5000;
    while (Date.now() < until && !(events.includes('delete inf-b') && events.some((e) => e.startsWith('resync')))) await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await running;
    expect(events.filter((e) => !e.startsWith('resync'))).toEqual(['add inf-a', 'add inf-b', 'update inf-a', 'delete inf-b']);
    expect(events).toContain('resync inf-a');
  });
});

describe('access', () => {
  it('401 without or with a revoked token; the node role gets 403 outside its rules', async () => {
    expect((await http('GET', '/api/v1/pods', undefined, { authorization: '' })).code).toBe(401);
    expect((await http('GET', '/api/v1/pods', undefined, { authorization: 'Bearer nope' })).code).toBe(401);
    expect((await http('GET', '/healthz', undefined, { authorization: '' })).code).toBe(200);
    const tokens = new TokenFileStore(join(srv.dataRoot, 'tokens.json'), systemClock);
    const { token } = tokens.create('agent-1', 'node');
    const asNode = (m: string, p: string, b?: string) => http(m, p, b, { authorization: `Bearer ${token}` });
    await new Promise((r) => setTimeout(r, 600)); // the server re-reads the token file at most every 500 ms
    expect((await asNode('POST', '/api/v1/nodes', JSON.stringify({ metadata: { name: 'node-x' } }))).code).toBe(201);
    expect((await asNode('GET', `/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-x`)).code).toBe(200);
    const denied = await asNode('GET', '/api/v1/pods');
    expect(denied.code).toBe(403);
    expect(denied.json.reason).toBe('Forbidden');
    expect((await asNode('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, '{}')).code).toBe(403);
    // revoke through the CLI's file: the server stops accepting it
    tokens.revoke('agent-1');
    await new Promise((r) => setTimeout(r, 600));
    expect((await asNode('GET', '/api/v1/nodes')).code).toBe(401);
    // admin.token and admin.yaml are readable by root only
    const mode = execFileSync('stat', ['-c', '%a', join(srv.dataRoot, 'admin.token'), join(srv.dataRoot, 'admin.yaml'), join(srv.dataRoot, 'node-join.token')], { encoding: 'utf8' });
    expect(mode.trim().split('\n')).toEqual(['600', '600', '600']);
  });
});

describe('TLS', () => {
  it('a loopback listener serves HTTPS too, and admin.yaml names its CA', async () => {
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const cfg = loadClientConfig({ config: srv.configPath });
    expect(cfg.server).toBe(srv.url);
    expect(cfg.caPem).toBe(srv.caPem);
    expect(cfg.insecureSkipTlsVerify).toBeUndefined();
    const plain = await fetch(srv.url.replace('https:', 'http:') + '/api/v1/pods').then((r) => r.status, () => 'refused');
    expect(plain).not.toBe(200);
  });

  it('a non-loopback listener serves only TLS, with a generated CA that clients can pin', async () => {
    const { serveApi } = await import('../../src/cluster/apiserver/serve.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const root = mkdtempSync('/var/tmp/wharf-test-tls-');
    const running = await serveApi({ dataRoot: root, listen: '0.0.0.0:0', store: srv.store, clock: systemClock, logger: silentLogger(), version: 'test' });
    try {
      expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(running.caPem).toContain('BEGIN CERTIFICATE');
      const c = new ClusterClient(loadClientConfig({ config: join(root, 'admin.yaml') }));
      expect((await c.resource('v1', 'Namespace').get(undefined, 'default')).metadata.name).toBe('default');
      await c.close();
      // Plain HTTP to the TLS port gets nothing useful; an unpinned TLS client refuses the certificate.
      const plain = await fetch(running.url.replace('https:', 'http:') + '/api/v1/pods').then((r) => r.status, () => 'refused');
      expect(plain).not.toBe(200);
      const unpinned = new ClusterClient({ server: running.url, token: running.adminToken });
      expect((await failure(unpinned.resource('v1', 'Pod').list())).kind).toBe('Unavailable');
      await unpinned.close();
    } finally {
      await running.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('Service ClusterIPs', () => {
  it('allocates distinct addresses, keeps them across updates, refuses taken ones, releases on delete', async () => {
    const svcs = client.resource('v1', 'Service');
    const mk = (name: string, spec: Record<string, unknown> = {}) =>
      svcs.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ port: 80 }], ...spec } } as KubeObject) as Promise<any>;
    const a = await mk('svc-a');
    const b = await mk('svc-b');
    expect(a.spec.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(b.spec.clusterIP).not.toBe(a.spec.clusterIP);
    expect(a.spec.ports[0].targetPort).toBe(80);
    const headless = await mk('svc-h', { clusterIP: 'None' });
    expect(headless.spec.clusterIP).toBe('None');
    // an update that does not mention clusterIP keeps it; changing it is refused
    const { clusterIP: _ip, clusterIPs: _ips, ...specNoIp } = a.spec;
    const upd = (await svcs.update({ ...a, spec: { ...specNoIp, ports: [{ port: 81 }] } })) as any;
    expect(upd.spec.clusterIP).toBe(a.spec.clusterIP);
    expect((await failure(svcs.update({ ...upd, spec: { ...upd.spec, clusterIP: '10.96.9.9' } }))).details.code).toBe(422);
    const taken = await failure(mk('svc-c', { clusterIP: a.spec.clusterIP }));
    expect(taken.message).toContain('already allocated');
    expect((await failure(mk('svc-d', { clusterIP: '192.168.1.1' }))).message).toContain('not in the valid range');
    await svcs.delete(ns, 'svc-a');
    const reuse = await mk('svc-e', { clusterIP: a.spec.clusterIP });
    expect(reuse.spec.clusterIP).toBe(a.spec.clusterIP);
  });
});
