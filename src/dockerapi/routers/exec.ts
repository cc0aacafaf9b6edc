import { z } from 'zod';
import { WharfError, errorMessage } from '../../core/errors.js';
import type { ExecConfig, ExecRecord, ExecStartResult } from '../../engine/containers/exec-service.js';
import type { AttachStream } from '../../engine/runtime/attach.js';
import { readJson } from '../body.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';
import { STDERR, STDOUT, encodeFrames } from '../stdcopy.js';

// Docker's exec endpoints: POST /containers/{id}/exec, POST /exec/{id}/start (hijacked like
// attach: multiplexed frames without a TTY, raw bytes with one; or Detach), GET /exec/{id}/json,
// POST /exec/{id}/resize.

/** What these routes need (ExecService satisfies it). */
export interface ExecBackend {
  create(ref: string, cfg: ExecConfig): { id: string };
  inspect(id: string): ExecRecord;
  start(id: string, opts: { detach?: boolean; tty?: boolean; consoleSize?: [number, number]; onAttach?: (s: AttachStream) => void }): Promise<ExecStartResult>;
  resize(id: string, rows: number, cols: number): Promise<void>;
}

/** The container status an exec start needs (checked before the connection is hijacked). */
export interface ExecContainerLookup {
  inspect(ref: string): { id: string; state: { status: string } };
}

const strList = z.array(z.string()).nullish();
const size = z.array(z.number().int().nonnegative()).length(2).nullish();

const CreateBody = z
  .object({
    Cmd: z.union([strList, z.string()]),
    Env: strList,
    User: z.string().nullish(),
    WorkingDir: z.string().nullish(),
    Privileged: z.boolean().nullish(),
    Tty: z.boolean().nullish(),
    AttachStdin: z.boolean().nullish(),
    AttachStdout: z.boolean().nullish(),
    AttachStderr: z.boolean().nullish(),
    DetachKeys: z.string().nullish(),
    ConsoleSize: size,
  })
  .passthrough();

const StartBody = z
  .object({
    Detach: z.boolean().nullish(),
    Tty: z.boolean().nullish(),
    ConsoleSize: size,
  })
  .passthrough();

/** Docker's exec create body → the engine's config. */
export function toExecConfig(b: z.infer<typeof CreateBody>): ExecConfig {
  const cmd = b.Cmd == null ? [] : typeof b.Cmd === 'string' ? [b.Cmd] : b.Cmd;
  const cfg: ExecConfig = { cmd };
  if (b.Env?.length) cfg.env = b.Env;
  if (b.User) cfg.user = b.User;
  if (b.WorkingDir) cfg.workingDir = b.WorkingDir;
  if (b.Privileged) cfg.privileged = true;
  if (b.Tty) cfg.tty = true;
  if (b.AttachStdin) cfg.attachStdin = true;
  if (b.AttachStdout) cfg.attachStdout = true;
  if (b.AttachStderr) cfg.attachStderr = true;
  if (b.ConsoleSize && (b.ConsoleSize[0]! > 0 || b.ConsoleSize[1]! > 0)) cfg.consoleSize = [b.ConsoleSize[0]!, b.ConsoleSize[1]!];
  return cfg;
}

/** GET /exec/{id}/json in Docker's shape. */
export function toExecInspect(r: ExecRecord): Record<string, unknown> {
  const [entrypoint, ...args] = r.config.cmd;
  return {
    ID: r.id,
    Running: r.running,
    ExitCode: r.exitCode,
    ProcessConfig: {
      tty: r.config.tty === true,
      entrypoint: entrypoint ?? '',
      arguments: args,
      privileged: r.config.privileged === true,
      user: r.config.user ?? '',
    },
    OpenStdin: r.config.attachStdin === true,
    OpenStderr: r.config.attachStderr === true,
    OpenStdout: r.config.attachStdout === true,
    CanRemove: false,
    ContainerID: r.containerId,
    DetachKeys: '',
    Pid: r.pid,
  };
}

export class ExecRouter implements Router {
  constructor(
    private readonly be: ExecBackend,
    private readonly containers: ExecContainerLookup,
  ) {}

