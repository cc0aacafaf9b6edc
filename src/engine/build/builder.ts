import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, type Stats } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { WharfError, errorMessage, isWharfError } from '../../core/errors.js';
import type { Mount } from '../snapshots/snapshotter.js';
import { shortId } from '../../core/ids.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { EngineDb } from '../db.js';
import type { BlobWriter } from '../../oci/content-store.js';
import type { ImageConfigDoc, ImageRuntimeConfig } from '../images/types.js';
import { tagReference } from '../../oci/reference.js';
import { parseSignal } from '../runtime/signals.js';
import type { CreateOptions } from '../runtime/spec.js';
import { ensureWhiteoutTemplate, unpackLayer, detectCompression } from '../snapshots/unpack.js';
import { parseDockerfile, parseJsonArray, type Instruction } from './dockerfile.js';
import { cleanPath, hasExceptionsBelow, isIgnored, parseDockerignore, type IgnorePattern } from '../../oci/dockerignore.js';
import { envLookup, parseKeyValues, processWord, processWords, setEnv, type Lookup } from './expand.js';
import { writeLayerFromUpper } from './layer-diff.js';
import { copyTree, mkdirInRoot, resolveChown, resolveInRoot, treeChecksum } from './rootfs.js';

// The classic Dockerfile builder as a library: context tar → stages → one committed image per
// step (Docker's intermediate images, parent-linked, hidden from `docker images`), RUN steps in
// real Wharf containers (no network), COPY/ADD/WORKDIR applied on an overlay mount of the parent
// image, each layer taken from the overlay upper directory. A step's cache key is Docker's:
// the parent image + the expanded instruction (+ the used ARG values for RUN, + the content
// checksum of the sources for COPY/ADD); a hit reuses the committed image without running anything.

/** What the builder needs from the image store (ImageService implements it). */
export interface BuildImages {
  inspect(ref: string): Promise<{ id: string }>;
  configDoc(ref: string): ImageConfigDoc;
  chainIds(imageId: string): string[];
  readonly layers: { path(chainId: string): string; readonly whiteoutTemplate: string };
  layerWriter(): BlobWriter;
  commitBuild(opts: { parentId?: string; config: ImageConfigDoc; layer?: { file: string; digest: string; size: number }; signal?: AbortSignal }): Promise<string>;
  tag(ref: string, repo: string, tag?: string): Promise<void>;
}

/** The stream a RUN step's output comes on (AttachStream satisfies it). */
export interface BuildAttach {
  on(ev: 'stdout' | 'stderr', fn: (b: Buffer) => void): unknown;
  on(ev: 'end', fn: () => void): unknown;
  close(): void;
}

/** What the builder needs from the container engine (ContainerService implements it). */
export interface BuildContainers {
  create(req: { name?: string; image: string; options: CreateOptions; labels?: Record<string, string> }): Promise<{ id: string }>;
  attachAtStart(ref: string, signal?: AbortSignal): Promise<BuildAttach>;
  start(ref: string): Promise<void>;
  wait(ref: string, condition?: 'not-running' | 'next-exit' | 'removed', signal?: AbortSignal): Promise<{ exitCode: number; error?: string }>;
  kill(ref: string, signal?: string): Promise<void>;
  remove(ref: string, opts?: { force?: boolean; removeVolumes?: boolean }): Promise<void>;
  list(opts?: { all?: boolean }): { id: string; request: { labels?: Record<string, string> } }[];
}

export interface BuildOptions {
  /** Path of the Dockerfile inside the context (default `Dockerfile`). */
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string | null>;
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  quiet?: boolean;
  platform?: string;
  signal?: AbortSignal;
}

/** Where the builder writes Docker's build output. */
export interface BuildOutput {
  /** Text for `{"stream": …}` lines. */
  stream(text: string): void;
  /** `{"aux": …}` lines (the image ID). */
  aux(value: unknown): void;
}

export interface BuildResult {
  id: string;
  tags: string[];
}

/**
 * The mount step the builder shares with containers (OverlaySnapshotter implements it): mount
 * descriptions of a temporary view of an image, and the one mount/unmount helper.
 */
export interface BuildMounts {
  viewMounts(imageId: string, writable?: { upper: string; work: string }): Mount[];
  mount(mounts: Mount[], target: string): Promise<void>;
  unmount(target: string, opts?: { lazy?: boolean }): Promise<void>;
}

export interface BuilderOptions {
  dataRoot: string;
  mounts: BuildMounts;
  db: EngineDb;
  images: BuildImages;
  containers: BuildContainers;
  logger: Logger;
  clock?: Clock;
  /** Largest context accepted (uncompressed bytes; default 4 GiB). */
  maxContextSize?: number;
}

/** An error of a RUN step: the JSON error carries the command's exit code (the docker CLI exits with it). */
export class BuildStepError extends WharfError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('InvalidArgument', message);
  }
}

export const BUILD_LABEL = 'io.wharf.build';

const PREDEFINED_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const CACHE_MIGRATIONS = [
  {
    name: 'build cache',
    up: (db: EngineDb['sql']) => db.exec('CREATE TABLE build_cache (key TEXT PRIMARY KEY, image_id TEXT NOT NULL, created_at INTEGER NOT NULL)'),
  },
];

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  instructions: Instruction[];
}

interface StageState {
  /** Current image (undefined: scratch, nothing committed yet). */
  imageId: string | undefined;
  doc: ImageConfigDoc;
  cfg: ImageRuntimeConfig;
  /** ARGs declared in this stage and their values (undefined: declared without a value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

interface Ctx {
  dir: string;
  work: string;
  ignore: IgnorePattern[];
  /** .dockerignore: files not excluded; directories also when an exception may re-include something below. */
  include: (rel: string, isDir: boolean) => boolean;
  opts: BuildOptions;
  out: BuildOutput;
  escape: string;
  metaArgs: Map<string, string | undefined>;
  usedArgs: Set<string>;
  stageImages: Map<string, string | undefined>;
  step: number;
  total: number;
  seq: number;
}

