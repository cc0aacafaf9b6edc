import type { Command } from 'commander';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { pipeline } from 'node:stream/promises';
import { WharfError } from '../core/errors.js';
import { clientErrorMessage, forEachLine, runClient, withHost, type ClientFlags } from './client.js';
import { ago, formatTable, humanSize, shortImageId, splitRepoTag } from './output.js';
import { progressMeter } from './progress.js';

// Docker-style image commands: `wharf images|load|save|import|tag|rmi` and `wharf image …`.
// They speak only the Docker Engine API (dockerode), so they work against any Docker daemon too.

type Action = (...args: any[]) => Promise<void>;

/** Parses `key=value` Docker filters into the API's `{"key":["value"]}` form. */
export function filtersFromFlags(flags: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new WharfError('InvalidArgument', `bad format of filter (expected name=value): ${f}`);
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** Reads a JSON-lines response (load, import), printing `stream`/`status` lines; throws on `error`. */
async function printJsonMessages(stream: NodeJS.ReadableStream, write: (s: string) => void): Promise<string[]> {
  const seen: string[] = [];
  const handle = (line: string) => {
    if (!line.trim()) return;
    const m = JSON.parse(line) as { stream?: string; status?: string; error?: string; errorDetail?: { message?: string } };
    if (m.error || m.errorDetail) throw new WharfError('Internal', m.errorDetail?.message ?? m.error ?? 'error');
    if (m.stream) {
      write(m.stream);
      seen.push(m.stream.trim());
    } else if (m.status) {
      seen.push(m.status);
    }
  };
  await forEachLine(stream, handle);
  return seen;
}

export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

function imagesList(flags: ClientFlags & { all?: boolean; digests?: boolean; quiet?: boolean; noTrunc?: boolean; filter: string[]; format?: string }, repo?: string): Promise<void> {
  return runClient(flags, async (docker) => {
    const filters = filtersFromFlags(flags.filter);
    if (repo) (filters.reference ??= []).push(repo);
    const list = await docker.listImages({ all: flags.all === true, digests: flags.digests === true, filters: JSON.stringify(filters) });
    if (flags.format === 'json') {
      for (const i of list) process.stdout.write(`${JSON.stringify(i)}\n`);
      return;
    }
    const id = (s: string) => (flags.noTrunc ? s : shortImageId(s));
    if (flags.quiet) {
      process.stdout.write([...new Set(list.map((i) => id(i.Id)))].map((s) => `${s}\n`).join(''));
      return;
    }
    const rows: string[][] = [];
    for (const i of list) {
      const tags = i.RepoTags?.length ? i.RepoTags : ['<none>:<none>'];
      for (const t of tags) {
        const [r, tag] = t === '<none>:<none>' ? ['<none>', '<none>'] : splitRepoTag(t);
        const row = [r, tag];
        if (flags.digests) row.push(i.RepoDigests?.find((d) => d.startsWith(`${r}@`))?.split('@')[1] ?? '<none>');
        row.push(id(i.Id), ago(i.Created), humanSize(i.Size));
        rows.push(row);
      }
    }
    const headers = flags.digests ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
    process.stdout.write(formatTable(headers, rows));
  });
}

function load(flags: ClientFlags & { input?: string; quiet?: boolean }): Promise<void> {
  return runClient(flags, async (docker) => {
    let source: NodeJS.ReadableStream;
    let meter: ReturnType<typeof progressMeter> | undefined;
    if (flags.input) {
      const size = statSync(flags.input).size;
      meter = progressMeter('Loading', size, !flags.quiet && process.stderr.isTTY === true);
      source = createReadStream(flags.input).pipe(meter.stream);
    } else {
      if (process.stdin.isTTY) throw new WharfError('InvalidArgument', 'requested load from stdin, but stdin is empty (use -i FILE)');
      source = process.stdin;
    }
    const res = (await docker.loadImage(source, { quiet: true })) as NodeJS.ReadableStream;
    // Messages are printed after the progress bar is finished, so they do not share its line.
    let out = '';
    try {
      await printJsonMessages(res, (s) => (out += s));
    } finally {
      meter?.done();
      process.stdout.write(out);
    }
  });
}

function save(flags: ClientFlags & { output?: string }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    if (!flags.output && process.stdout.isTTY) {
      throw new WharfError('InvalidArgument', 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    // dockerode has GET /images/get?names= but its typings miss it.
    const tar = await (docker as unknown as { getImages(o: { names: string[] }): Promise<NodeJS.ReadableStream> }).getImages({ names });
    if (!flags.output) {
      await pipeline(tar, process.stdout);
      return;
    }
    // Written to a temp file and renamed: a failed save never leaves a truncated archive behind.
    const tmp = `${flags.output}.wharf-tmp-${process.pid}`;
    const meter = progressMeter('Saving', undefined);
    try {
      await pipeline(tar, meter.stream, createWriteStream(tmp));
      await rename(tmp, flags.output);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      meter.done();
    }
  });
}

function importCmd(flags: ClientFlags & { change: string[]; message?: string; platform?: string }, file: string, ref?: string): Promise<void> {
  return runClient(flags, async (docker) => {
    const opts: Record<string, unknown> = { changes: flags.change };
    if (ref) {
      const [repo, tag] = splitRepoTag(ref);
      opts.repo = repo;
      if (tag !== '<none>') opts.tag = tag;
    }
    if (flags.message) opts.message = flags.message;
    if (flags.platform) opts.platform = flags.platform;
    let source: NodeJS.ReadableStream;
    let meter: ReturnType<typeof progressMeter> | undefined;
    if (file === '-') source = process.stdin;
    else {
      meter = progressMeter('Importing', statSync(file).size);
      source = createReadStream(file).pipe(meter.stream);
    }
    const res = (await docker.importImage(source, opts)) as NodeJS.ReadableStream;
    try {
      const seen = await printJsonMessages(res, (s) => process.stdout.write(s));
      const id = seen.find((s) => s.startsWith('sha256:'));
      if (id) process.stdout.write(`${id}\n`);
    } finally {
      meter?.done();
    }
  });
}

function tag(flags: ClientFlags, source: string, target: string): Promise<void> {
  return runClient(flags, async (docker) => {
    const [repo, t] = splitRepoTag(target);
    await docker.getImage(source).tag({ repo, tag: t === '<none>' ? 'latest' : t });
  });
}

function rmi(flags: ClientFlags & { force?: boolean; prune?: boolean }, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    let failed = false;
    for (const n of names) {
      try {
        const items = (await docker.getImage(n).remove({ force: flags.force === true, noprune: flags.prune === false })) as (
          | { Untagged: string }
          | { Deleted: string }
        )[];
        for (const i of items) process.stdout.write('Untagged' in i ? `Untagged: ${i.Untagged}\n` : `Deleted: ${i.Deleted}\n`);
      } catch (err) {
        failed = true;
        process.stderr.write(`${clientErrorMessage(err)}\n`);
      }
    }
    if (failed) process.exitCode = 1;
  });
}

