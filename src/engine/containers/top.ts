import { WharfError, invalid } from '../../core/errors.js';
import { run, type RunResult } from '../../core/exec/run.js';

// `docker top`: the host's `ps` with the caller's ps_args, keeping the rows of the container's
// PIDs (moby daemon/top_unix.go does the same: `ps ARGS -q PIDS`, or plain `ps ARGS` and filter).

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

export type PsRunner = (argv: string[]) => Promise<RunResult>;

const defaultRunner: PsRunner = (argv) => run(argv, { allowFailure: true, timeoutMs: 30_000 });

/** Splits ps_args as Docker does (on whitespace); refuses what would make the output unparsable. */
export function psArgv(psArgs: string): string[] {
  const args = psArgs.trim() === '' ? ['-ef'] : psArgs.trim().split(/\s+/);
  return args;
}

/**
 * Parses `ps` output: the header gives the titles and the PID column; each row is split into
 * as many fields as there are titles, the last keeping its spaces (the command line). Rows whose
 * PID is not one of `pids` are dropped.
 */
export function parsePsOutput(output: string, pids: readonly number[]): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new WharfError('Internal', 'ps printed nothing');
  const titles = lines[0]!.trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalid("Couldn't find PID field in ps output");
  const want = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = splitFields(line.trim(), titles.length);
    const pid = Number.parseInt(fields[pidIndex] ?? '', 10);
    if (want.has(pid)) processes.push(fields);
  }
  return { Titles: titles, Processes: processes };
}

function splitFields(line: string, n: number): string[] {
  const out: string[] = [];
  let rest = line;
  for (let i = 0; i < n - 1; i++) {
    const m = /^(\S+)\s*/.exec(rest);
    if (!m) break;
    out.push(m[1]!);
    rest = rest.slice(m[0].length);
  }
  if (rest !== '' || out.length < n) out.push(rest);
  return out;
}

/** Runs `ps` for the container's PIDs; a failing `ps` is an error carrying ps's own message. */
export async function top(pids: readonly number[], psArgs: string, runner: PsRunner = defaultRunner): Promise<TopResult> {
  const args = psArgv(psArgs);
  const r = await runner(['ps', ...args]);
  if (r.code !== 0) {
    throw new WharfError('Internal', `ps: exit status ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  }
  return parsePsOutput(r.stdout, pids);
}
