// conmon's command lines, as pure functions (golden-tested). Flags are the set that
// works with conmon 2.1.6 + runc 1.1.5 here (shared/reference/conmon.md); never `-s`
// (systemd cgroups make runc create fail on this host).

export interface ConmonCreateArgs {
  conmonPath: string;
  runtimePath: string;
  /** runc --root (its state directory). */
  runtimeRoot: string;
  id: string;
  name: string;
  bundle: string;
  /** Holds conmon's `exit`, `oom`, `conmon.pid`, `oci-log` (Wharf uses the bundle). */
  persistDir: string;
  exitDir: string;
  socketDir: string;
  logPath: string;
  /** Bytes; conmon truncates the log beyond this (the driver rotates before). */
  logSizeMax?: number;
  tty: boolean;
  stdin: boolean;
  leaveStdinOpen?: boolean;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

function runtimeArgs(runtimeRoot: string, ociLog: string): string[] {
  return ['--runtime-arg', `--root=${runtimeRoot}`, '--runtime-arg', '--log-format=json', '--runtime-arg', '--log', `--runtime-arg=${ociLog}`];
}

export function conmonCreateArgv(a: ConmonCreateArgs): string[] {
  const argv = [
    a.conmonPath,
    '--api-version', '1',
    '-c', a.id,
    '-u', a.id,
    '-r', a.runtimePath,
    '-b', a.bundle,
    '-p', `${a.bundle}/pidfile`,
    '-n', a.name,
    '--exit-dir', a.exitDir,
    '--persist-dir', a.persistDir,
    '-l', `k8s-file:${a.logPath}`,
    '--log-level', a.logLevel ?? 'info',
    ...runtimeArgs(a.runtimeRoot, `${a.persistDir}/oci-log`),
    '--conmon-pidfile', `${a.persistDir}/conmon.pid`,
    '--socket-dir-path', a.socketDir,
    '--full-attach',
  ];
  if (a.logSizeMax !== undefined && a.logSizeMax > 0) argv.push('--log-size-max', String(a.logSizeMax));
  if (a.tty) argv.push('-t');
  if (a.stdin) argv.push('-i');
  if (a.stdin && a.leaveStdinOpen) argv.push('--leave-stdin-open');
  return argv;
}

export interface ConmonExecArgs {
  conmonPath: string;
  runtimePath: string;
  runtimeRoot: string;
  containerId: string;
  /** A per-exec session id and directory (its own exit dir: conmon names the exit file after the container). */
  sessionId: string;
  execDir: string;
  processSpecPath: string;
  socketDir: string;
  attach: boolean;
  tty: boolean;
  stdin: boolean;
  logPath: string;
}

export function conmonExecArgv(a: ConmonExecArgs): string[] {
  const argv = [
    a.conmonPath,
    '--api-version', '1',
    '-c', a.containerId,
    '-u', a.sessionId,
    '-r', a.runtimePath,
    '-b', a.execDir,
    '-p', `${a.execDir}/pid`,
    '-n', `${a.containerId}-exec-${a.sessionId}`,
    '--exit-dir', `${a.execDir}/exit`,
    '--persist-dir', `${a.execDir}/persist`,
    '-l', `k8s-file:${a.logPath}`,
    '--log-level', 'info',
    ...runtimeArgs(a.runtimeRoot, `${a.execDir}/oci-log`),
    '--socket-dir-path', a.socketDir,
    '--full-attach',
    '-e',
    '--exec-process-spec', a.processSpecPath,
  ];
  if (a.attach) argv.push('--exec-attach');
  if (a.tty) argv.push('-t');
  if (a.stdin) argv.push('-i');
  return argv;
}

/** A line of a k8s-file log: `2026-11-26T07:16:05.556724881+00:00 stdout F text`. */
export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  /** false for a partial (`P`) chunk of a long line. */
  full: boolean;
  text: string;
}

/** The one parser of conmon's k8s-file log line (the only log format Wharf writes). */
export function parseK8sLogLine(line: string): LogLine | null {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  if (a <= 0 || b < 0) return null;
  // The text after the tag may be empty, with or without the separating space.
  const c = line.indexOf(' ', b + 1);
  const stream = line.slice(a + 1, b);
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 'F' && tag !== 'P')) return null;
  return { time: line.slice(0, a), stream, full: tag === 'F', text: c < 0 ? '' : line.slice(c + 1) };
}
