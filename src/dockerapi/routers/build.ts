import type { Readable, Writable } from 'node:stream';
import { WharfError, errorMessage } from '../../core/errors.js';
import type { BuildOptions, BuildOutput, BuildResult } from '../../engine/build/builder.js';
import { boolParam, type ApiRequest, type ApiResponse, type Route, type Router } from '../router.js';

// POST /build (the classic builder's API: a tar context in the body, Docker's JSON-lines output)
// and POST /build/prune. Errors found before the build starts (bad query) are HTTP errors; once
// the stream has started they are `{"errorDetail":{"code":N,"message":…},"error":…}` lines, and
// a RUN step's failure carries its exit code (the docker CLI exits with it).

/** What the build routes need (the Builder implements it). */
export interface BuildBackend {
  /** Checks the options (tags, platform) before anything is read or written. */
  validate(opts: BuildOptions): void;
  build(context: Readable, opts: BuildOptions, out: BuildOutput): Promise<BuildResult>;
  pruneCache(): Promise<{ deleted: string[] }>;
}

const MAX_JSON_PARAM = 1024 * 1024;

function jsonParam<T>(req: ApiRequest, name: string, check: (v: unknown) => v is T): T | undefined {
  const raw = req.query.get(name);
  if (raw === null || raw === '') return undefined;
  if (raw.length > MAX_JSON_PARAM) throw new WharfError('TooLarge', `${name} is too large`);
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new WharfError('InvalidArgument', `invalid ${name}: ${(e as Error).message}`);
  }
  if (v === null) return undefined;
  if (!check(v)) throw new WharfError('InvalidArgument', `invalid ${name}: expected a JSON object of strings`);
  return v;
}

const isStringMap = (nullable: boolean) => (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || (nullable && x === null));

export class BuildRouter implements Router {
  constructor(private readonly backend: BuildBackend) {}

  routes(): readonly Route[] {
    return [
      { method: 'POST', path: '/build', handler: (q, r) => this.build(q, r) },
      { method: 'POST', path: '/build/prune', handler: (q, r) => this.prune(q, r) },
      { method: 'POST', path: '/build/cancel', handler: () => Promise.reject(new WharfError('Unsupported', 'cancelling a BuildKit session is not supported (the classic builder stops when the client disconnects)')) },
    ];
  }

  private async build(req: ApiRequest, res: ApiResponse): Promise<void> {
    const q = req.query;
    if (q.get('version') === '2') throw new WharfError('Unsupported', 'BuildKit (version=2) is not supported: Wharf implements the classic builder (version=1)');
    const remote = q.get('remote');
    if (remote) throw new WharfError('Unsupported', `remote build contexts (${remote}) are not supported: Wharf builds offline from the tar context in the request body`);
    const network = q.get('networkmode') ?? '';
    if (!['', 'default', 'none'].includes(network)) {
      throw new WharfError('Unsupported', `network mode ${JSON.stringify(network)} is not supported for builds: RUN steps run without a network`);
    }
    if (q.get('outputs')) throw new WharfError('Unsupported', 'build outputs (--output) need BuildKit, which Wharf does not implement');
    const opts: BuildOptions = {
      tags: q.getAll('t'),
      noCache: boolParam(q, 'nocache'),
      pull: boolParam(q, 'pull'),
      quiet: boolParam(q, 'q'),
      signal: req.signal,
    };
    const df = q.get('dockerfile');
    if (df) opts.dockerfile = df;
    const target = q.get('target');
    if (target) opts.target = target;
    const platform = q.get('platform');
    if (platform) opts.platform = platform;
    const buildArgs = jsonParam(req, 'buildargs', isStringMap(true));
    if (buildArgs) opts.buildArgs = buildArgs;
    const labels = jsonParam(req, 'labels', isStringMap(false));
    if (labels) opts.labels = labels;

    this.backend.validate(opts); // bad options: a plain HTTP error (400), nothing read or written

    let out: Writable | undefined;
    const write = (obj: unknown) => {
      out ??= res.stream(200, 'application/json');
      out.write(`${JSON.stringify(obj)}\n`);
    };
    const output: BuildOutput = { stream: (text) => write({ stream: text }), aux: (value) => write({ aux: value }) };
    try {
      await this.backend.build(req.body, opts, output);
    } catch (err) {
      const message = errorMessage(err);
      const code = typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1;
      write({ errorDetail: { code, message }, error: message });
    }
    out ??= res.stream(200, 'application/json');
    out.end();
  }

  private async prune(_req: ApiRequest, res: ApiResponse): Promise<void> {
    const r = await this.backend.pruneCache();
    res.json(200, { CachesDeleted: r.deleted, SpaceReclaimed: 0 });
  }
}

