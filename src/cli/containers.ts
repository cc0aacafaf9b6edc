import type { Command } from 'commander';
import { withHost } from './client.js';
import { addContainerConfigFlags, addRunOnlyFlags, type RunFlags } from './run-flags.js';
import { type Action, collect } from './container-action.js';
import { attachCmd, createCmd, runCmd, startCmd } from './container-run.js';
import { inspectCmd, psCmd } from './container-list.js';
import { eventsCmd, logsCmd } from './container-logs.js';
import { execCmd } from './container-exec.js';
import { diffCmd, exportCmd, killCmd, pauseCmd, portCmd, pruneCmd, renameCmd, restartCmd, rmCmd, stopCmd, topCmd, unpauseCmd, updateCmd, waitCmd } from './container-lifecycle.js';
import { statsCmd } from './container-stats.js';
import { cpCmd } from './container-cp.js';

// Docker-style container commands: `wharf run|create|start|ps|logs|exec|stop|kill|restart|rm|
// inspect|top|stats|cp|wait|pause|unpause|rename|events|update|port|attach|export|diff` and
// `wharf container …`. They speak only the Docker Engine API through dockerode, so they work
// against any Docker daemon too. Exit codes as docker: the container's own code for run/start -a/
// exec/attach, 125 for flag and daemon errors of run/create, 1 for other commands' errors.
// One file per group of subcommands (container-run.ts, container-list.ts, …); this one
// declares their flags and registers them.

/** Commands this module owns at the top level (the fast start path in client-main.ts uses it). */
export const CONTAINER_COMMANDS = [
  'run', 'create', 'start', 'ps', 'logs', 'exec', 'stop', 'kill', 'restart', 'rm', 'inspect', 'top', 'stats', 'cp', 'wait',
  'pause', 'unpause', 'rename', 'events', 'update', 'port', 'attach', 'export', 'diff', 'container',
] as const;

/** Flag errors exit 125, as docker's; help exits 0. */
function dockerExit(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exit(0);
    process.exit(125);
  });
}