export class Builder {
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: BuilderOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'build' });
    opts.db.migrate('build', CACHE_MIGRATIONS);
  }

  private get root(): string {
    return join(this.opts.dataRoot, 'build');
  }

  /** Start-up: unmounts and removes what an interrupted build left (work dirs, build containers). */
  async recover(): Promise<void> {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${this.root}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await this.opts.mounts.unmount(m, { lazy: true }).catch(() => undefined);
    if (existsSync(this.root)) for (const n of readdirSync(this.root)) rmSync(join(this.root, n), { recursive: true, force: true });
    for (const c of this.opts.containers.list({ all: true })) {
      if (c.request.labels?.[BUILD_LABEL] !== undefined) await this.opts.containers.remove(c.id, { force: true, removeVolumes: true }).catch(() => undefined);
    }
  }

  /** Checks the options that need no context (tags, platform): bad input changes nothing. */
  validate(opts: BuildOptions): void {
    for (const t of opts.tags ?? []) if (t !== '') tagReference(t);
    if (opts.platform) checkPlatform(opts.platform);
  }

  /** Forgets every cached step (the intermediate images stay until their final image is removed). */
  async pruneCache(): Promise<{ deleted: string[] }> {
    const rows = this.opts.db.sql.prepare('SELECT key FROM build_cache').all() as { key: string }[];
    this.opts.db.sql.prepare('DELETE FROM build_cache').run();
    return { deleted: rows.map((r) => r.key) };
  }

  async build(context: Readable, opts: BuildOptions, out: BuildOutput): Promise<BuildResult> {
    this.validate(opts);
    const tags = (opts.tags ?? []).filter((t) => t !== '');
    const work = join(this.root, randomBytes(8).toString('hex'));
    const dir = join(work, 'context');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      await this.extractContext(context, dir, opts.signal);
      const dfPath = opts.dockerfile && opts.dockerfile !== '' ? opts.dockerfile : 'Dockerfile';
      const dfText = await this.readDockerfile(dir, dfPath);
      const df = parseDockerfile(dfText);
      const ignoreText = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => '');
      const ignore = parseDockerignore(ignoreText);
      const stages = splitStages(df.instructions);
      const ctx: Ctx = {
        dir,
        work,
        ignore,
        include: (rel, isDir) => !isIgnored(ignore, rel) || (isDir && hasExceptionsBelow(ignore, rel)),
        opts,
        out,
        escape: df.escape,
        metaArgs: new Map(),
        usedArgs: new Set(),
        stageImages: new Map(),
        step: 0,
        total: df.instructions.length,
        seq: 0,
      };
      // Meta ARGs (before the first FROM): only for FROM lines, and as defaults for `ARG NAME` in stages.
      for (const instr of stages.meta) {
        ctx.step++;
        this.say(ctx, `Step ${ctx.step}/${ctx.total} : ${instr.original}\n`);
        for (const { key, value } of parseKeyValues(instr.args, 'ARG', this.argLookup(ctx, new Map()), ctx.escape)) {
          ctx.metaArgs.set(key, opts.buildArgs?.[key] ?? value);
        }
      }
      let targetIndex = stages.stages.length - 1;
      if (opts.target) {
        targetIndex = stages.stages.findIndex((s) => s.name === opts.target!.toLowerCase());
        if (targetIndex < 0) throw new WharfError('InvalidArgument', `failed to reach build target ${opts.target} in Dockerfile`);
        ctx.total = stages.meta.length + stages.stages.slice(0, targetIndex + 1).reduce((n, s) => n + 1 + s.instructions.length, 0);
      }
      let final: StageState | undefined;
      for (const st of stages.stages.slice(0, targetIndex + 1)) {
        final = await this.buildStage(ctx, st);
        ctx.stageImages.set(String(st.index), final.imageId);
        if (st.name) ctx.stageImages.set(st.name, final.imageId);
      }
      if (opts.labels && Object.keys(opts.labels).length > 0) {
        const labels = Object.entries(opts.labels).map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
        await this.commitMeta(ctx, final!, `LABEL ${labels}`, () => {
          final!.cfg.Labels = { ...(final!.cfg.Labels ?? {}), ...opts.labels };
        });
      }
      const id = final!.imageId;
      if (id === undefined) throw new WharfError('InvalidArgument', 'No image was generated. Is your Dockerfile empty?');
      const unused = Object.keys(opts.buildArgs ?? {}).filter((k) => !ctx.usedArgs.has(k) && !PREDEFINED_ARGS.has(k) && !ctx.metaArgs.has(k));
      if (unused.length) this.say(ctx, `[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
      out.aux({ ID: id });
      if (opts.quiet) out.stream(`${id}\n`);
      this.say(ctx, `Successfully built ${shortId(id)}\n`);
      for (const t of tags) {
        await this.opts.images.tag(id, t);
        this.say(ctx, `Successfully tagged ${t.includes(':') && !/\/[^:]*$/.test(t.slice(t.lastIndexOf(':'))) ? t : `${t}:latest`}\n`);
      }
      return { id, tags };
    } finally {
      await this.cleanupWork(work);
    }
  }

  private say(ctx: Ctx, text: string): void {
    if (!ctx.opts.quiet) ctx.out.stream(text);
  }

  private async cleanupWork(work: string): Promise<void> {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${work}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await this.opts.mounts.unmount(m).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }

  private async extractContext(context: Readable, dir: string, signal?: AbortSignal): Promise<void> {
    const template = await ensureWhiteoutTemplate(this.opts.images.layers.whiteoutTemplate);
    const max = this.opts.maxContextSize ?? 4 * 1024 ** 3;
    // The unpacker destroys its source on error: give it a pipe, never the request itself (the
    // response still has to be written on that connection); the rest of the body is drained.
    const src = new PassThrough();
    let received = 0;
    context.on('data', (c: Buffer) => (received += c.length));
    context.pipe(src);
    context.on('error', (e) => src.destroy(e));
    try {
      await unpackLayer(src, dir, { whiteoutTemplate: template, limits: { maxTotalSize: max, maxEntrySize: max, maxEntries: 1_000_000 }, ...(signal ? { signal } : {}) });
    } catch (err) {
      context.unpipe(src);
      context.resume();
      if (received === 0) throw new WharfError('InvalidArgument', 'the build context is empty: send a tar archive with a Dockerfile');
      if (isWharfError(err, 'TooLarge')) throw new WharfError('TooLarge', `build context too large: ${err.message}`);
      if (isWharfError(err)) throw new WharfError(err.kind, `invalid build context: ${err.message.replace(/^unsafe or invalid layer: /, '')}`);
      throw err;
    }
  }

  private async readDockerfile(dir: string, name: string): Promise<string> {
    const clean = cleanPath(name.replace(/^\/+/, ''));
    if (clean === '..' || clean.startsWith('../')) throw new WharfError('InvalidArgument', `the Dockerfile (${name}) must be within the build context`);
    const read = async (n: string) => {
      const p = resolveInRoot(dir, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st?.isFile()) return undefined;
      if (st.size > 16 * 1024 * 1024) throw new WharfError('TooLarge', `the Dockerfile (${name}) is larger than 16 MiB`);
      return readFile(p, 'utf8');
    };
    const text = (await read(clean)) ?? (name === 'Dockerfile' || name === '' ? await read('dockerfile') : undefined);
    if (text === undefined) throw new WharfError('InvalidArgument', `Cannot locate specified Dockerfile: ${name}`);
    return text;
  }

  // ---------- stages ----------

  private argLookup(ctx: Ctx, args: Map<string, string | undefined>, env?: Lookup): Lookup {
    return (name) => {
      const e = env?.(name);
      if (e !== undefined) return e;
      if (args.has(name)) {
        ctx.usedArgs.add(name);
        return args.get(name);
      }
      if (!env && ctx.metaArgs.has(name)) return ctx.metaArgs.get(name);
      return undefined;
    };
  }

  private stageLookup(ctx: Ctx, s: StageState): Lookup {
    return this.argLookup(ctx, s.args, envLookup(s.cfg.Env ?? []));
  }

  private async buildStage(ctx: Ctx, st: Stage): Promise<StageState> {
    const from = st.from;
    ctx.step++;
    this.say(ctx, `Step ${ctx.step}/${ctx.total} : ${from.original}\n`);
    for (const f of from.flags) {
      if (f.name !== 'platform') throw new WharfError('InvalidArgument', `FROM: unknown flag: --${f.name}`);
      checkPlatform(processWord(f.value ?? '', this.argLookup(ctx, new Map()), ctx.escape));
    }
    const words = processWords(from.args, this.argLookup(ctx, new Map()), ctx.escape);
    if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === 'as')) {
      throw new WharfError('InvalidArgument', `FROM requires either one or three arguments (line ${from.line})`);
    }
    const base = words[0]!;
    if (base === '') throw new WharfError('InvalidArgument', `FROM: base name (${from.args}) should not be blank`);
    let state: StageState;
    const stageRef = ctx.stageImages.has(base.toLowerCase()) ? base.toLowerCase() : undefined;
    if (base.toLowerCase() === 'scratch' && !stageRef) {
      state = {
        imageId: undefined,
        doc: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, history: [] },
        cfg: { Env: [DEFAULT_PATH] },
        args: new Map(),
        cmdSet: false,
      };
      this.say(ctx, ' ---> \n');
    } else {
      let id: string | undefined;
      if (stageRef) id = ctx.stageImages.get(stageRef);
      else {
        try {
          id = (await this.opts.images.inspect(base)).id;
        } catch (err) {
          if (isWharfError(err, 'NotFound')) {
            throw new WharfError('NotFound', `pull access denied for ${base}: the image is not present locally and Wharf builds offline (load or pull it first)`);
          }
          throw err;
        }
      }
      if (id === undefined) {
        state = { imageId: undefined, doc: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, history: [] }, cfg: { Env: [DEFAULT_PATH] }, args: new Map(), cmdSet: false };
      } else {
        const doc = this.opts.images.configDoc(id);
        if (doc.architecture !== 'amd64' || doc.os !== 'linux') {
          throw new WharfError('InvalidArgument', `FROM ${base}: the image is for ${doc.os}/${doc.architecture}; Wharf builds linux/amd64 only`);
        }
        const cfg: ImageRuntimeConfig = structuredClone(doc.config ?? {});
        if (!cfg.Env || cfg.Env.length === 0) cfg.Env = [DEFAULT_PATH];
        state = { imageId: id, doc: structuredClone(doc), cfg, args: new Map(), cmdSet: false };
      }
      this.say(ctx, ` ---> ${state.imageId ? shortId(state.imageId) : ''}\n`);
    }
    // ONBUILD triggers of the base run first, then are cleared.
    const triggers = state.cfg.OnBuild ?? [];
    state.cfg.OnBuild = null;
    if (triggers.length) {
      this.say(ctx, `# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      for (const t of triggers) {
        const parsed = parseDockerfile(t).instructions;
        for (const instr of parsed) {
          if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(instr.name)) throw new WharfError('InvalidArgument', `${instr.name} isn't allowed as an ONBUILD trigger`);
          await this.runInstruction(ctx, state, instr, true);
        }
      }
    }
    for (const instr of st.instructions) {
      ctx.step++;
      this.say(ctx, `Step ${ctx.step}/${ctx.total} : ${instr.original}\n`);
      await this.runInstruction(ctx, state, instr, false);
    }
    return state;
  }

  // ---------- instructions ----------

  private cacheKey(parent: string | undefined, parts: unknown[]): string {
    return createHash('sha256').update(JSON.stringify([parent ?? 'scratch', ...parts])).digest('hex');
  }

  private async cacheGet(ctx: Ctx, key: string): Promise<string | undefined> {
    if (ctx.opts.noCache) return undefined;
    const row = this.opts.db.sql.prepare('SELECT image_id FROM build_cache WHERE key = ?').get(key) as { image_id: string } | undefined;
    if (!row) return undefined;
    try {
      return (await this.opts.images.inspect(row.image_id)).id;
    } catch {
      this.opts.db.sql.prepare('DELETE FROM build_cache WHERE key = ?').run(key);
      return undefined;
    }
  }

  private cachePut(key: string, id: string): void {
    this.opts.db.sql.prepare('INSERT OR REPLACE INTO build_cache (key, image_id, created_at) VALUES (?, ?, ?)').run(key, id, this.clock.now());
  }

  /** Adopts a cached image as the stage's state. */
  private adopt(ctx: Ctx, s: StageState, id: string): void {
    const doc = this.opts.images.configDoc(id);
    s.imageId = id;
    s.doc = structuredClone(doc);
    s.cfg = structuredClone(doc.config ?? {});
    this.say(ctx, ` ---> Using cache\n ---> ${shortId(id)}\n`);
  }

  private async commit(ctx: Ctx, s: StageState, createdBy: string, key: string, layer?: { file: string; digest: string; size: number }): Promise<void> {
    const created = new Date(this.clock.now()).toISOString();
    const doc: ImageConfigDoc = {
      architecture: s.doc.architecture || 'amd64',
      os: s.doc.os || 'linux',
      created,
      config: s.cfg,
      rootfs: { type: 'layers', diff_ids: [...s.doc.rootfs.diff_ids, ...(layer ? [layer.digest] : [])] },
      history: [...(s.doc.history ?? []), { created, created_by: createdBy, ...(layer ? {} : { empty_layer: true }) }],
    };
    if (s.doc.author) doc.author = s.doc.author;
    if (s.imageId) doc.parent = s.imageId;
    const id = await this.opts.images.commitBuild({ ...(s.imageId ? { parentId: s.imageId } : {}), config: doc, ...(layer ? { layer } : {}), ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}) });
    this.cachePut(key, id);
    s.imageId = id;
    s.doc = doc;
    s.cfg = structuredClone(doc.config ?? {});
    this.say(ctx, ` ---> ${shortId(id)}\n`);
  }

  /** A metadata-only step: cached by parent + text; `apply` changes `s.cfg`. */
  private async commitMeta(ctx: Ctx, s: StageState, text: string, apply: () => void): Promise<void> {
    const createdBy = `/bin/sh -c #(nop)  ${text}`;
    const key = this.cacheKey(s.imageId, ['meta', createdBy]);
    const hit = await this.cacheGet(ctx, key);
    if (hit) return this.adopt(ctx, s, hit);
    apply();
    await this.commit(ctx, s, createdBy, key);
  }

  private async runInstruction(ctx: Ctx, s: StageState, instr: Instruction, trigger: boolean): Promise<void> {
    ctx.opts.signal?.throwIfAborted();
    const lookup = this.stageLookup(ctx, s);
    const noFlags = () => {
      if (instr.flags.length) throw new WharfError('InvalidArgument', `${instr.name}: unknown flag: --${instr.flags[0]!.name}`);
    };
    const where = `line ${instr.line}`;
    switch (instr.name) {
      case 'ENV': {
        const kvs = parseKeyValues(instr.args, 'ENV', lookup, ctx.escape);
        return this.commitMeta(ctx, s, `ENV ${kvs.map((k) => `${k.key}=${k.value ?? ''}`).join(' ')}`, () => {
          let env = s.cfg.Env ?? [];
          for (const { key, value } of kvs) env = setEnv(env, key, value ?? '');
          s.cfg.Env = env;
        });
      }
      case 'LABEL': {
        const kvs = parseKeyValues(instr.args, 'LABEL', lookup, ctx.escape);
        return this.commitMeta(ctx, s, `LABEL ${kvs.map((k) => `${k.key}=${k.value ?? ''}`).join(' ')}`, () => {
          s.cfg.Labels = { ...(s.cfg.Labels ?? {}) };
          for (const { key, value } of kvs) s.cfg.Labels[key] = value ?? '';
        });
      }
      case 'MAINTAINER': {
        const who = instr.args.trim();
        return this.commitMeta(ctx, s, `MAINTAINER ${who}`, () => {
          s.doc.author = who;
        });
      }
      case 'ARG': {
        const kvs = parseKeyValues(instr.args, 'ARG', lookup, ctx.escape);
        for (const { key, value } of kvs) {
          const given = ctx.opts.buildArgs && Object.hasOwn(ctx.opts.buildArgs, key) ? ctx.opts.buildArgs[key] : undefined;
          const v = given ?? value ?? (ctx.metaArgs.has(key) ? ctx.metaArgs.get(key) : undefined);
          s.args.set(key, v ?? undefined);
          if (given !== undefined) ctx.usedArgs.add(key);
        }
        return this.commitMeta(ctx, s, `ARG ${kvs.map((k) => (k.value === undefined ? k.key : `${k.key}=${k.value}`)).join(' ')}`, () => undefined);
      }
      case 'WORKDIR': {
        noFlags();
        const dir = processWord(instr.args.trim(), lookup, ctx.escape);
        if (dir === '') throw new WharfError('InvalidArgument', `WORKDIR requires exactly one argument (${where})`);
        const wd = dir.startsWith('/') ? cleanAbs(dir) : cleanAbs(`${s.cfg.WorkingDir || '/'}/${dir}`);
        const createdBy = `/bin/sh -c #(nop) WORKDIR ${wd}`;
        const key = this.cacheKey(s.imageId, ['workdir', createdBy]);
        const hit = await this.cacheGet(ctx, key);
        if (hit) return this.adopt(ctx, s, hit);
        s.cfg.WorkingDir = wd;
        const layer = await this.withRootfs(ctx, s, (root) => {
          mkdirInRoot(root, wd);
        });
        return this.commit(ctx, s, createdBy, key, layer);
      }
      case 'USER': {
        const u = processWord(instr.args.trim(), lookup, ctx.escape);
        if (u === '') throw new WharfError('InvalidArgument', `USER requires exactly one argument (${where})`);
        return this.commitMeta(ctx, s, `USER ${u}`, () => {
          s.cfg.User = u;
        });
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const v = instr.json ?? [...(s.cfg.Shell ?? DEFAULT_SHELL), instr.args];
        const isCmd = instr.name === 'CMD';
        return this.commitMeta(ctx, s, `${instr.name} ${JSON.stringify(v)}`, () => {
          if (isCmd) {
            s.cfg.Cmd = v;
            s.cmdSet = true;
          } else {
            s.cfg.Entrypoint = instr.json === undefined && instr.args.trim() === '' ? null : v;
            if (!s.cmdSet) s.cfg.Cmd = null;
          }
        });
      }
      case 'SHELL': {
        if (!instr.json || instr.json.length === 0) throw new WharfError('InvalidArgument', `SHELL requires the arguments to be in JSON form (${where})`);
        const sh = instr.json;
        return this.commitMeta(ctx, s, `SHELL ${JSON.stringify(sh)}`, () => {
          s.cfg.Shell = sh;
        });
      }
      case 'EXPOSE': {
        const ports = processWords(instr.args, lookup, ctx.escape);
        if (ports.length === 0) throw new WharfError('InvalidArgument', `EXPOSE requires at least one argument (${where})`);
        const keys: string[] = [];
        for (const p of ports) {
          const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
          if (!m) throw new WharfError('InvalidArgument', `EXPOSE: invalid port ${JSON.stringify(p)}`);
          const proto = (m[3] ?? 'tcp').toLowerCase();
          const lo = Number(m[1]);
          const hi = m[2] ? Number(m[2]) : lo;
          if (lo < 1 || hi > 65535 || hi < lo) throw new WharfError('InvalidArgument', `EXPOSE: invalid port range ${JSON.stringify(p)}`);
          for (let x = lo; x <= hi; x++) keys.push(`${x}/${proto}`);
        }
        return this.commitMeta(ctx, s, `EXPOSE ${keys.join(' ')}`, () => {
          s.cfg.ExposedPorts = { ...(s.cfg.ExposedPorts ?? {}) };
          for (const k of keys) s.cfg.ExposedPorts[k] = {};
        });
      }
      case 'VOLUME': {
        const vols = instr.json ?? processWords(instr.args, lookup, ctx.escape);
        if (vols.length === 0 || vols.some((v) => v.trim() === '')) throw new WharfError('InvalidArgument', `VOLUME specified can not be an empty string (${where})`);
        return this.commitMeta(ctx, s, `VOLUME ${JSON.stringify(vols)}`, () => {
          s.cfg.Volumes = { ...(s.cfg.Volumes ?? {}) };
          for (const v of vols) s.cfg.Volumes[v] = {};
        });
      }
      case 'STOPSIGNAL': {
        const sig = processWord(instr.args.trim(), lookup, ctx.escape);
        parseSignal(sig.startsWith('SIG') || /^\d+$/.test(sig) ? sig : `SIG${sig}`);
        return this.commitMeta(ctx, s, `STOPSIGNAL ${sig}`, () => {
          s.cfg.StopSignal = sig;
        });
      }
      case 'HEALTHCHECK': {
        const hc = parseHealthcheck(instr, s.cfg.Shell ?? DEFAULT_SHELL);
        return this.commitMeta(ctx, s, `HEALTHCHECK ${JSON.stringify(hc)}`, () => {
          s.cfg.Healthcheck = hc;
        });
      }
      case 'ONBUILD': {
        const inner = instr.args.trim();
        const first = (/^(\S+)/.exec(inner)?.[1] ?? '').toUpperCase();
        if (first === '') throw new WharfError('InvalidArgument', `ONBUILD requires an instruction (${where})`);
        if (['ONBUILD', 'FROM', 'MAINTAINER'].includes(first)) throw new WharfError('InvalidArgument', `${first} isn't allowed as an ONBUILD trigger`);
        parseDockerfile(inner); // a bad trigger is an error now, not in the child's build
        const trig = `${first}${inner.slice(first.length)}`;
        return this.commitMeta(ctx, s, `ONBUILD ${trig}`, () => {
          s.cfg.OnBuild = [...(s.cfg.OnBuild ?? []), trig];
        });
      }
      case 'RUN':
        return this.runStep(ctx, s, instr);
      case 'COPY':
      case 'ADD':
        return this.copyStep(ctx, s, instr);
      case 'FROM':
        throw new WharfError('InvalidArgument', trigger ? 'FROM is not allowed here' : `unexpected FROM (${where})`);
    }
  }

  // ---------- RUN ----------

  private runEnv(s: StageState): { env: string[]; argPairs: string[] } {
    const env = [...(s.cfg.Env ?? [])];
    const argPairs: string[] = [];
    const has = new Set(env.map((e) => e.slice(0, e.indexOf('='))));
    for (const [k, v] of [...s.args].sort((a, b) => a[0].localeCompare(b[0]))) {
      if (v === undefined || has.has(k)) continue;
      env.push(`${k}=${v}`);
      argPairs.push(`${k}=${v}`);
    }
    return { env, argPairs };
  }

  private async runStep(ctx: Ctx, s: StageState, instr: Instruction): Promise<void> {
    for (const f of instr.flags) {
      if (f.name === 'network' && (f.value === 'none' || f.value === 'default')) continue;
      throw new WharfError('Unsupported', `RUN --${f.name} is not supported by Wharf's builder`);
    }
    let argv: string[];
    if (instr.json) argv = instr.json;
    else {
      let script = instr.args;
      if (instr.heredocs.length) {
        const rest = instr.args.replace(/<<-?\s*(["']?)[a-zA-Z_][a-zA-Z0-9_]*\1/g, '').trim();
        if (rest === '' && instr.heredocs.length === 1) script = instr.heredocs[0]!.content;
        else script = `${instr.args}\n${instr.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`;
      }
      argv = [...(s.cfg.Shell ?? DEFAULT_SHELL), script];
    }
    const { env, argPairs } = this.runEnv(s);
    // Predefined proxy ARGs reach the command but not the cache key or history (as Docker).
    for (const k of PREDEFINED_ARGS) {
      const v = ctx.opts.buildArgs?.[k];
      if (typeof v === 'string' && !env.some((e) => e.startsWith(`${k}=`))) env.push(`${k}=${v}`);
    }
    for (const k of s.args.keys()) ctx.usedArgs.add(k);
    const createdBy = `${argPairs.length ? `|${argPairs.length} ${argPairs.join(' ')} ` : ''}${argv.join(' ')}`;
    const key = this.cacheKey(s.imageId, ['run', createdBy, s.cfg.User ?? '', s.cfg.WorkingDir ?? '', s.cfg.Env ?? []]);
    const hit = await this.cacheGet(ctx, key);
    if (hit) return this.adopt(ctx, s, hit);
    if (!s.imageId) throw new WharfError('InvalidArgument', `RUN needs a base image with a shell: this stage starts FROM scratch and has no files yet`);
    // The container runs the parent image with the stage's config; its upper dir is the new layer.
    const c = await this.opts.containers.create({
      name: `wharf-build-${randomBytes(6).toString('hex')}`,
      image: s.imageId,
      labels: { [BUILD_LABEL]: '1' },
      options: {
        entrypoint: [],
        cmd: argv,
        env,
        workingDir: s.cfg.WorkingDir || '/',
        user: s.cfg.User ?? '',
        namespaces: { net: { mode: 'private' } },
      },
    });
    this.say(ctx, ` ---> Running in ${shortId(c.id)}\n`);
    let layer: { file: string; digest: string; size: number } | undefined;
    try {
      // The attach is registered before start (it connects before the process runs: no output lost).
      // Listeners go on as soon as it connects, before the process runs.
      const onOut = (b: Buffer) => this.say(ctx, b.toString('utf8'));
      let ended: Promise<void> = Promise.resolve();
      const attachP = this.opts.containers.attachAtStart(c.id, ctx.opts.signal).then((a) => {
        ended = new Promise<void>((resolve) => a.on('end', resolve));
        a.on('stdout', onOut);
        a.on('stderr', onOut);
        return a;
      });
      attachP.catch(() => undefined);
      await this.opts.containers.start(c.id);
      const attach = await attachP;
      const onAbort = () => void this.opts.containers.kill(c.id, 'SIGKILL').catch(() => undefined);
      ctx.opts.signal?.addEventListener('abort', onAbort, { once: true });
      let res: { exitCode: number; error?: string };
      try {
        res = await this.opts.containers.wait(c.id, 'not-running');
        await Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]);
      } finally {
        ctx.opts.signal?.removeEventListener('abort', onAbort);
        attach.close();
      }
      ctx.opts.signal?.throwIfAborted();
      if (res.exitCode !== 0) {
        throw new BuildStepError(`The command '${argv.join(' ')}' returned a non-zero code: ${res.exitCode}`, res.exitCode);
      }
      layer = await this.layerFromUpper(join(this.opts.dataRoot, 'containers', c.id, 'upper'), true);
    } finally {
      await this.opts.containers.remove(c.id, { force: true, removeVolumes: true }).catch((e: unknown) => this.log.warn({ container: c.id, err: errorMessage(e) }, 'removing a build container failed'));
    }
    this.say(ctx, ` ---> Removed intermediate container ${shortId(c.id)}\n`);
    await this.commit(ctx, s, createdBy, key, layer);
  }

  /** The layer tar of an upper dir, staged in the image store (undefined when nothing changed). */
  private async layerFromUpper(upper: string, fromContainer: boolean): Promise<{ file: string; digest: string; size: number } | undefined> {
    const w = this.opts.images.layerWriter();
    try {
      const skip = fromContainer ? (rel: string, st: Stats) => isRuntimeMountpoint(upper, rel, st) : undefined;
      const r = await writeLayerFromUpper(upper, w, skip ? { skip } : {});
      if (r.entries === 0) {
        w.abort();
        return undefined;
      }
      const info = w.finish();
      return { file: w.tempPath, digest: info.digest, size: info.size };
    } catch (err) {
      w.abort();
      throw err;
    }
  }

  // ---------- rootfs steps (COPY, ADD, WORKDIR) ----------

  /** Runs `fn` on a writable view of the stage's image (an overlay mount) and returns the layer it made. */
  private async withRootfs(ctx: Ctx, s: StageState, fn: (root: string) => void | Promise<void>): Promise<{ file: string; digest: string; size: number } | undefined> {
    const base = join(ctx.work, `step-${++ctx.seq}`);
    const upper = join(base, 'upper');
    const workdir = join(base, 'work');
    const merged = join(base, 'merged');
    mkdirSync(upper, { recursive: true, mode: 0o755 });
    const chains = s.imageId ? this.opts.images.chainIds(s.imageId) : [];
    let mounted = false;
    try {
      if (chains.length === 0) {
        await fn(upper);
      } else {
        mkdirSync(workdir, { mode: 0o700 });
        mkdirSync(merged);
        await this.opts.mounts.mount(this.opts.mounts.viewMounts(s.imageId!, { upper, work: workdir }), merged);
        mounted = true;
        await fn(merged);
        await this.opts.mounts.unmount(merged);
        mounted = false;
      }
      return await this.layerFromUpper(upper, false);
    } finally {
      if (mounted) await this.opts.mounts.unmount(merged, { lazy: true }).catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    }
  }

  /** A read-only view of an image's files for `COPY --from` (released by the returned function). */
  private async mountImage(ctx: Ctx, imageId: string | undefined): Promise<{ root: string; release: () => Promise<void> }> {
    const chains = imageId ? this.opts.images.chainIds(imageId) : [];
    const base = join(ctx.work, `from-${++ctx.seq}`);
    mkdirSync(base, { recursive: true });
    if (chains.length === 0) return { root: base, release: async () => rmSync(base, { recursive: true, force: true }) };
    if (chains.length === 1) return { root: this.opts.images.layers.path(chains[0]!), release: async () => rmSync(base, { recursive: true, force: true }) };
    await this.opts.mounts.mount(this.opts.mounts.viewMounts(imageId!), base);
    return {
      root: base,
      release: async () => {
        await this.opts.mounts.unmount(base).catch(() => undefined);
        rmSync(base, { recursive: true, force: true });
      },
    };
  }

  private async copyStep(ctx: Ctx, s: StageState, instr: Instruction): Promise<void> {
    const isAdd = instr.name === 'ADD';
    const lookup = this.stageLookup(ctx, s);
    let from: string | undefined;
    let chown: string | undefined;
    let chmod: number | undefined;
    for (const f of instr.flags) {
      const v = processWord(f.value ?? '', lookup, ctx.escape);
      if (f.name === 'from' && !isAdd) from = v;
      else if (f.name === 'chown') chown = v;
      else if (f.name === 'chmod') {
        if (!/^[0-7]{3,4}$/.test(v)) throw new WharfError('InvalidArgument', `invalid chmod parameter ${JSON.stringify(v)}: an octal mode like 755 is expected`);
        chmod = parseInt(v, 8);
      } else if (f.name === 'link') continue;
      else throw new WharfError('InvalidArgument', `${instr.name}: unknown flag: --${f.name}`);
    }
    const words = instr.json ? instr.json.map((w) => processWord(JSON.stringify(w).slice(1, -1).replace(/\\"/g, '"'), lookup, ctx.escape)) : processWords(instr.args, lookup, ctx.escape);
    if (words.length < 2) throw new WharfError('InvalidArgument', `${instr.name} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const rawDest = words[words.length - 1]!;
    const srcs = words.slice(0, -1);
    const inline = new Map(instr.heredocs.map((h) => [h.name, h.quoted ? h.content : processWord(`"${h.content.replace(/(["\\])/g, '\\$1')}"`, lookup, ctx.escape)]));
    for (const src of srcs) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src) || src.startsWith('git@')) {
        throw new WharfError('Unsupported', `${instr.name} from a URL is not supported: Wharf builds offline (${src}); put the file in the build context`);
      }
    }
    // Where the sources come from: the context (with .dockerignore) or another stage/image.
    let fromImage: string | undefined;
    let fromRoot: { root: string; release: () => Promise<void> } | undefined;
    if (from !== undefined) {
      const key = from.toLowerCase();
      if (ctx.stageImages.has(key)) fromImage = ctx.stageImages.get(key);
      else if (/^\d+$/.test(from)) throw new WharfError('InvalidArgument', `invalid from flag value ${from}: stage ${from} is not built before this one`);
      else {
        try {
          fromImage = (await this.opts.images.inspect(from)).id;
        } catch (err) {
          if (isWharfError(err, 'NotFound')) throw new WharfError('NotFound', `invalid from flag value ${from}: no stage and no local image with that name`);
          throw err;
        }
      }
      fromRoot = await this.mountImage(ctx, fromImage);
    }
    try {
      const srcRoot = fromRoot?.root ?? ctx.dir;
      const include = fromRoot ? () => true : ctx.include;
      interface Source {
        host: string;
        rel: string;
        inline?: string;
        name: string;
      }
      const sources: Source[] = [];
      for (const src of srcs) {
        const hd = /^<<-?(["']?)([a-zA-Z_][a-zA-Z0-9_]*)\1$/.exec(src);
        if (hd && inline.has(hd[2]!)) {
          sources.push({ host: '', rel: hd[2]!, inline: inline.get(hd[2]!)!, name: hd[2]! });
          continue;
        }
        const rel = cleanPath(src.replace(/^\/+/, ''));
        if (rel === '..' || rel.startsWith('../')) throw new WharfError('InvalidArgument', `${instr.name} failed: forbidden path outside the build context: ${src}`);
        if (/[*?[]/.test(rel)) {
          const re = globToRegExp(rel);
          const matches = listTree(srcRoot, include).filter((p) => re.test(p));
          for (const m of matches) sources.push({ host: join(srcRoot, m), rel: m, name: m.slice(m.lastIndexOf('/') + 1) });
          continue;
        }
        const host = rel === '.' ? srcRoot : resolveInRoot(srcRoot, rel);
        const hst = lstatSync(host, { throwIfNoEntry: false });
        if (!hst || (rel !== '.' && !include(rel, hst.isDirectory()))) {
          throw new WharfError(
            'InvalidArgument',
            `${instr.name} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`,
          );
        }
        sources.push({ host, rel: rel === '.' ? '' : rel, name: rel === '.' ? '' : rel.slice(rel.lastIndexOf('/') + 1) });
      }
      if (sources.length === 0) throw new WharfError('InvalidArgument', `${instr.name} failed: no source files were specified`);
      let dest = rawDest;
      if (!dest.startsWith('/')) dest = `${s.cfg.WorkingDir || '/'}/${dest}`;
      const destIsDir = rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.');
      if (sources.length > 1 && !destIsDir) {
        throw new WharfError('InvalidArgument', `When using ${instr.name} with more than one source file, the destination must be a directory and end with a /`);
      }
      const sums = sources.map((src) => {
        if (src.inline !== undefined) return `inline:${createHash('sha256').update(src.inline).digest('hex')}`;
        if (fromImage !== undefined) return `${fromImage}:${src.rel}`;
        const sub = src.rel === '' ? include : (r: string, dir: boolean) => include(`${src.rel}/${r}`, dir);
        return treeChecksum(src.host, sub);
      });
      const createdBy = `/bin/sh -c #(nop) ${instr.name} ${instr.flags.map((f) => `--${f.name}=${f.value ?? ''} `).join('')}${sources.length === 1 ? 'file' : 'multi'}:${createHash('sha256').update(sums.join('\n')).digest('hex')} in ${rawDest} `;
      const key = this.cacheKey(s.imageId, ['copy', createdBy, dest, from ?? '', s.cfg.WorkingDir ?? '']);
      const hit = await this.cacheGet(ctx, key);
      if (hit) return this.adopt(ctx, s, hit);
      const layer = await this.withRootfs(ctx, s, async (root) => {
        const owner = chown !== undefined ? resolveChown(root, chown) : { uid: 0, gid: 0 };
        const copyOpts = { uid: owner.uid, gid: owner.gid, ...(chmod !== undefined ? { mode: chmod } : {}) };
        for (const src of sources) {
          const st = src.inline !== undefined ? undefined : lstatSync(src.host);
          const srcIsDir = st?.isDirectory() ?? false;
          let target: string;
          if (srcIsDir || destIsDir || sources.length > 1) {
            const d = mkdirInRoot(root, dest, owner.uid, owner.gid);
            target = srcIsDir ? d : join(d, src.name);
          } else {
            const hostDest = resolveInRoot(root, dest);
            const dst = lstatSync(hostDest, { throwIfNoEntry: false });
            if (dst?.isDirectory()) target = join(hostDest, src.name);
            else {
              const parent = dest.slice(0, dest.lastIndexOf('/')) || '/';
              target = join(mkdirInRoot(root, parent), dest.slice(dest.lastIndexOf('/') + 1));
            }
          }
          if (src.inline !== undefined) {
            const tmp = join(ctx.work, `inline-${++ctx.seq}`);
            await writeFile(tmp, src.inline, { mode: 0o644 });
            copyTree(tmp, target, copyOpts);
            rmSync(tmp, { force: true });
            continue;
          }
          if (isAdd && st?.isFile() && (await isArchive(src.host))) {
            const tmp = join(ctx.work, `extract-${++ctx.seq}`);
            mkdirSync(tmp);
            try {
              const template = await ensureWhiteoutTemplate(this.opts.images.layers.whiteoutTemplate);
              await unpackLayer(createReadStream(src.host), tmp, { whiteoutTemplate: template });
              const d = mkdirInRoot(root, dest, owner.uid, owner.gid);
              copyTree(tmp, d, copyOpts);
            } finally {
              rmSync(tmp, { recursive: true, force: true });
            }
            continue;
          }
          const sub = fromRoot ? undefined : src.rel === '' ? include : (r: string, dir: boolean) => include(`${src.rel}/${r}`, dir);
          copyTree(src.host, target, { ...copyOpts, ...(sub ? { include: sub } : {}) });
        }
      });
      await this.commit(ctx, s, createdBy, key, layer);
    } finally {
      await fromRoot?.release();
    }
  }
}

// ---------- helpers ----------

function splitStages(instrs: Instruction[]): { meta: Instruction[]; stages: Stage[] } {
  const meta: Instruction[] = [];
  const stages: Stage[] = [];
  for (const i of instrs) {
    if (i.name === 'FROM') {
      const words = i.args.trim().split(/\s+/);
      const name = words.length === 3 && words[1]!.toLowerCase() === 'as' ? words[2]!.toLowerCase() : undefined;
      if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw new WharfError('InvalidArgument', `invalid name for build stage: ${JSON.stringify(name)}, name can't start with a number or contain symbols`);
      if (name !== undefined && stages.some((s) => s.name === name)) throw new WharfError('InvalidArgument', `duplicate name ${name} for build stage`);
      stages.push({ index: stages.length, ...(name ? { name } : {}), from: i, instructions: [] });
    } else if (stages.length === 0) {
      if (i.name !== 'ARG') throw new WharfError('InvalidArgument', `no build stage in current context: the Dockerfile must begin with FROM (line ${i.line}: ${i.name})`);
      meta.push(i);
    } else stages[stages.length - 1]!.instructions.push(i);
  }
  if (stages.length === 0) throw new WharfError('InvalidArgument', 'the Dockerfile has no FROM instruction (Dockerfile cannot be empty)');
  return { meta, stages };
}

function checkPlatform(p: string): void {
  const norm = p.trim().toLowerCase();
  if (norm === '' || norm === 'linux/amd64' || norm === 'linux/x86_64' || norm === 'linux') return;
  throw new WharfError('InvalidArgument', `platform ${p} is not supported: Wharf builds linux/amd64 images only`);
}

function cleanAbs(p: string): string {
  const c = cleanPath(p);
  return c === '.' ? '/' : `/${c.replace(/^(\.\.\/)+|^\.\.$/, '')}`;
}

/** Empty mount-point directories the runtime made in a RUN container's upper dir are not content. */
function isRuntimeMountpoint(upper: string, rel: string, st: Stats): boolean {
  if (!['proc', 'sys', 'dev', 'dev/shm', 'dev/pts', 'dev/mqueue', 'sys/fs/cgroup'].includes(rel)) return false;
  if (!st.isDirectory()) return false;
  try {
    return readdirSync(join(upper, rel)).length === 0;
  } catch {
    return false;
  }
}

function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new WharfError('InvalidArgument', `syntax error in pattern ${JSON.stringify(pattern)}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

/** Every path below `root` (relative), skipping excluded ones. */
function listTree(root: string, include: (rel: string, isDir: boolean) => boolean): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const n of readdirSync(abs).sort()) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = lstatSync(join(abs, n));
      if (!include(r, st.isDirectory())) continue;
      out.push(r);
      if (st.isDirectory()) walk(join(abs, n), r);
    }
  };
  walk(root, '');
  return out;
}

async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    const head = b.subarray(0, bytesRead);
    if (detectCompression(head) !== 'none') return true;
    return bytesRead >= 262 && head.toString('latin1', 257, 262) === 'ustar';
  } finally {
    await fh.close();
  }
}

function parseDuration(s: string, what: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  if (!/^((\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(s)) throw new WharfError('InvalidArgument', `HEALTHCHECK: invalid ${what} duration ${JSON.stringify(s)}`);
  const mult: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let n = 0;
  for (const m of s.matchAll(re)) n += Number(m[1]) * mult[m[2]!]!;
  return Math.round(n);
}

function parseHealthcheck(instr: Instruction, shell: string[]): NonNullable<ImageRuntimeConfig['Healthcheck']> {
  const args = instr.args.trim();
  const first = (/^(\S+)/.exec(args)?.[1] ?? '').toUpperCase();
  if (first === 'NONE') {
    if (instr.flags.length || args.length > 4) throw new WharfError('InvalidArgument', 'HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (first !== 'CMD') throw new WharfError('InvalidArgument', `HEALTHCHECK: unknown type ${JSON.stringify(first)}: expected CMD or NONE`);
  const rest = args.slice(3).trim();
  if (rest === '') throw new WharfError('InvalidArgument', 'HEALTHCHECK CMD requires a command');
  const json = parseJsonArray(rest);
  const hc: NonNullable<ImageRuntimeConfig['Healthcheck']> = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', rest] };
  void shell;
  for (const f of instr.flags) {
    const v = f.value ?? '';
    if (f.name === 'interval') hc.Interval = parseDuration(v, 'interval');
    else if (f.name === 'timeout') hc.Timeout = parseDuration(v, 'timeout');
    else if (f.name === 'start-period') hc.StartPeriod = parseDuration(v, 'start-period');
    else if (f.name === 'start-interval') continue;
    else if (f.name === 'retries') {
      if (!/^\d+$/.test(v)) throw new WharfError('InvalidArgument', `HEALTHCHECK: invalid retries ${JSON.stringify(v)}`);
      hc.Retries = Number(v);
    } else throw new WharfError('InvalidArgument', `HEALTHCHECK: unknown flag: --${f.name}`);
  }
  return hc;
}
