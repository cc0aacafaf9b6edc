import { spawn, type SpawnOptions, type ChildProcess } from 'node:child_process';
import { WharfError } from '../errors.js';

// The one process runner: argv arrays only (never a shell), timeouts, abort signals.

export interface RunOptions {
  input?: string | Uint8Array;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** Cap on captured output per stream (bytes); the rest is dropped. */
  maxOutput?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new WharfError('InvalidArgument', 'run: empty argv');
  const max = opts.maxOutput ?? 16 * 1024 * 1024;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b);
      errLen += b.length;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new WharfError('Internal', `${cmd}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const res: RunResult = {
        code,
        signal: sig,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) {
        return reject(new WharfError('Timeout', `${argv.join(' ')}: timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
      }
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      if (code !== 0 && !opts.allowFailure) {
        const detail = res.stderr.trim() || res.stdout.trim() || `exit ${code ?? sig}`;
        return reject(new WharfError('Internal', `${cmd} ${args.slice(0, 3).join(' ')}: ${detail}`, { details: { code, stderr: res.stderr } }));
      }
      resolve(res);
    });
    if (opts.input !== undefined) {
      // A child may exit without reading its input (EPIPE): its exit status tells the story.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
  });
}

/** Spawns a long-lived process (argv array, no shell) for callers that manage its fds themselves. */
export function spawnProcess(argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  const [cmd, ...args] = argv;
  if (!cmd) throw new WharfError('InvalidArgument', 'spawnProcess: empty argv');
  return spawn(cmd, args, { ...opts, shell: false });
}

/** True if a process with this PID exists and is not a zombie. */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
