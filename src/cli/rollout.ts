import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WharfError, invalid } from '../core/errors.js';
import { ClusterClient } from '../cluster/client/cluster-client.js';
import type { ResourceApi } from '../cluster/client/resource-api.js';
import { CHANGE_CAUSE, HASH_LABEL, REVISION, revisionOf } from '../cluster/controllers/deployment-core.js';
import { controllerRef, getCondition, type DaemonSet, type Deployment, type Obj, type ReplicaSet, type Workflow } from '../cluster/controllers/objects.js';
import { topoOrder } from '../cluster/controllers/workflow-core.js';

// `wharf scale`, `wharf rollout status|history|undo|restart|pause|resume` and
// `wharf workflow graph`: kubectl-like verbs over the cluster API.
// Connection: --server/--token, else --config FILE or WHARF_CONFIG (the admin.yaml
// format), else ~/.wharf/config.

interface ConnFlags {
  server?: string;
  token?: string;
  config?: string;
  certificateAuthority?: string;
  namespace?: string;
}

interface KubeConfig {
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user: { token?: string } }[];
  contexts?: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  'current-context'?: string;
}

export function resolveConnection(f: ConnFlags, env: NodeJS.ProcessEnv = process.env): { server: string; token: string; caPem?: string; namespace: string } {
  const path = f.config ?? env.WHARF_CONFIG ?? join(homedir(), '.wharf', 'config');
  let server = f.server;
  let token = f.token;
  let caPem: string | undefined;
  let namespace = f.namespace;
  if ((!server || !token) && existsSync(path)) {
    const cfg = parseYaml(readFileSync(path, 'utf8')) as KubeConfig;
    const ctx = cfg.contexts?.find((c) => c.name === cfg['current-context']) ?? cfg.contexts?.[0];
    const cl = cfg.clusters?.find((c) => c.name === ctx?.context.cluster) ?? cfg.clusters?.[0];
    const us = cfg.users?.find((u) => u.name === ctx?.context.user) ?? cfg.users?.[0];
    server ??= cl?.cluster.server;
    token ??= us?.user.token;
    const ca = cl?.cluster['certificate-authority-data'];
    if (ca) caPem = Buffer.from(ca, 'base64').toString('utf8');
    namespace ??= ctx?.context.namespace;
  } else if (f.config && !existsSync(f.config)) {
    throw invalid(`--config ${f.config}: no such file`);
  }
  if (f.certificateAuthority) {
    if (!existsSync(f.certificateAuthority)) throw invalid(`--certificate-authority ${f.certificateAuthority}: no such file`);
    caPem = readFileSync(f.certificateAuthority, 'utf8');
  }
  if (!server || !token) throw invalid('no cluster connection: give --server and --token, --config FILE, WHARF_CONFIG, or write ~/.wharf/config (a copy of DATA_ROOT/admin.yaml)');
  return { server, token, ...(caPem ? { caPem } : {}), namespace: namespace ?? 'default' };
}

const conn = (c: Command) =>
  c
    .option('--server <url>', 'API server URL')
    .option('--token <token>', 'bearer token')
    .option('--certificate-authority <file>', 'CA certificate (PEM) of the API server')
    .option('--config <file>', 'client config (admin.yaml format); default WHARF_CONFIG or ~/.wharf/config')
    .option('-n, --namespace <ns>', 'namespace');

async function withCluster<T>(f: ConnFlags, fn: (c: ClusterClient, ns: string) => Promise<T>): Promise<T> {
  const r = resolveConnection(f);
  const c = new ClusterClient({ server: r.server, token: r.token, ...(r.caPem ? { caPem: r.caPem } : {}) });
  try {
    return await fn(c, r.namespace);
  } finally {
    await c.close();
  }
}

const SCALABLE: Record<string, [string, string]> = {
  deployment: ['apps/v1', 'Deployment'],
  deployments: ['apps/v1', 'Deployment'],
  deploy: ['apps/v1', 'Deployment'],
  replicaset: ['apps/v1', 'ReplicaSet'],
  replicasets: ['apps/v1', 'ReplicaSet'],
  rs: ['apps/v1', 'ReplicaSet'],
  job: ['batch/v1', 'Job'],
  jobs: ['batch/v1', 'Job'],
};

