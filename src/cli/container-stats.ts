import type { ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { humanSize } from './output.js';
import { type Obj, act, inspectContainer, renderList } from './container-action.js';

// `wharf stats`.

export const STATS_HEADERS: Record<string, string> = {
  Container: 'CONTAINER ID',
  ID: 'CONTAINER ID',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

/** go-units BytesSize: binary units, 4 significant digits ("1.5MiB"). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The row docker stats shows for one stats sample (cgroup v1 and v2 memory rules). */
export function statsRow(s: Obj, id: string, name: string): Obj {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 1;
  const cpuPerc = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const mem = s.memory_stats ?? {};
  const st = mem.stats ?? {};
  let usage = mem.usage ?? 0;
  const inactive = st.total_inactive_file ?? st.inactive_file;
  if (inactive !== undefined && inactive < usage) usage -= inactive;
  const limit = mem.limit ?? 0;
  const memPerc = limit > 0 ? (usage / limit) * 100 : 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values((s.networks ?? {}) as Obj)) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let rd = 0;
  let wr = 0;
  for (const e of (s.blkio_stats?.io_service_bytes_recursive ?? []) as Obj[]) {
    const op = String(e.op).toLowerCase();
    if (op === 'read') rd += e.value ?? 0;
    if (op === 'write') wr += e.value ?? 0;
  }
  return {
    Container: id.slice(0, 12),
    ID: id.slice(0, 12),
    Name: name.replace(/^\//, ''),
    CPUPerc: `${cpuPerc.toFixed(2)}%`,
    MemUsage: `${bytesSize(usage)} / ${bytesSize(limit)}`,
    MemPerc: `${memPerc.toFixed(2)}%`,
    NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
    BlockIO: `${humanSize(rd)} / ${humanSize(wr)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export async function statsCmd(names: string[], f: ClientFlags & { all?: boolean; stream?: boolean; format?: string; trunc?: boolean }): Promise<void> {
  await act(f, async (docker) => {
    const targets = async (): Promise<{ id: string; name: string }[]> => {
      if (names.length) {
        const out: { id: string; name: string }[] = [];
        for (const n of names) {
          const c = await inspectContainer(docker, n);
          out.push({ id: c.Id as string, name: c.Name as string });
        }
        return out;
      }
      const list = await dial<Obj[]>(docker, { path: '/containers/json?', method: 'GET', query: f.all ? { all: 1 } : {} });
      return list.map((c) => ({ id: c.Id as string, name: ((c.Names as string[]) ?? [''])[0]! }));
    };
    const sample = async (t: { id: string; name: string }): Promise<Obj> => {
      try {
        const s = await dial<Obj>(docker, { path: `/containers/${t.id.slice(0, 12)}/stats?`, method: 'GET', query: { stream: 0 } });
        return statsRow(s, t.id, t.name);
      } catch (e) {
        if (names.length) throw e;
        return { ...statsRow({}, t.id, t.name), CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
      }
    };
    const render = async () => {
      const ts = await targets();
      const rows = await Promise.all(ts.map(sample));
      if (f.trunc === false) rows.forEach((r, i) => (r.ID = r.Container = ts[i]!.id));
      return renderList(f.format, STATS_TABLE, rows, STATS_HEADERS);
    };
    if (f.stream === false) {
      process.stdout.write(await render());
      return;
    }
    // Live table: redraw every second until interrupted.
    const tty = process.stdout.isTTY;
    let stop = false;
    process.once('SIGINT', () => (stop = true));
    while (!stop) {
      const text = await render();
      process.stdout.write(tty ? `\x1b[2J\x1b[H${text}` : text);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
}