const builders: Record<string, (parent: Command, name: string) => Command> = {
  run: (p, n) =>
    addRunOnlyFlags(addContainerConfigFlags(withHost(p.command(`${n} <image> [command...]`))))
      .description('create and run a new container from an image')
      .passThroughOptions()
      .action(((image: string, args: string[], f: RunFlags) => runCmd(image, args, f)) as Action),
  create: (p, n) =>
    addContainerConfigFlags(withHost(p.command(`${n} <image> [command...]`)))
      .description('create a new container')
      .passThroughOptions()
      .action(((image: string, args: string[], f: RunFlags) => createCmd(image, args, f)) as Action),
  start: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('start one or more stopped containers')
      .option('-a, --attach', "attach STDOUT/STDERR and forward signals")
      .option('-i, --interactive', "attach container's STDIN")
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .action(((names: string[], f) => startCmd(names, f)) as Action),
  ps: (p, n) =>
    withHost(p.command(n))
      .description('list containers')
      .option('-a, --all', 'show all containers (default shows just running)')
      .option('-q, --quiet', 'only display container IDs')
      .option('-n, --last <n>', 'show n last created containers (includes all states)')
      .option('-l, --latest', 'show the latest created container (includes all states)')
      .option('-s, --size', 'display total file sizes')
      .option('--no-trunc', "don't truncate output")
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', 'format output using a custom template: "table", "table TEMPLATE", "json", or a Go template')
      .action(((f) => psCmd({ ...f, ...(f.last !== undefined || f.latest ? { all: true } : {}) })) as Action),
  logs: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description('fetch the logs of a container')
      .option('-f, --follow', 'follow log output')
      .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
      .option('--since <time>', 'show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)')
      .option('--until <time>', 'show logs before a timestamp or relative')
      .option('-t, --timestamps', 'show timestamps')
      .option('--details', 'show extra details provided to logs')
      .action(((name: string, f) => logsCmd(name, f)) as Action),
  exec: (p, n) =>
    withHost(p.command(`${n} <container> <command...>`))
      .description('execute a command in a running container')
      .option('-d, --detach', 'detached mode: run command in the background')
      .option('-i, --interactive', 'keep STDIN open even if not attached')
      .option('-t, --tty', 'allocate a pseudo-TTY')
      .option('-e, --env <list>', 'set environment variables', collect, [])
      .option('--env-file <file>', 'read in a file of environment variables', collect, [])
      .option('-w, --workdir <dir>', 'working directory inside the container')
      .option('-u, --user <user>', 'username or UID (format: "<name|uid>[:<group|gid>]")')
      .option('--privileged', 'give extended privileges to the command')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .passThroughOptions()
      .action(((name: string, cmd: string[], f) => execCmd(name, cmd, f)) as Action),
  stop: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('stop one or more running containers')
      .option('-t, --time <seconds>', 'seconds to wait before killing the container')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => stopCmd(names, f)) as Action),
  restart: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('restart one or more containers')
      .option('-t, --time <seconds>', 'seconds to wait before killing the container')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => restartCmd(names, f)) as Action),
  kill: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('kill one or more running containers')
      .option('-s, --signal <signal>', 'signal to send to the container')
      .action(((names: string[], f) => killCmd(names, f)) as Action),
  rm: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('remove one or more containers')
      .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
      .option('-v, --volumes', 'remove anonymous volumes associated with the container')
      .option('-l, --link', 'remove the specified link')
      .action(((names: string[], f) => rmCmd(names, f)) as Action),
  inspect: (p, n) =>
    withHost(p.command(`${n} <name...>`))
      .description('return low-level information on containers or images')
      .option('-f, --format <format>', 'format output using a Go template')
      .option('-s, --size', 'display total file sizes if the type is container')
      .option('--type <type>', 'only inspect objects of the given type (container|image)')
      .action(((names: string[], f) => inspectCmd(names, f)) as Action),
  top: (p, n) =>
    withHost(p.command(`${n} <container> [ps_options...]`))
      .description('display the running processes of a container')
      .passThroughOptions()
      .action(((name: string, args: string[], f) => topCmd(name, args, f)) as Action),
  stats: (p, n) =>
    withHost(p.command(`${n} [container...]`))
      .description('display a live stream of container(s) resource usage statistics')
      .option('-a, --all', 'show all containers (default shows just running)')
      .option('--no-stream', 'disable streaming stats and only pull the first result')
      .option('--no-trunc', 'do not truncate output')
      .option('--format <format>', 'format output using a custom template: "table", "table TEMPLATE", "json", or a Go template')
      .action(((names: string[], f) => statsCmd(names, f)) as Action),
  cp: (p, n) =>
    withHost(p.command(`${n} <src> <dest>`))
      .description('copy files/folders between a container and the local filesystem (CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH, - for a tar stream)')
      .option('-a, --archive', 'archive mode (copy all uid/gid information)')
      .option('-L, --follow-link', 'always follow symbol link in SRC_PATH')
      .option('-q, --quiet', 'suppress progress output')
      .action(((src: string, dst: string, f) => cpCmd(src, dst, f)) as Action),
  wait: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('block until one or more containers stop, then print their exit codes')
      .action(((names: string[], f) => waitCmd(names, f)) as Action),
  pause: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('pause all processes within one or more containers')
      .action(((names: string[], f) => pauseCmd(names, f)) as Action),
  unpause: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('unpause all processes within one or more containers')
      .action(((names: string[], f) => unpauseCmd(names, f)) as Action),
  rename: (p, n) =>
    withHost(p.command(`${n} <container> <new-name>`))
      .description('rename a container')
      .action(((o: string, nn: string, f) => renameCmd(o, nn, f)) as Action),
  events: (p, n) =>
    withHost(p.command(n))
      .description('get real time events from the server')
      .option('--since <time>', 'show all events created since timestamp')
      .option('--until <time>', 'stream events until this timestamp')
      .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
      .option('--format <format>', '"json" or a Go template')
      .action(((f) => eventsCmd(f)) as Action),
  update: (p, n) =>
    withHost(p.command(`${n} <container...>`))
      .description('update configuration of one or more containers')
      .option('--blkio-weight <n>', 'block IO (relative weight), between 10 and 1000, or 0 to disable')
      .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
      .option('--cpu-period <n>', 'limit CPU CFS period')
      .option('--cpu-quota <n>', 'limit CPU CFS quota')
      .option('--cpus <number>', 'number of CPUs')
      .option('--cpuset-cpus <cpus>', 'CPUs in which to allow execution (0-3, 0,1)')
      .option('--cpuset-mems <mems>', 'MEMs in which to allow execution (0-3, 0,1)')
      .option('-m, --memory <bytes>', 'memory limit')
      .option('--memory-reservation <bytes>', 'memory soft limit')
      .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: -1 to enable unlimited swap")
      .option('--pids-limit <n>', 'tune container pids limit (set -1 for unlimited)')
      .option('--restart <policy>', 'restart policy to apply when a container exits')
      .action(((names: string[], f) => updateCmd(names, f)) as Action),
  port: (p, n) =>
    withHost(p.command(`${n} <container> [port]`))
      .description('list port mappings or a specific mapping for the container')
      .action(((name: string, spec: string | undefined, f) => portCmd(name, spec, f)) as Action),
  attach: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("attach local standard input, output, and error streams to a running container")
      .option('--no-stdin', 'do not attach STDIN')
      .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
      .option('--sig-proxy <bool>', 'proxy all received signals to the process', 'true')
      .action(((name: string, f) => attachCmd(name, f)) as Action),
  export: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("export a container's filesystem as a tar archive")
      .option('-o, --output <file>', 'write to a file, instead of STDOUT')
      .action(((name: string, f) => exportCmd(name, f)) as Action),
  diff: (p, n) =>
    withHost(p.command(`${n} <container>`))
      .description("inspect changes to files or directories on a container's filesystem")
      .action(((name: string, f) => diffCmd(name, f)) as Action),
  prune: (p, n) =>
    withHost(p.command(n))
      .description('remove all stopped containers')
      .option('-f, --force', 'do not prompt for confirmation')
      .option('--filter <filter>', 'provide filter values (e.g. "until=<timestamp>")', collect, [])
      .action(((f) => pruneCmd(f)) as Action),
};