function inspect(flags: ClientFlags, names: string[]): Promise<void> {
  return runClient(flags, async (docker) => {
    const out: unknown[] = [];
    let failed: unknown;
    for (const n of names) {
      try {
        out.push(await docker.getImage(n).inspect());
      } catch (err) {
        failed ??= err;
      }
    }
    process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    if (failed) throw failed;
  });
}

function history(flags: ClientFlags & { noTrunc?: boolean; quiet?: boolean; human?: string }, name: string): Promise<void> {
  return runClient(flags, async (docker) => {
    const rows = (await docker.getImage(name).history()) as { Id: string; Created: number; CreatedBy: string; Size: number; Comment: string }[];
    const id = (s: string) => (s === '<missing>' || flags.noTrunc ? s : shortImageId(s));
    if (flags.quiet) {
      process.stdout.write(rows.map((r) => `${id(r.Id)}\n`).join(''));
      return;
    }
    const human = String(flags.human) !== 'false';
    const by = (s: string) => (flags.noTrunc || s.length <= 45 ? s : `${s.slice(0, 44)}…`);
    process.stdout.write(
      formatTable(
        ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
        rows.map((r) => [
          id(r.Id),
          human ? ago(r.Created) : new Date(r.Created * 1000).toISOString(),
          by(r.CreatedBy.replace(/\s+/g, ' ')),
          human ? humanSize(r.Size) : String(r.Size),
          r.Comment,
        ]),
      ),
    );
  });
}

