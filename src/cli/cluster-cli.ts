import { stringify as toYaml } from 'yaml';
import { WharfError, isWharfError, errorMessage } from '../core/errors.js';
import type { KubeObject } from '../cluster/apis/meta.js';
import { apiVersionOf, resourceByAlias, resourceByKind, type ResourceInfo } from '../cluster/apis/registry.js';
import { ClusterClient, type ResourceClient } from '../cluster/client/cluster-client.js';
import { loadClientConfig, type ClientConfig } from '../cluster/client/config.js';
import { readManifests } from './manifests.js';
import { age, columnsFor, jsonPath, objectsForOutput, renderTable } from './format.js';

// Kubernetes-style client commands: apply, get, describe, delete. They speak only the public API.

type Obj = Record<string, any>;

export interface ConnFlags {
  config?: string;
  server?: string;
  token?: string;
  certificateAuthority?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

export const stdio: Io = {
  out: (s) => {
    process.stdout.write(s);
  },
  err: (s) => process.stderr.write(s),
  now: () => Date.now(),
};

export function connect(f: ConnFlags): { client: ClusterClient; cfg: ClientConfig } {
  const cfg = loadClientConfig({
    ...(f.config ? { config: f.config } : {}),
    ...(f.server ? { server: f.server } : {}),
    ...(f.token ? { token: f.token } : {}),
    ...(f.certificateAuthority ? { certificateAuthority: f.certificateAuthority } : {}),
  });
  return { client: new ClusterClient(cfg), cfg };
}

export function serverError(e: unknown): string {
  if (isWharfError(e) && e.details && typeof e.details.code === 'number') {
    return `Error from server (${String(e.details.reason ?? e.kind)}): ${e.message}`;
  }
  return `error: ${errorMessage(e)}`;
}

function resourceOrThrow(alias: string): ResourceInfo {
  const info = resourceByAlias(alias);
  if (!info) throw new WharfError('NotFound', `the server doesn't have a resource type "${alias}"`);
  return info;
}

const typeName = (info: ResourceInfo) => `${info.singular}${info.group ? `.${info.group}` : ''}`;

/** Runs a command body; failures print kubectl-style and set exit code 1. */
export async function guarded(io: Io, fn: () => Promise<boolean | void>, client?: () => ClusterClient | undefined): Promise<void> {
  try {
    const ok = await fn();
    if (ok === false) process.exitCode = 1;
  } catch (e) {
    io.err(`${serverError(e)}\n`);
    process.exitCode = 1;
  } finally {
    await client?.()?.close();
  }
}

// ---------------------------------------------------------------- apply

export async function applyManifests(client: ClusterClient, files: string[], opts: { namespace?: string; defaultNamespace: string; dryRun: boolean }, io: Io): Promise<boolean> {
  const manifests = readManifests(files);
  let ok = true;
  const suffix = opts.dryRun ? ' (server dry run)' : '';
  for (const m of manifests) {
    const o = m.object as Obj;
    const info = resourceByKind(o.apiVersion, o.kind);
    try {
      if (!info) throw new WharfError('NotFound', `resource mapping not found for name: "${String(o.metadata?.name ?? '')}" namespace: "" from "${m.source}": no matches for kind "${String(o.kind)}" in version "${String(o.apiVersion)}"`);
      const rc = client.resource(o.apiVersion, o.kind);
      let ns: string | undefined;
      if (info.namespaced) {
        if (opts.namespace && o.metadata.namespace && o.metadata.namespace !== opts.namespace) {
          throw new WharfError('InvalidArgument', `the namespace from the provided object "${String(o.metadata.namespace)}" does not match the namespace "${opts.namespace}". You must pass '--namespace=${String(o.metadata.namespace)}' to perform this operation.`);
        }
        ns = o.metadata.namespace ?? opts.namespace ?? opts.defaultNamespace;
        o.metadata.namespace = ns;
      }
      const name = o.metadata.name as string | undefined;
      const label = `${typeName(info)}/${name ?? o.metadata.generateName ?? ''}`;
      if (!name) {
        const c = await rc.create(o as KubeObject, { dryRun: opts.dryRun });
        io.out(`${typeName(info)}/${c.metadata.name} created${suffix}\n`);
        continue;
      }
      for (let attempt = 0; ; attempt++) {
        let cur: KubeObject | undefined;
        try {
          cur = await rc.get(ns, name);
        } catch (e) {
          if (!isWharfError(e, 'NotFound')) throw e;
        }
        try {
          if (!cur) {
            await rc.create(o as KubeObject, { dryRun: opts.dryRun });
            io.out(`${label} created${suffix}\n`);
          } else {
            const cm = cur.metadata;
            const next = structuredClone(o) as KubeObject;
            next.metadata.resourceVersion = cm.resourceVersion!;
            // Keep what other actors added and the file does not mention.
            if (next.metadata.finalizers === undefined && cm.finalizers) next.metadata.finalizers = cm.finalizers;
            if (next.metadata.ownerReferences === undefined && cm.ownerReferences) next.metadata.ownerReferences = cm.ownerReferences;
            const after = await rc.update(next, { dryRun: opts.dryRun });
            io.out(`${label} ${after.metadata.resourceVersion === cm.resourceVersion ? 'unchanged' : 'configured'}${suffix}\n`);
          }
          break;
        } catch (e) {
          if ((isWharfError(e, 'Conflict') || isWharfError(e, 'AlreadyExists')) && attempt < 3) continue;
          throw e;
        }
      }
    } catch (e) {
      ok = false;
      io.err(`${serverError(e)}\n`);
    }
  }
  return ok;
}

// ---------------------------------------------------------------- get

export interface GetFlags extends ConnFlags {
  selector?: string;
  fieldSelector?: string;
  output?: string;
  watch?: boolean;
  chunkSize?: string;
}

export function parseTargets(args: string[]): { info: ResourceInfo; names: string[] }[] {
  if (args.length === 0) throw new WharfError('InvalidArgument', 'You must specify the type of resource to get. Use "wharf api-resources" for a complete list of supported resources.');
  if (args[0]!.includes('/')) {
    const map = new Map<ResourceInfo, string[]>();
    for (const a of args) {
      const [t, n] = a.split('/', 2) as [string, string | undefined];
      if (!n) throw new WharfError('InvalidArgument', `arguments in resource/name form must have a single resource and name: ${a}`);
      const info = resourceOrThrow(t);
      map.set(info, [...(map.get(info) ?? []), n]);
    }
    return [...map].map(([info, names]) => ({ info, names }));
  }
  const types = args[0]!.split(',').map(resourceOrThrow);
  return types.map((info) => ({ info, names: args.slice(1) }));
}

function printObjects(io: Io, items: KubeObject[], info: ResourceInfo, output: string | undefined, opts: { allNs: boolean; single: boolean; header: boolean }): void {
  if (output === 'json') io.out(`${JSON.stringify(objectsForOutput(items, opts.single), null, 4)}\n`);
  else if (output === 'yaml') io.out(toYaml(objectsForOutput(items, opts.single)));
  else if (output === 'name') for (const o of items) io.out(`${typeName(info)}/${o.metadata.name}\n`);
  else if (output?.startsWith('jsonpath=')) io.out(jsonPath(output.slice('jsonpath='.length), objectsForOutput(items, opts.single)));
  else if (output === undefined || output === 'wide') {
    const cols = columnsFor(info.kind, output === 'wide');
    const now = io.now();
    const rows = items.map((o) => [...(opts.allNs && info.namespaced ? [o.metadata.namespace ?? ''] : []), ...cols.row(o as Obj, now)]);
    const header = [...(opts.allNs && info.namespaced ? ['NAMESPACE'] : []), ...cols.header];
    const text = renderTable(header, rows);
    io.out(opts.header ? text : text.slice(text.indexOf('\n') + 1));
  } else throw new WharfError('InvalidArgument', `unable to match a printer suitable for the output format "${output}", allowed formats are: json,jsonpath,name,wide,yaml`);
}

export async function getCommand(client: ClusterClient, args: string[], f: GetFlags, defaultNs: string, io: Io, signal?: AbortSignal): Promise<boolean> {
  const targets = parseTargets(args);
  let ok = true;
  const allNs = f.allNamespaces === true;
  for (const [ti, t] of targets.entries()) {
    const rc = client.resource(apiVersionOf(t.info), t.info.kind);
    const ns = t.info.namespaced ? (allNs && t.names.length === 0 ? undefined : (f.namespace ?? defaultNs)) : undefined;
    let items: KubeObject[] = [];
    let rv = '';
    if (t.names.length) {
      for (const n of t.names) {
        try {
          items.push(await rc.get(ns, n));
        } catch (e) {
          ok = false;
          io.err(`${serverError(e)}\n`);
        }
      }
    } else {
      const l = await rc.listAll({ ...(ns ? { namespace: ns } : {}), ...(f.selector ? { labelSelector: f.selector } : {}), ...(f.fieldSelector ? { fieldSelector: f.fieldSelector } : {}) });
      items = l.items;
      rv = l.resourceVersion;
      if (items.length === 0 && !f.watch && (f.output === undefined || f.output === 'wide')) {
        io.err(t.info.namespaced && ns ? `No resources found in ${ns} namespace.\n` : 'No resources found\n');
        continue;
      }
    }
    if (ti > 0 && (f.output === undefined || f.output === 'wide')) io.out('\n');
    if (items.length || f.output !== undefined) printObjects(io, items, t.info, f.output, { allNs, single: t.names.length === 1, header: true });
    if (f.watch) {
      const headerPrinted = items.length > 0;
      let first = !headerPrinted;
      const fieldSel = [f.fieldSelector, t.names.length === 1 ? `metadata.name=${t.names[0]}` : undefined].filter(Boolean).join(',');
      const ac = new AbortController();
      signal?.addEventListener('abort', () => ac.abort(), { once: true });
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      try {
        for await (const ev of rc.watch({ ...(ns ? { namespace: ns } : {}), ...(f.selector ? { labelSelector: f.selector } : {}), ...(fieldSel ? { fieldSelector: fieldSel } : {}), resourceVersion: rv || '0', signal: ac.signal })) {
          if (ev.type === 'BOOKMARK') continue;
          if (rv === '' && t.names.length && ev.type === 'ADDED') {
            // Named watch: the initial state was printed already.
            const already = items.some((o) => o.metadata.resourceVersion === ev.object.metadata.resourceVersion);
            if (already) continue;
          }
          printObjects(io, [ev.object], t.info, f.output, { allNs, single: true, header: first });
          first = false;
        }
      } finally {
        process.off('SIGINT', stop);
      }
    }
  }
  return ok;
}

// ---------------------------------------------------------------- describe

function kv(map: Record<string, string> | undefined): string {
  const e = Object.entries(map ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join('\n               ') : '<none>';
}

export async function describeObject(client: ClusterClient, info: ResourceInfo, o: KubeObject, io: Io): Promise<void> {
  const m = o.metadata;
  const lines: string[] = [];
  const field = (k: string, v: string) => lines.push(`${`${k}:`.padEnd(15)}${v}`);
  field('Name', m.name ?? '');
  if (info.namespaced) field('Namespace', m.namespace ?? '');
  field('Kind', `${o.kind} (${o.apiVersion})`);
  field('Labels', kv(m.labels));
  field('Annotations', kv(m.annotations));
  field('Created', `${m.creationTimestamp ?? ''} (${age(m.creationTimestamp, io.now())} ago)`);
  if (m.deletionTimestamp) field('Deleting', `${m.deletionTimestamp} (grace ${m.deletionGracePeriodSeconds ?? 0}s)`);
  if (m.finalizers?.length) field('Finalizers', m.finalizers.join(', '));
  if (m.ownerReferences?.length) field('Controlled By', m.ownerReferences.map((r) => `${r.kind}/${r.name}`).join(', '));
  const rest: Obj = { ...(o as Obj) };
  delete rest.apiVersion;
  delete rest.kind;
  delete rest.metadata;
  const body = toYaml(rest).trimEnd();
  io.out(`${lines.join('\n')}\n${body && body !== '{}' ? `${body}\n` : ''}`);
  // Events about this object.
  let events: KubeObject[] = [];
  try {
    const ev = client.resource('v1', 'Event');
    const sel = `involvedObject.name=${m.name ?? ''},involvedObject.kind=${o.kind}${m.uid ? `,involvedObject.uid=${m.uid}` : ''}`;
    events = (await ev.list({ ...(m.namespace ? { namespace: m.namespace } : {}), fieldSelector: sel })).items;
  } catch {
    /* events are best effort (the token may not read them) */
  }
  if (!events.length) io.out('Events:        <none>\n');
  else {
    const now = io.now();
    const rows = events.map((e: Obj) => [e.type ?? '', e.reason ?? '', age(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp, now), e.source?.component ?? e.reportingComponent ?? '', e.message ?? '']);
    io.out(`Events:\n${renderTable(['TYPE', 'REASON', 'AGE', 'FROM', 'MESSAGE'], rows).replace(/^/gm, '  ').trimEnd()}\n`);
  }
}

// ---------------------------------------------------------------- delete

export interface DeleteFlags extends ConnFlags {
  filename?: string[];
  selector?: string;
  all?: boolean;
  cascade?: string;
  gracePeriod?: string;
  now?: boolean;
  ignoreNotFound?: boolean;
  dryRun?: string;
}

export async function deleteCommand(client: ClusterClient, args: string[], f: DeleteFlags, defaultNs: string, io: Io): Promise<boolean> {
  const cascade = (f.cascade ?? 'background').toLowerCase();
  const policy = ({ background: 'Background', foreground: 'Foreground', orphan: 'Orphan', true: 'Background', false: 'Orphan' } as Record<string, 'Background' | 'Foreground' | 'Orphan'>)[cascade];
  if (!policy) throw new WharfError('InvalidArgument', `invalid cascade value (${f.cascade}). Must be "background", "foreground", or "orphan"`);
  const grace = f.now ? 1 : f.gracePeriod !== undefined && Number(f.gracePeriod) >= 0 ? Number(f.gracePeriod) : undefined;
  const dryRun = f.dryRun === 'server';
  const targets: { info: ResourceInfo; ns: string | undefined; name: string }[] = [];
  if (f.filename?.length) {
    for (const m of readManifests(f.filename)) {
      const o = m.object;
      const info = resourceByKind(o.apiVersion, o.kind);
      if (!info) throw new WharfError('NotFound', `no matches for kind "${o.kind}" in version "${o.apiVersion}"`);
      targets.push({ info, ns: info.namespaced ? (o.metadata.namespace ?? f.namespace ?? defaultNs) : undefined, name: o.metadata.name ?? '' });
    }
  } else {
    for (const t of parseTargets(args)) {
      const ns = t.info.namespaced ? (f.namespace ?? defaultNs) : undefined;
      if (t.names.length) for (const n of t.names) targets.push({ info: t.info, ns, name: n });
      else if (f.selector || f.all) {
        const rc = client.resource(apiVersionOf(t.info), t.info.kind);
        const l = await rc.listAll({ ...(ns && !f.allNamespaces ? { namespace: ns } : {}), ...(f.selector ? { labelSelector: f.selector } : {}) });
        for (const o of l.items) targets.push({ info: t.info, ns: o.metadata.namespace, name: o.metadata.name! });
        if (!l.items.length) io.err('No resources found\n');
      } else throw new WharfError('InvalidArgument', 'resource(s) were provided, but no name was specified (use a name, -l SELECTOR or --all)');
    }
  }
  let ok = true;
  for (const t of targets) {
    const rc = client.resource(apiVersionOf(t.info), t.info.kind);
    try {
      await rc.delete(t.ns, t.name, { propagationPolicy: policy, ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}), dryRun });
      io.out(`${typeName(t.info)} "${t.name}" deleted${dryRun ? ' (server dry run)' : ''}\n`);
    } catch (e) {
      if (f.ignoreNotFound && isWharfError(e, 'NotFound')) continue;
      ok = false;
      io.err(`${serverError(e)}\n`);
    }
  }
  return ok;
}