  routes(): readonly Route[] {
    return [
      { method: 'POST', path: '/containers/:id/exec', handler: (q, r) => this.create(q, r) },
      { method: 'POST', path: '/exec/:id/start', handler: (q, r) => this.start(q, r) },
      { method: 'GET', path: '/exec/:id/json', handler: (q, r) => r.json(200, toExecInspect(this.be.inspect(q.params.id!))) },
      { method: 'POST', path: '/exec/:id/resize', handler: (q, r) => this.resize(q, r) },
    ];
  }

  private async create(req: ApiRequest, res: ApiResponse): Promise<void> {
    const body = await readJson(req, CreateBody);
    const r = this.be.create(req.params.id!, toExecConfig(body));
    res.json(201, { Id: r.id });
  }

  private async resize(req: ApiRequest, res: ApiResponse): Promise<void> {
    const h = sizeParam(req.query.get('h'), 'h');
    const w = sizeParam(req.query.get('w'), 'w');
    await this.be.resize(req.params.id!, h, w);
    res.empty(200);
  }

  private async start(req: ApiRequest, res: ApiResponse): Promise<void> {
    const body = await readJson(req, StartBody);
    const id = req.params.id!;
    const rec = this.be.inspect(id); // 404 before anything else
    if (rec.running) throw new WharfError('Conflict', `Error: Exec command ${id} is already running`);
    if (rec.exitCode !== null) throw new WharfError('Conflict', `Error: Exec command ${id} has already run`);
    const c = this.containers.inspect(rec.containerId);
    if (c.state.status === 'paused') throw new WharfError('Conflict', `Container ${c.id} is paused, unpause the container before exec`);
    if (c.state.status !== 'running') throw new WharfError('Conflict', `container ${c.id} is not running`);
    const tty = body.Tty ?? rec.config.tty === true;
    const consoleSize = body.ConsoleSize && body.ConsoleSize[0]! > 0 ? ([body.ConsoleSize[0]!, body.ConsoleSize[1]!] as [number, number]) : undefined;
    if (body.Detach) {
      const r = await this.be.start(id, { detach: true, tty, ...(consoleSize ? { consoleSize } : {}) });
      r.exited.catch(() => undefined);
      res.empty(200);
      return;
    }
    const conn = res.hijack(tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');
    const send = (kind: 1 | 2, b: Buffer) => {
      if (conn.output.writableEnded || conn.output.destroyed) return;
      conn.output.write(tty ? b : encodeFrames(kind, b));
    };
    let streamEnded: Promise<void> = Promise.resolve();
    let stream: AttachStream | undefined;
    let result: ExecStartResult;
    try {
      result = await this.be.start(id, {
        tty,
        ...(consoleSize ? { consoleSize } : {}),
        onAttach: (s) => {
          stream = s;
          if (rec.config.attachStdout) s.on('stdout', (b) => send(STDOUT, b));
          if (rec.config.attachStderr) s.on('stderr', (b) => send(STDERR, b));
          s.on('error', () => undefined);
          streamEnded = new Promise((resolve) => s.once('end', resolve));
        },
      });
    } catch (e) {
      // As Docker: after the upgrade, a start failure is written into the stream.
      send(STDOUT, Buffer.from(`${errorMessage(e)}\r\n`));
      conn.close();
      return;
    }
    const s = stream;
    if (s && rec.config.attachStdin) {
      conn.input.on('data', (b: Buffer) => void s.write(b));
      conn.input.on('end', () => s.end());
      conn.input.on('error', () => undefined);
    } else conn.input.resume();
    const clientGone = new Promise<void>((resolve) => conn.output.once('close', resolve));
    await Promise.race([result.exited, clientGone]);
    // Output still in flight arrives before conmon closes the socket; do not wait forever for it.
    await Promise.race([streamEnded, clientGone, delay(2000)]);
    s?.close();
    conn.close();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function sizeParam(v: string | null, name: string): number {
  const n = Number(v);
  if (v === null || v === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new WharfError('InvalidArgument', `invalid ${name}: ${JSON.stringify(v)}`);
  return n;
}
