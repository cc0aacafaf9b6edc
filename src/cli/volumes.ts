import type { Command } from 'commander';
import { WharfError } from '../core/errors.js';
import { confirm, filtersFromFlags } from './images.js';
import { runClient, withHost, type ClientFlags } from './client.js';
import { formatTable, humanSize } from './output.js';

// `wharf volume create|ls|inspect|rm|prune` with Docker's flags and output. They speak only the
// Docker Engine API (dockerode), so they work against any Docker daemon too.

type Action = (...args: any[]) => Promise<void>;
const collect = (v: string, prev: string[]) => [...prev, v];

interface VolumeJson {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Scope: string;
  CreatedAt?: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

/** `k=v` flags → a map; a key without `=` maps to '' (Docker's opts.ConvertKVStringsToMap). */
export function kvMap(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq === 0) throw new WharfError('InvalidArgument', `invalid key=value: ${JSON.stringify(it)}`);
    if (eq < 0) out[it] = '';
    else out[it.slice(0, eq)] = it.slice(eq + 1);
  }
  return out;
}

/**
 * The subset of Go templates `--format` needs here: `{{.Field}}`, `{{json .Field}}`,
 * `{{json .}}`, `{{index .Labels "k"}}`, `\t` and `\n`. Anything else is refused, never printed raw.
 */
export function renderTemplate(tpl: string, obj: Record<string, unknown>): string {
  const text = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, expr: string) => {
    let m = /^json\s+\.(\w*)$/.exec(expr);
    if (m) return JSON.stringify(m[1] ? obj[m[1]] : obj);
    m = /^index\s+\.(\w+)\s+"([^"]*)"$/.exec(expr);
    if (m) {
      const v = (obj[m[1]!] ?? {}) as Record<string, unknown>;
      return v[m[2]!] === undefined ? '<no value>' : String(v[m[2]!]);
    }
    m = /^\.(\w+)$/.exec(expr);
    if (m) {
      const v = obj[m[1]!];
      if (v === undefined || v === null) return '<no value>';
      if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}=${String(x)}`).join(',');
      return String(v);
    }
    throw new WharfError('InvalidArgument', `template: unsupported expression {{${expr}}} (supported: {{.Field}}, {{json .Field}}, {{index .Labels "key"}})`);
  });
}

/** `docker volume ls` rows keep Labels as `k=v,…` text. */
function listRow(v: VolumeJson): Record<string, unknown> {
  return { ...v, Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','), Links: 'N/A', Size: 'N/A' };
}

function create(flags: ClientFlags & { driver: string; label: string[]; opt: string[]; name?: string }, arg?: string): Promise<void> {
  return runClient(flags, async (docker) => {
    if (arg && flags.name && arg !== flags.name) {
      throw new WharfError('InvalidArgument', `conflicting options: cannot specify a volume-name through both --name and as a positional arg`);
    }
    const name = arg ?? flags.name;
    const v = await docker.createVolume({
      ...(name ? { Name: name } : {}),
      Driver: flags.driver,
      DriverOpts: kvMap(flags.opt),
      Labels: kvMap(flags.label),
    });
    process.stdout.write(`${v.name}\n`);
  });
}

function ls(flags: ClientFlags & { quiet?: boolean; filter: string[]; format?: string }): Promise<void> {
  return runClient(flags, async (docker) => {
    const r = (await docker.listVolumes({ filters: JSON.stringify(filtersFromFlags(flags.filter)) })) as { Volumes: VolumeJson[] | null; Warnings: string[] | null };
    const vols = [...(r.Volumes ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));
    for (const w of r.Warnings ?? []) process.stderr.write(`${w}\n`);
    if (flags.quiet) {
      process.stdout.write(vols.map((v) => `${v.Name}\n`).join(''));
      return;
    }
    const fmt = flags.format;
    if (fmt === 'json') {
      for (const v of vols) process.stdout.write(`${JSON.stringify(listRow(v))}\n`);
      return;
    }
    if (fmt && fmt !== 'table') {
      const tpl = fmt.replace(/^table\s+/, '');
      process.stdout.write(vols.map((v) => `${renderTemplate(tpl, listRow(v))}\n`).join(''));
      return;
    }
    process.stdout.write(formatTable(['DRIVER', 'VOLUME NAME'], vols.map((v) => [v.Driver, v.Name])));
  });
}

function inspect(flags: ClientFlags & { format?: string }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    const out: VolumeJson[] = [];
    let failed: unknown;
    for (const n of names) {
      try {
        out.push((await docker.getVolume(n).inspect()) as VolumeJson);
      } catch (err) {
        failed ??= err;
      }
    }
    if (flags.format) process.stdout.write(out.map((v) => `${renderTemplate(flags.format!, v as unknown as Record<string, unknown>)}\n`).join(''));
    else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    if (failed) throw failed;
  });
}

function rm(flags: ClientFlags & { force?: boolean }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    let failed: unknown;
    for (const n of names) {
      try {
        await docker.getVolume(n).remove({ force: flags.force === true });
        process.stdout.write(`${n}\n`);
      } catch (err) {
        failed ??= err;
      }
    }
    if (failed) throw failed;
  });
}

function prune(flags: ClientFlags & { all?: boolean; force?: boolean; filter: string[] }): Promise<void> {
  return runClient(flags, async (docker) => {
    if (!flags.force) {
      const what = flags.all ? 'all local volumes not used by at least one container' : 'all anonymous local volumes not used by at least one container';
      if (!(await confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue?`))) {
        if (!process.stdin.isTTY) process.stderr.write('not removing anything: confirm on a terminal or pass -f/--force\n');
        return;
      }
    }
    const filters = filtersFromFlags(flags.filter);
    if (flags.all) filters.all = ['true'];
    const r = (await docker.pruneVolumes({ filters: JSON.stringify(filters) })) as { VolumesDeleted: string[] | null; SpaceReclaimed: number };
    if (r.VolumesDeleted?.length) process.stdout.write(`Deleted Volumes:\n${r.VolumesDeleted.map((n) => `${n}\n`).join('')}\n`);
    process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  });
}