/** "deployment/web" or ("deployment", "web"). */
export function parseTarget(a: string, b: string | undefined, allowed: Record<string, [string, string]>): { apiVersion: string; kind: string; name: string } {
  let kind = a;
  let name = b;
  if (a.includes('/')) [kind, name] = a.split('/', 2) as [string, string];
  const k = allowed[kind.toLowerCase()];
  if (!k) throw invalid(`unsupported resource type "${kind}": expected one of ${[...new Set(Object.values(allowed).map((x) => x[1].toLowerCase()))].join(', ')}`);
  if (!name) throw invalid('a resource name is required (e.g. deployment/web)');
  return { apiVersion: k[0], kind: k[1], name };
}

const DEPLOY_ONLY: Record<string, [string, string]> = { deployment: ['apps/v1', 'Deployment'], deployments: ['apps/v1', 'Deployment'], deploy: ['apps/v1', 'Deployment'] };
const ROLLOUT_STATUS_KINDS: Record<string, [string, string]> = { ...DEPLOY_ONLY, daemonset: ['apps/v1', 'DaemonSet'], daemonsets: ['apps/v1', 'DaemonSet'], ds: ['apps/v1', 'DaemonSet'] };

/** Writes with resourceVersion; retries a few times on a conflict with a fresh read. */
async function mutate<T extends Obj>(api: ResourceApi<T>, ns: string | undefined, name: string, f: (o: T) => void): Promise<T> {
  for (let i = 0; ; i++) {
    const o = await api.get(ns, name);
    f(o);
    try {
      return await api.update(o);
    } catch (err) {
      if (err instanceof WharfError && err.kind === 'Conflict' && i < 5) continue;
      throw err;
    }
  }
}

async function ownedReplicaSets(c: ClusterClient, d: Deployment): Promise<ReplicaSet[]> {
  const all = await c.resource<ReplicaSet>('apps/v1', 'ReplicaSet').list({ namespace: d.metadata.namespace ?? 'default' });
  return all.items.filter((r) => controllerRef(r)?.uid === d.metadata.uid).sort((a, b) => revisionOf(a) - revisionOf(b));
}

