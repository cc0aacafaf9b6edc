import type { ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { formatOne } from './go-template.js';
import { humanDuration, humanSize } from './output.js';
import { ExitError, type Obj, act, filtersFromFlags, renderList, statusOf } from './container-action.js';

// `wharf ps` and `wharf inspect`.

/** Docker's Status text from a /containers/json row (the daemon's, or rebuilt from State). */
export function portsText(ports: Obj[] | undefined | null): string {
  if (!ports?.length) return '';
  const out: string[] = [];
  const sorted = [...ports].sort((a, b) => (a.PrivatePort - b.PrivatePort) || String(a.Type).localeCompare(String(b.Type)) || String(a.IP ?? '').localeCompare(String(b.IP ?? '')));
  for (const p of sorted) {
    if (p.PublicPort) {
      const ip = p.IP && p.IP.includes(':') ? `[${p.IP}]` : (p.IP ?? '');
      out.push(`${ip}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`);
    } else out.push(`${p.PrivatePort}/${p.Type}`);
  }
  return [...new Set(out)].join(', ');
}

const ellipsis = (s: string, n: number) => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Image: 'IMAGE',
  Command: 'COMMAND',
  CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED',
  Ports: 'PORTS',
  State: 'STATE',
  Status: 'STATUS',
  Size: 'SIZE',
  Names: 'NAMES',
  Labels: 'LABELS',
  Label: 'LABEL',
  Mounts: 'MOUNTS',
  Networks: 'NETWORKS',
  LocalVolumes: 'LOCAL VOLUMES',
};

/** Docker's container list context: what `--format` sees per row. */
export function psContext(c: Obj, opts: { trunc: boolean; now?: number }): Obj {
  const now = opts.now ?? Date.now();
  const labels = (c.Labels ?? {}) as Record<string, string>;
  const names = ((c.Names ?? []) as string[]).map((n) => n.replace(/^\//, '')).filter((n) => !n.includes('/'));
  const command = String(c.Command ?? '');
  const image = String(c.Image ?? '');
  return {
    ID: opts.trunc ? String(c.Id).slice(0, 12) : String(c.Id),
    Image: opts.trunc && image.startsWith('sha256:') ? image.slice(7, 19) : image,
    Command: JSON.stringify(opts.trunc ? ellipsis(command, 20) : command),
    CreatedAt: new Date((c.Created as number) * 1000).toString(),
    RunningFor: `${humanDuration(now - (c.Created as number) * 1000)} ago`,
    Ports: portsText(c.Ports as Obj[]),
    State: c.State ?? '',
    Status: c.Status ?? '',
    Size: c.SizeRw === undefined && c.SizeRootFs === undefined ? '0B' : `${humanSize(c.SizeRw ?? 0)} (virtual ${humanSize(c.SizeRootFs ?? 0)})`,
    Names: names.join(','),
    Labels: Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(','),
    Label: (k: string) => labels[k] ?? '',
    Mounts: ((c.Mounts ?? []) as Obj[]).map((m) => (m.Name ? (opts.trunc ? ellipsis(String(m.Name), 15) : m.Name) : m.Source)).join(','),
    Networks: Object.keys((c.NetworkSettings?.Networks ?? {}) as Obj).sort().join(','),
    LocalVolumes: String(((c.Mounts ?? []) as Obj[]).filter((m) => m.Driver === 'local').length),
  };
}

export async function psCmd(f: ClientFlags & { all?: boolean; quiet?: boolean; last?: string; latest?: boolean; size?: boolean; trunc?: boolean; filter: string[]; format?: string }): Promise<void> {
  await act(f, async (docker) => {
    const filters = filtersFromFlags(f.filter);
    const query: Record<string, unknown> = {};
    if (f.all) query.all = 1;
    let limit = f.last !== undefined ? Number(f.last) : -1;
    if (f.latest) limit = 1;
    if (!Number.isInteger(limit)) throw new ExitError(125, `invalid argument "${f.last}" for "-n, --last" flag: strconv.ParseInt: parsing "${f.last}": invalid syntax`);
    if (limit > 0) query.limit = limit;
    if (f.size) query.size = 1;
    if (Object.keys(filters).length) query.filters = JSON.stringify(filters);
    let list = await dial<Obj[]>(docker, { path: '/containers/json?', method: 'GET', query });
    if (limit > 0) list = list.slice(0, limit); // in case the daemon ignores limit
    const trunc = f.trunc !== false;
    if (f.quiet && !f.format) {
      process.stdout.write(list.map((c) => `${trunc ? String(c.Id).slice(0, 12) : c.Id}\n`).join(''));
      return;
    }
    const rows = list.map((c) => psContext(c, { trunc }));
    const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${f.size ? '\t{{.Size}}' : ''}`;
    process.stdout.write(renderList(f.format, def, rows, PS_HEADERS));
  });
}

// ---- inspect

export async function inspectCmd(names: string[], f: ClientFlags & { format?: string; type?: string; size?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    if (f.type && !['container', 'image'].includes(f.type)) throw new ExitError(1, `"${f.type}" is not a valid value for --type`);
    const out: unknown[] = [];
    const errors: string[] = [];
    for (const n of names) {
      let obj: unknown;
      if (f.type !== 'image') {
        try {
          obj = await dial(docker, { path: `/containers/${encodeURIComponent(n)}/json?`, method: 'GET', query: f.size ? { size: 1 } : {} });
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      if (obj === undefined && f.type !== 'container') {
        try {
          obj = await dial(docker, { path: `/images/${encodeURIComponent(n)}/json`, method: 'GET' });
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      if (obj === undefined) errors.push(`Error: No such ${f.type ?? 'object'}: ${n}`);
      else out.push(obj);
    }
    if (f.format) for (const o of out) process.stdout.write(formatOne(f.format.replace(/\\n/g, '\n').replace(/\\t/g, '\t'), o));
    else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    if (errors.length) throw new ExitError(1, errors.join('\n'));
  });
}
