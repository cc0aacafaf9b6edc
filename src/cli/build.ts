import type { Command } from 'commander';
import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { WharfError } from '../core/errors.js';
import { isIgnored, parseDockerignore } from '../oci/dockerignore.js';
import { padding, tarHeader, TAR_TRAILER } from '../oci/tar-writer.js';
import { forEachLine, runClient, withHost, type ClientFlags } from './client.js';

// `wharf build`: docker build's flags over the Docker Engine API (POST /build, a tar context),
// so it works against any Docker daemon too. The context is packed here, honouring
// .dockerignore (the Dockerfile and .dockerignore are always sent); a Dockerfile outside the
// context travels inside the tar under a random name, as the docker CLI does.

interface BuildFlags extends ClientFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  label: string[];
  target?: string;
  cache: boolean;
  pull?: boolean;
  quiet?: boolean;
  iidfile?: string;
  platform?: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** The context tar: every file below `dir` not excluded by .dockerignore, owned by root, sorted. */
export function* contextTar(dir: string, opts: { extra?: { name: string; data: Buffer }; keep?: string[] } = {}): Generator<Buffer> {
  let ignoreText = '';
  try {
    ignoreText = readFileSync(join(dir, '.dockerignore'), 'utf8');
  } catch {
    /* none */
  }
  const patterns = parseDockerignore(ignoreText);
  const keep = new Set(['.dockerignore', ...(opts.keep ?? [])]);
  const buf = Buffer.alloc(1 << 20);
  const walk = function* (abs: string, rel: string): Generator<Buffer> {
    for (const n of readdirSync(abs).sort()) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const p = join(abs, n);
      const st = lstatSync(p);
      const ignored = !keep.has(r) && isIgnored(patterns, r);
      if (st.isDirectory()) {
        // an ignored directory may still hold re-included files (`!dir/keep`): descend, write it only if needed
        if (!ignored) yield tarHeader({ name: `${r}/`, type: 'dir', mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) });
        if (!ignored || patterns.some((x) => x.exclusion)) yield* walk(p, r);
        continue;
      }
      if (ignored) continue;
      const mtime = Math.floor(st.mtimeMs / 1000);
      if (st.isSymbolicLink()) yield tarHeader({ name: r, type: 'symlink', linkname: readlinkSync(p), mode: 0o777, mtime });
      else if (st.isFile()) {
        yield tarHeader({ name: r, type: 'file', size: st.size, mode: st.mode & 0o7777, mtime });
        const fd = openSync(p, 'r');
        try {
          let left = st.size;
          while (left > 0) {
            const n2 = readSync(fd, buf, 0, Math.min(buf.length, left), null);
            if (n2 === 0) throw new WharfError('Internal', `${r} shrank while the context was sent`);
            yield Buffer.from(buf.subarray(0, n2));
            left -= n2;
          }
        } finally {
          closeSync(fd);
        }
        yield padding(st.size);
      }
    }
  };
  yield* walk(dir, '');
  if (opts.extra) {
    yield tarHeader({ name: opts.extra.name, type: 'file', size: opts.extra.data.length, mode: 0o644 });
    yield opts.extra.data;
    yield padding(opts.extra.data.length);
  }
  yield TAR_TRAILER;
}

function keyValues(list: string[], what: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new WharfError('InvalidArgument', `invalid ${what} ${JSON.stringify(kv)}`);
    if (eq < 0) {
      // `--build-arg NAME` takes the value from the environment (docker does the same)
      const v = fromEnv ? process.env[kv] : '';
      if (v !== undefined) out[kv] = v;
    } else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

async function build(path: string, flags: BuildFlags): Promise<void> {
  await runClient(flags, async (docker) => {
    if (path === '-' || /^[a-z]+:\/\//.test(path)) throw new WharfError('Unsupported', 'wharf build takes a local directory as the context');
    const dir = resolve(path);
    if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new WharfError('InvalidArgument', `unable to prepare context: path ${JSON.stringify(path)} not found`);
    let dockerfile = 'Dockerfile';
    let extra: { name: string; data: Buffer } | undefined;
    if (flags.file) {
      const abs = resolve(flags.file);
      const rel = relative(dir, abs);
      if (rel.startsWith('..') || rel === '') {
        dockerfile = `.dockerfile.${randomBytes(10).toString('hex')}`;
        extra = { name: dockerfile, data: readFileSync(abs) };
      } else dockerfile = rel;
    }
    const query: Record<string, unknown> = {
      t: flags.tag,
      dockerfile,
      q: flags.quiet ? '1' : '',
      nocache: flags.cache === false ? '1' : '',
      pull: flags.pull ? '1' : '',
      rm: '1',
      version: '1',
    };
    const args = keyValues(flags.buildArg, 'build-arg', true);
    if (Object.keys(args).length) query.buildargs = args;
    const labels = keyValues(flags.label, 'label', false);
    if (Object.keys(labels).length) query.labels = labels;
    if (flags.target) query.target = flags.target;
    if (flags.platform) query.platform = flags.platform;
    const body = Readable.from(contextTar(dir, { keep: [dockerfile], ...(extra ? { extra } : {}) }));
    const res = (await docker.buildImage(body as unknown as NodeJS.ReadableStream, query)) as NodeJS.ReadableStream;
    let id = '';
    let failure: { message: string; code: number } | undefined;
    const handle = (line: string) => {
      if (!line.trim()) return;
      const m = JSON.parse(line) as { stream?: string; aux?: { ID?: string }; error?: string; errorDetail?: { message?: string; code?: number } };
      if (m.error !== undefined || m.errorDetail) {
        failure = { message: m.errorDetail?.message ?? m.error ?? 'build failed', code: m.errorDetail?.code || 1 };
      } else if (m.aux?.ID) id = m.aux.ID;
      else if (m.stream && !flags.quiet) process.stdout.write(m.stream);
    };
    await forEachLine(res, handle);
    if (failure) {
      process.stderr.write(`${failure.message}\n`);
      process.exitCode = failure.code;
      return;
    }
    if (flags.quiet) process.stdout.write(`${id}\n`);
    if (flags.iidfile && id) writeFileSync(flags.iidfile, id);
  });
}

export function registerBuildCommand(program: Command): void {
  withHost(program.command('build'))
    .description('build an image from a Dockerfile (like docker build)')
    .argument('<path>', 'the build context directory')
    .option('-t, --tag <name:tag>', 'name and optionally a tag (repeatable)', collect, [])
    .option('-f, --file <path>', 'the Dockerfile (default PATH/Dockerfile)')
    .option('--build-arg <key=value>', 'set a build-time variable (repeatable)', collect, [])
    .option('--label <key=value>', 'set metadata on the image (repeatable)', collect, [])
    .option('--target <stage>', 'build this stage and stop')
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'accepted for compatibility (Wharf builds from local images)')
    .option('-q, --quiet', 'print only the image ID')
    .option('--iidfile <file>', 'write the image ID to the file')
    .option('--platform <os/arch>', 'target platform (linux/amd64 only)')
    .action(async (path: string, flags: BuildFlags) => build(path, flags));
}