/** One line of `rollout status`, and whether the rollout is done. */
export function rolloutStatus(d: Deployment): { done: boolean; message: string; failed?: boolean } {
  const name = d.metadata.name;
  const want = d.spec.replicas ?? 1;
  const st = d.status ?? {};
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const prog = getCondition(st.conditions, 'Progressing');
  if (prog?.reason === 'ProgressDeadlineExceeded') return { done: true, failed: true, message: `error: deployment "${name}" exceeded its progress deadline` };
  const updated = st.updatedReplicas ?? 0;
  if (updated < want) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  if ((st.replicas ?? 0) > updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${(st.replicas ?? 0) - updated} old replicas are pending termination...` };
  if ((st.availableReplicas ?? 0) < updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${st.availableReplicas ?? 0} of ${updated} updated replicas are available...` };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** One line of `rollout status` for a DaemonSet (kubectl's wording), and whether the rollout is done. */
export function daemonSetRolloutStatus(d: DaemonSet): { done: boolean; message: string } {
  const name = d.metadata.name;
  const st = d.status ?? {};
  if ((d.spec.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return { done: true, message: `rollout status is only available for the RollingUpdate strategy type (daemon set "${name}" uses OnDelete)` };
  if ((st.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) return { done: false, message: 'Waiting for daemon set spec update to be observed...' };
  const want = st.desiredNumberScheduled ?? 0;
  const updated = st.updatedNumberScheduled ?? 0;
  if (updated < want) return { done: false, message: `Waiting for daemon set "${name}" rollout to finish: ${updated} out of ${want} new pods have been updated...` };
  const avail = st.numberAvailable ?? 0;
  if (avail < want) return { done: false, message: `Waiting for daemon set "${name}" rollout to finish: ${avail} of ${want} updated pods are available...` };
  return { done: true, message: `daemon set "${name}" successfully rolled out` };
}

const PHASE_MARK: Record<string, string> = { Succeeded: '✔', Failed: '✘', Running: '●', Pending: '○', Skipped: '⊘' };

/** The DAG as text: tasks in topological order with their dependencies and state. */
export function renderWorkflowGraph(wf: Workflow): string {
  const topo = topoOrder(wf.spec.tasks);
  if ('error' in topo) return `error: ${topo.error}\n`;
  const st = wf.status?.tasks ?? {};
  // depth = longest path from a root
  const depth = new Map<string, number>();
  for (const t of topo.order) depth.set(t.name, Math.max(-1, ...(t.dependencies ?? []).map((d) => depth.get(d) ?? 0)) + 1);
  const lines = [`Workflow ${wf.metadata.namespace ?? 'default'}/${wf.metadata.name}: ${wf.status?.phase ?? 'Pending'}${wf.status?.message ? ` (${wf.status.message})` : ''}`];
  const maxDepth = Math.max(0, ...depth.values());
  for (let lvl = 0; lvl <= maxDepth; lvl++) {
    for (const t of topo.order.filter((x) => depth.get(x.name) === lvl)) {
      const s = st[t.name] ?? {};
      const phase = s.phase ?? 'Pending';
      const deps = (t.dependencies ?? []).length ? ` <- ${(t.dependencies ?? []).join(', ')}` : '';
      const extra = [s.attempts && s.attempts > 1 ? `attempts ${s.attempts}` : '', s.message ?? '', s.outputs?.result !== undefined ? `result=${JSON.stringify(s.outputs.result.slice(0, 40))}` : ''].filter(Boolean).join('; ');
      lines.push(`${'  '.repeat(lvl)}${PHASE_MARK[phase] ?? '?'} ${t.name} [${phase}]${deps}${extra ? `  (${extra})` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function registerRolloutCommands(program: Command): void {
  conn(
    program
      .command('scale')
      .description('Set the replicas of a Deployment or ReplicaSet (or the parallelism of a Job)')
      .argument('<type/name>', 'e.g. deployment/web')
      .argument('[name]')
      .requiredOption('--replicas <n>', 'desired replicas'),
  ).action(async (a: string, b: string | undefined, f: ConnFlags & { replicas: string }) => {
    const n = Number(f.replicas);
    if (!Number.isInteger(n) || n < 0) throw invalid(`--replicas: must be a non-negative integer, got ${JSON.stringify(f.replicas)}`);
    const t = parseTarget(a, b, SCALABLE);
    await withCluster(f, async (c, ns) => {
      const api = c.resource<Obj>(t.apiVersion, t.kind);
      await mutate(api, ns, t.name, (o) => {
        const spec = o.spec as Record<string, unknown>;
        if (t.kind === 'Job') spec.parallelism = n;
        else spec.replicas = n;
      });
      process.stdout.write(`${t.kind.toLowerCase()}.${t.apiVersion.split('/')[0] === 'v1' ? '' : t.apiVersion.split('/')[0]}/${t.name} scaled\n`);
    });
  });

  const rollout = program.command('rollout').description('Manage the rollout of a Deployment');
  conn(
    rollout
      .command('status')
      .argument('<type/name>')
      .argument('[name]')
      .option('-w, --watch', 'wait until the rollout finishes (default true)', true)
      .option('--no-watch', 'print the current status and exit')
      .option('--timeout <seconds>', 'give up after this long', '600'),
  ).action(async (a: string, b: string | undefined, f: ConnFlags & { watch: boolean; timeout: string }) => {
    const t = parseTarget(a, b, ROLLOUT_STATUS_KINDS);
    await withCluster(f, async (c, ns) => {
      const api = c.resource<Obj>(t.apiVersion, t.kind);
      const end = Date.now() + Number(f.timeout) * 1000;
      let last = '';
      for (;;) {
        const o = await api.get(ns, t.name);
        const s: { done: boolean; message: string; failed?: boolean } = t.kind === 'DaemonSet' ? daemonSetRolloutStatus(o as DaemonSet) : rolloutStatus(o as Deployment);
        if (s.message !== last) process.stdout.write(`${s.message}\n`);
        last = s.message;
        if (s.failed) throw new WharfError('Timeout', `deployment "${t.name}" exceeded its progress deadline`);
        if (s.done || !f.watch) return;
        if (Date.now() > end) throw new WharfError('Timeout', `timed out waiting for the rollout of ${t.name}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    });
  });

  conn(rollout.command('history').argument('<type/name>').argument('[name]').option('--revision <n>', 'show the pod template of one revision')).action(
    async (a: string, b: string | undefined, f: ConnFlags & { revision?: string }) => {
      const t = parseTarget(a, b, DEPLOY_ONLY);
      await withCluster(f, async (c, ns) => {
        const d = await c.resource<Deployment>(t.apiVersion, t.kind).get(ns, t.name);
        const rss = await ownedReplicaSets(c, d);
        if (f.revision !== undefined) {
          const rs = rss.find((r) => String(revisionOf(r)) === f.revision);
          if (!rs) throw new WharfError('NotFound', `unable to find revision ${f.revision} of deployment "${t.name}"`);
          process.stdout.write(`deployment.apps/${t.name} with revision #${f.revision}\nPod Template:\n${JSON.stringify(rs.spec.template, null, 2)}\n`);
          return;
        }
        process.stdout.write(`deployment.apps/${t.name}\nREVISION  CHANGE-CAUSE\n`);
        for (const rs of rss) process.stdout.write(`${String(revisionOf(rs)).padEnd(10)}${rs.metadata.annotations?.[CHANGE_CAUSE] ?? '<none>'}\n`);
      });
    },
  );

  conn(rollout.command('undo').argument('<type/name>').argument('[name]').option('--to-revision <n>', 'revision to roll back to (default: the previous one)')).action(
    async (a: string, b: string | undefined, f: ConnFlags & { toRevision?: string }) => {
      const t = parseTarget(a, b, DEPLOY_ONLY);
      await withCluster(f, async (c, ns) => {
        const api = c.resource<Deployment>(t.apiVersion, t.kind);
        const d = await api.get(ns, t.name);
        const rss = await ownedReplicaSets(c, d);
        const current = Number(d.metadata.annotations?.[REVISION] ?? '0');
        const target = f.toRevision !== undefined && f.toRevision !== '0' ? rss.find((r) => String(revisionOf(r)) === f.toRevision) : [...rss].reverse().find((r) => revisionOf(r) < current);
        if (!target) throw new WharfError('NotFound', f.toRevision ? `unable to find revision ${f.toRevision} of deployment "${t.name}"` : `no rollout history found for deployment "${t.name}"`);
        if (revisionOf(target) === current) {
          process.stdout.write(`deployment.apps/${t.name} skipped rollback (current template already matches revision ${current})\n`);
          return;
        }
        await mutate(api, ns, t.name, (o) => {
          const tpl = structuredClone(target.spec.template ?? {});
          if (tpl.metadata?.labels) delete tpl.metadata.labels[HASH_LABEL];
          o.spec.template = tpl;
        });
        process.stdout.write(`deployment.apps/${t.name} rolled back\n`);
      });
    },
  );

  conn(rollout.command('restart').argument('<type/name>').argument('[name]')).action(async (a: string, b: string | undefined, f: ConnFlags) => {
    const t = parseTarget(a, b, DEPLOY_ONLY);
    await withCluster(f, async (c, ns) => {
      await mutate(c.resource<Deployment>(t.apiVersion, t.kind), ns, t.name, (o) => {
        o.spec.template.metadata ??= {};
        o.spec.template.metadata.annotations = { ...(o.spec.template.metadata.annotations ?? {}), 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() };
      });
      process.stdout.write(`deployment.apps/${t.name} restarted\n`);
    });
  });

  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    conn(rollout.command(verb).argument('<type/name>').argument('[name]')).action(async (a: string, b: string | undefined, f: ConnFlags) => {
      const t = parseTarget(a, b, DEPLOY_ONLY);
      await withCluster(f, async (c, ns) => {
        const api = c.resource<Deployment>(t.apiVersion, t.kind);
        const d = await api.get(ns, t.name);
        if ((d.spec.paused ?? false) === paused) {
          process.stdout.write(`deployment.apps/${t.name} is already ${paused ? 'paused' : 'resumed'}\n`);
          return;
        }
        await mutate(api, ns, t.name, (o) => {
          o.spec.paused = paused;
        });
        process.stdout.write(`deployment.apps/${t.name} ${paused ? 'paused' : 'resumed'}\n`);
      });
    });
  }

  const workflow = program.command('workflow').description('Workflows (wharf.dev/v1)');
  conn(workflow.command('graph').description("Print a Workflow's task DAG with each task's state").argument('<name>')).action(async (name: string, f: ConnFlags) => {
    await withCluster(f, async (c, ns) => {
      const wf = await c.resource<Workflow>('wharf.dev/v1', 'Workflow').get(ns, name);
      process.stdout.write(renderWorkflowGraph(wf));
    });
  });
}