function prune(flags: ClientFlags & { all?: boolean; force?: boolean; filter: string[] }): Promise<void> {
  return runClient(flags, async (docker) => {
    if (!flags.force) {
      const what = flags.all ? 'all images without at least one container associated to them' : 'all dangling images';
      if (!(await confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue?`))) {
        if (!process.stdin.isTTY) process.stderr.write('not removing anything: confirm on a terminal or pass -f/--force\n');
        return;
      }
    }
    const filters = filtersFromFlags(flags.filter);
    if (flags.all) filters.dangling = ['false'];
    const r = (await docker.pruneImages({ filters: JSON.stringify(filters) })) as {
      ImagesDeleted: ({ Untagged?: string; Deleted?: string })[] | null;
      SpaceReclaimed: number;
    };
    if (r.ImagesDeleted?.length) {
      process.stdout.write('Deleted Images:\n');
      for (const i of r.ImagesDeleted) process.stdout.write(i.Untagged ? `untagged: ${i.Untagged}\n` : `deleted: ${i.Deleted}\n`);
      process.stdout.write('\n');
    }
    process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  });
}

/** Builders, so each command exists both top-level (`wharf images`) and under `wharf image`. */
const builders: Record<string, (parent: Command, name: string) => Command> = {
  ls: (p, n) =>
    withHost(p.command(`${n} [REPOSITORY[:TAG]]`))
      .description('list images')
      .option('-a, --all', 'show all images')
      .option('--digests', 'show digests')
      .option('-f, --filter <filter>', 'filter output (dangling=true, reference=…, label=…, before=…, since=…)', collect, [])
      .option('--format <format>', '"json" for one JSON object per line')
      .option('--no-trunc', "don't truncate output")
      .option('-q, --quiet', 'only show image IDs')
      .action(((repo: string | undefined, f) => imagesList(f, repo)) as Action),
  load: (p, n) =>
    withHost(p.command(n))
      .description('load an image from a tar archive or STDIN')
      .option('-i, --input <file>', 'read from tar archive file, instead of STDIN')
      .option('-q, --quiet', 'suppress the load output')
      .action(((f) => load(f)) as Action),
  save: (p, n) =>
    withHost(p.command(`${n} <image...>`))
      .description('save one or more images to a tar archive (streamed to STDOUT by default)')
      .option('-o, --output <file>', 'write to a file, instead of STDOUT')
      .action(((names: string[], f) => save(f, names)) as Action),
  import: (p, n) =>
    withHost(p.command(`${n} <file> [REPOSITORY[:TAG]]`))
      .description('import the contents from a tarball (or - for STDIN) to create a filesystem image')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction to the created image', collect, [])
      .option('-m, --message <message>', 'set commit message for imported image')
      .option('--platform <platform>', 'set platform (os/arch[/variant])')
      .action(((file: string, ref: string | undefined, f) => importCmd(f, file, ref)) as Action),
  tag: (p, n) =>
    withHost(p.command(`${n} <source> <target>`))
      .description('create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
      .action(((s: string, t: string, f) => tag(f, s, t)) as Action),
  rm: (p, n) =>
    withHost(p.command(`${n} <image...>`))
      .description('remove one or more images')
      .option('-f, --force', 'force removal of the image')
      .option('--no-prune', 'do not delete untagged parents')
      .action(((names: string[], f) => rmi(f, names)) as Action),
  inspect: (p, n) =>
    withHost(p.command(`${n} <image...>`))
      .description('display detailed information on one or more images')
      .action(((names: string[], f) => inspect(f, names)) as Action),
  history: (p, n) =>
    withHost(p.command(`${n} <image>`))
      .description('show the history of an image')
      .option('--no-trunc', "don't truncate output")
      .option('-q, --quiet', 'only show image IDs')
      .option('--human <bool>', 'print sizes and dates in human readable format (true|false)', 'true')
      .action(((name: string, f) => history(f, name)) as Action),
  prune: (p, n) =>
    withHost(p.command(n))
      .description('remove unused images')
      .option('-a, --all', 'remove all unused images, not just dangling ones')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--filter <filter>', 'provide filter values (e.g. "until=<timestamp>", "label=…")', collect, [])
      .action(((f) => prune(f)) as Action),
};

/** Registers the image commands; returns `wharf image` so other areas can add subcommands. */
export function registerImageCommands(program: Command): Command {
  builders.ls!(program, 'images');
  builders.load!(program, 'load');
  builders.save!(program, 'save');
  builders.import!(program, 'import');
  builders.tag!(program, 'tag');
  builders.rm!(program, 'rmi');
  const image = program.command('image').description('manage images');
  builders.ls!(image, 'ls');
  builders.load!(image, 'load');
  builders.save!(image, 'save');
  builders.import!(image, 'import');
  builders.tag!(image, 'tag');
  builders.rm!(image, 'rm');
  builders.inspect!(image, 'inspect');
  builders.history!(image, 'history');
  builders.prune!(image, 'prune');
  return image;
}