/** Registers `wharf volume …`. */
export function registerVolumeCommands(program: Command): Command {
  const volume = program.command('volume').description('manage volumes');
  withHost(volume.command('create [VOLUME]'))
    .description('create a volume')
    .option('-d, --driver <driver>', 'specify volume driver name', 'local')
    .option('--label <label>', 'set metadata for a volume (key=value)', collect, [])
    .option('-o, --opt <option>', 'set driver specific options (type, o, device)', collect, [])
    .option('--name <name>', 'specify volume name')
    .action(((arg: string | undefined, f) => create(f, arg)) as Action);
  withHost(volume.command('ls').alias('list'))
    .description('list volumes')
    .option('-f, --filter <filter>', 'provide filter values (e.g. "dangling=true", "name=…", "label=…", "driver=…")', collect, [])
    .option('--format <format>', '"json", "table", or a Go template such as "{{.Name}}"')
    .option('-q, --quiet', 'only display volume names')
    .action(((f) => ls(f)) as Action);
  withHost(volume.command('inspect <volume...>'))
    .description('display detailed information on one or more volumes')
    .option('-f, --format <format>', 'format the output using a Go template such as "{{.Mountpoint}}"')
    .action(((names: string[], f) => inspect(f, names)) as Action);
  withHost(volume.command('rm <volume...>').alias('remove'))
    .description('remove one or more volumes; a volume in use by a container cannot be removed')
    .option('-f, --force', 'force the removal of one or more volumes')
    .action(((names: string[], f) => rm(f, names)) as Action);
  withHost(volume.command('prune'))
    .description('remove unused local volumes (anonymous ones only, unless -a)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .option('--filter <filter>', 'provide filter values (e.g. "label=<label>")', collect, [])
    .action(((f) => prune(f)) as Action);
  return volume;
}
