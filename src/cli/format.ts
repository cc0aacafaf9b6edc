import { WharfError } from '../core/errors.js';
import type { KubeObject } from '../cluster/apis/meta.js';

// Output formats of `wharf get`: kubectl-like tables, ages, and a JSONPath subset.

type Obj = Record<string, any>;

export function age(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** Left-aligned columns separated by three spaces, like kubectl. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export interface Columns {
  header: string[];
  row(o: Obj, now: number): string[];
}

const dash = (v: unknown) => (v === undefined || v === null || v === '' ? '<none>' : String(v));

function podStatus(p: Obj): string {
  if (p.metadata.deletionTimestamp) return 'Terminating';
  for (const c of (p.status?.containerStatuses as Obj[] | undefined) ?? []) {
    if (c.state?.waiting?.reason) return c.state.waiting.reason;
    if (c.state?.terminated?.reason && p.status?.phase !== 'Succeeded') return c.state.terminated.reason;
  }
  return p.status?.reason ?? p.status?.phase ?? 'Unknown';
}

export function columnsFor(kind: string, wide: boolean): Columns {
  const ageCol = (o: Obj, now: number) => age(o.metadata.creationTimestamp, now);
  switch (kind) {
    case 'Pod':
      return {
        header: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(wide ? ['IP', 'NODE'] : [])],
        row: (p, now) => {
          const cs = (p.status?.containerStatuses as Obj[] | undefined) ?? [];
          const ready = cs.filter((c) => c.ready).length;
          const restarts = cs.reduce((n, c) => n + (c.restartCount ?? 0), 0);
          return [p.metadata.name, `${ready}/${(p.spec?.containers as Obj[] | undefined)?.length ?? 0}`, podStatus(p), String(restarts), ageCol(p, now), ...(wide ? [dash(p.status?.podIP), dash(p.spec?.nodeName)] : [])];
        },
      };
    case 'Node':
      return {
        header: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', ...(wide ? ['INTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION'] : [])],
        row: (n, now) => {
          const ready = ((n.status?.conditions as Obj[] | undefined) ?? []).find((c) => c.type === 'Ready');
          let status = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
          if (n.spec?.unschedulable) status += ',SchedulingDisabled';
          const roles = Object.keys(n.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.split('/')[1]).join(',');
          const ip = ((n.status?.addresses as Obj[] | undefined) ?? []).find((a) => a.type === 'InternalIP')?.address;
          return [n.metadata.name, status, roles || '<none>', ageCol(n, now), dash(n.status?.nodeInfo?.kubeletVersion), ...(wide ? [dash(ip), dash(n.status?.nodeInfo?.osImage), dash(n.status?.nodeInfo?.kernelVersion)] : [])];
        },
      };
    case 'Namespace':
      return { header: ['NAME', 'STATUS', 'AGE'], row: (o, now) => [o.metadata.name, o.status?.phase ?? 'Active', ageCol(o, now)] };
    case 'Service':
      return {
        header: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', ...(wide ? ['SELECTOR'] : [])],
        row: (s, now) => [
          s.metadata.name,
          s.spec?.type ?? 'ClusterIP',
          dash(s.spec?.clusterIP),
          (s.spec?.externalIPs as string[] | undefined)?.join(',') || '<none>',
          ((s.spec?.ports as Obj[] | undefined) ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>',
          ageCol(s, now),
          ...(wide ? [Object.entries((s.spec?.selector ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',') || '<none>'] : []),
        ],
      };
    case 'ConfigMap':
      return { header: ['NAME', 'DATA', 'AGE'], row: (o, now) => [o.metadata.name, String(Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length), ageCol(o, now)] };
    case 'Secret':
      return { header: ['NAME', 'TYPE', 'DATA', 'AGE'], row: (o, now) => [o.metadata.name, o.type ?? 'Opaque', String(Object.keys(o.data ?? {}).length), ageCol(o, now)] };
    case 'Event':
      return {
        header: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
        row: (e, now) => [age(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp, now), e.type ?? '', e.reason ?? '', `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`, e.message ?? ''],
      };
    case 'Deployment':
      return {
        header: ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', ...(wide ? ['CONTAINERS', 'IMAGES', 'SELECTOR'] : [])],
        row: (d, now) => [
          d.metadata.name,
          `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
          String(d.status?.updatedReplicas ?? 0),
          String(d.status?.availableReplicas ?? 0),
          ageCol(d, now),
          ...(wide ? containersImagesSelector(d) : []),
        ],
      };
    case 'ReplicaSet':
      return {
        header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE', ...(wide ? ['CONTAINERS', 'IMAGES', 'SELECTOR'] : [])],
        row: (r, now) => [r.metadata.name, String(r.spec?.replicas ?? 0), String(r.status?.replicas ?? 0), String(r.status?.readyReplicas ?? 0), ageCol(r, now), ...(wide ? containersImagesSelector(r) : [])],
      };
    case 'DaemonSet':
      return {
        header: ['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'],
        row: (d, now) => [d.metadata.name, ...['desiredNumberScheduled', 'currentNumberScheduled', 'numberReady', 'updatedNumberScheduled', 'numberAvailable'].map((k) => String(d.status?.[k] ?? 0)), ageCol(d, now)],
      };
    case 'Job':
      return {
        header: ['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE'],
        row: (j, now) => {
          const conds = (j.status?.conditions as Obj[] | undefined) ?? [];
          const status = conds.find((c) => c.type === 'Complete' && c.status === 'True') ? 'Complete' : conds.find((c) => c.type === 'Failed' && c.status === 'True') ? 'Failed' : j.spec?.suspend ? 'Suspended' : 'Running';
          const dur = j.status?.startTime ? age(j.status.startTime, j.status.completionTime ? Date.parse(j.status.completionTime) : now) : '';
          return [j.metadata.name, status, `${j.status?.succeeded ?? 0}/${j.spec?.completions ?? 1}`, dur, ageCol(j, now)];
        },
      };
    case 'CronJob':
      return {
        header: ['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE'],
        row: (c, now) => [
          c.metadata.name,
          c.spec?.schedule ?? '',
          c.spec?.timeZone ?? '<none>',
          c.spec?.suspend ? 'True' : 'False',
          String((c.status?.active as Obj[] | undefined)?.length ?? 0),
          c.status?.lastScheduleTime ? age(c.status.lastScheduleTime, now) : '<none>',
          ageCol(c, now),
        ],
      };
    case 'PriorityClass':
      return { header: ['NAME', 'VALUE', 'GLOBAL-DEFAULT', 'AGE'], row: (c, now) => [c.metadata.name, String(c.value ?? 0), c.globalDefault ? 'true' : 'false', ageCol(c, now)] };
    case 'Lease':
      return { header: ['NAME', 'HOLDER', 'AGE'], row: (l, now) => [l.metadata.name, l.spec?.holderIdentity ?? '', ageCol(l, now)] };
    case 'Workflow':
      return {
        header: ['NAME', 'PHASE', 'TASKS', 'AGE'],
        row: (w, now) => {
          const tasks = Object.values((w.status?.tasks ?? {}) as Record<string, Obj>);
          const done = tasks.filter((t) => t.phase === 'Succeeded').length;
          return [w.metadata.name, w.status?.phase ?? 'Pending', `${done}/${(w.spec?.tasks as Obj[] | undefined)?.length ?? 0}`, ageCol(w, now)];
        },
      };
    default:
      return { header: ['NAME', 'AGE'], row: (o, now) => [o.metadata.name, ageCol(o, now)] };
  }
}

function containersImagesSelector(o: Obj): string[] {
  const cs = (o.spec?.template?.spec?.containers as Obj[] | undefined) ?? [];
  const sel = o.spec?.selector?.matchLabels ?? {};
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image).join(','), Object.entries(sel as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',')];
}

// ---- JSONPath (the subset kubectl users write): {.a.b}, {.a[0]}, {.a[*].b}, {range .items[*]}…{end}, {"\n"}, text

type Tok = { t: 'text'; v: string } | { t: 'expr'; v: string };

function tokenize(tpl: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('{', i);
    if (open < 0) {
      toks.push({ t: 'text', v: tpl.slice(i) });
      break;
    }
    if (open > i) toks.push({ t: 'text', v: tpl.slice(i, open) });
    const close = tpl.indexOf('}', open);
    if (close < 0) throw new WharfError('InvalidArgument', `error parsing jsonpath ${tpl}: unclosed "{"`);
    toks.push({ t: 'expr', v: tpl.slice(open + 1, close).trim() });
    i = close + 1;
  }
  return toks;
}

function evalPath(expr: string, root: unknown, cur: unknown): unknown[] {
  let e = expr;
  let vals: unknown[];
  if (e.startsWith('$')) {
    vals = [root];
    e = e.slice(1);
  } else if (e.startsWith('@')) {
    vals = [cur];
    e = e.slice(1);
  } else vals = [cur];
  const re = /\.([A-Za-z0-9_\-/]+)|\[(\*|-?\d+|'[^']*'|"[^"]*")\]|\.\*/y;
  let pos = 0;
  while (pos < e.length) {
    re.lastIndex = pos;
    const m = re.exec(e);
    if (!m) throw new WharfError('InvalidArgument', `error parsing jsonpath {${expr}}: unsupported syntax at "${e.slice(pos)}"`);
    pos = re.lastIndex;
    const next: unknown[] = [];
    for (const v of vals) {
      if (v === null || typeof v !== 'object') continue;
      if (m[1] !== undefined) next.push((v as Obj)[m[1]]);
      else if (m[0] === '.*' || m[2] === '*') next.push(...(Array.isArray(v) ? v : Object.values(v as Obj)));
      else if (m[2]!.startsWith("'") || m[2]!.startsWith('"')) next.push((v as Obj)[m[2]!.slice(1, -1)]);
      else if (Array.isArray(v)) {
        const n = Number(m[2]);
        next.push(v[n < 0 ? v.length + n : n]);
      }
    }
    vals = next.filter((x) => x !== undefined);
  }
  return vals;
}

const show = (v: unknown) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

export function jsonPath(tpl: string, data: unknown): string {
  const toks = tokenize(tpl);
  const run = (from: number, to: number, cur: unknown): string => {
    let out = '';
    for (let i = from; i < to; i++) {
      const tk = toks[i]!;
      if (tk.t === 'text') {
        out += tk.v;
        continue;
      }
      const v = tk.v;
      if (v.startsWith('range ')) {
        let depth = 1;
        let j = i + 1;
        for (; j < to; j++) {
          const x = toks[j]!;
          if (x.t === 'expr' && x.v.startsWith('range ')) depth++;
          if (x.t === 'expr' && x.v === 'end' && --depth === 0) break;
        }
        if (j >= to) throw new WharfError('InvalidArgument', `error parsing jsonpath ${tpl}: range without end`);
        for (const item of evalPath(v.slice(6).trim(), data, cur)) out += run(i + 1, j, item);
        i = j;
      } else if (/^".*"$/.test(v) || /^'.*'$/.test(v)) {
        out += JSON.parse(v.startsWith("'") ? `"${v.slice(1, -1)}"` : v) as string;
      } else {
        out += evalPath(v, data, cur).map(show).join(' ');
      }
    }
    return out;
  };
  return run(0, toks.length, data);
}

export function objectsForOutput(items: KubeObject[], single: boolean): unknown {
  if (single && items.length === 1) return items[0];
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
}