// ---------------------------------------------------------------- describe / api-resources

export async function describeCommand(c: ClusterClient, args: string[], f: GetFlags, defaultNs: string, io: Io): Promise<boolean> {
  let ok = true;
  let first = true;
  for (const t of parseTargets(args)) {
    const rc: ResourceClient = c.resource(apiVersionOf(t.info), t.info.kind);
    const ns = t.info.namespaced ? (f.allNamespaces && !t.names.length ? undefined : (f.namespace ?? defaultNs)) : undefined;
    let objs: KubeObject[] = [];
    if (t.names.length) {
      for (const n of t.names) {
        try {
          objs.push(await rc.get(ns, n));
        } catch (e) {
          ok = false;
          io.err(`${serverError(e)}\n`);
        }
      }
    } else objs = (await rc.listAll({ ...(ns ? { namespace: ns } : {}), ...(f.selector ? { labelSelector: f.selector } : {}) })).items;
    for (const o of objs) {
      if (!first) io.out('\n\n');
      first = false;
      await describeObject(c, t.info, o, io);
    }
  }
  return ok;
}

export function apiResources(io: Io): void {
  const plurals = ['namespaces', 'nodes', 'pods', 'services', 'configmaps', 'secrets', 'events', 'deployments', 'replicasets', 'daemonsets', 'jobs', 'leases', 'workflows'];
  const rows = plurals.map((p) => resourceByAlias(p)!).map((r) => [r.plural, r.shortNames.join(','), apiVersionOf(r), String(r.namespaced), r.kind]);
  io.out(renderTable(['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'], rows));
}

/** Opens a client from the flags and runs `fn`, printing failures kubectl-style (exit code 1). */
export async function withClient(f: ConnFlags, fn: (c: ClusterClient, defaultNs: string, io: Io) => Promise<boolean | void>, io: Io = stdio): Promise<void> {
  let client: ClusterClient | undefined;
  await guarded(
    io,
    async () => {
      const c = connect(f);
      client = c.client;
      return fn(c.client, c.cfg.namespace ?? 'default', io);
    },
    () => client,
  );
}