/**
 * Registers the container commands at the top level and under `wharf container`. A top-level
 * name another area already owns (`wharf start` runs the daemon) is left to it; `wharf
 * container start` is always there, and client-main.ts routes `wharf start NAME…` here.
 */
export function registerContainerCommands(program: Command): Command {
  const top = ['run', 'create', 'start', 'ps', 'logs', 'exec', 'stop', 'kill', 'restart', 'rm', 'inspect', 'top', 'stats', 'cp', 'wait', 'pause', 'unpause', 'rename', 'events', 'update', 'port', 'attach', 'export', 'diff'];
  const taken = new Set(program.commands.map((c) => c.name()));
  for (const n of top) if (!taken.has(n)) dockerExit(builders[n]!(program, n));
  const container = program.commands.find((c) => c.name() === 'container') ?? program.command('container').description('manage containers');
  for (const n of top.filter((x) => x !== 'events')) dockerExit(builders[n]!(container, n));
  dockerExit(builders.ps!(container, 'ls'));
  dockerExit(builders.prune!(container, 'prune'));
  return container;
}

/** For client-main: whether `wharf start …` names containers (else it is the daemon's `start`). */
export function startNamesContainers(args: readonly string[]): boolean {
  const valued = new Set(['-H', '--host', '--detach-keys']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return i + 1 < args.length;
    if (a.startsWith('-')) {
      if (valued.has(a)) i++;
      else if (!['-a', '--attach', '-i', '--interactive', '-ai', '-ia'].includes(a) && !a.includes('=')) return false;
      continue;
    }
    return true;
  }
  return false;
}
