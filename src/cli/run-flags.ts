import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { WharfError } from '../core/errors.js';

// `wharf run` / `wharf create` flags and their translation into the Docker Engine API's
// create body, field for field as the docker CLI 28 builds it (cli/command/container/opts.go).
// Pure: the environment, the terminal size and file reads are passed in, so it is unit-tested.

const collect = (v: string, prev: string[]) => [...prev, v];

/** The options object commander fills for run/create. */
export interface RunFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  attach: string[];
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  label: string[];
  labelFile: string[];
  hostname?: string;
  domainname?: string;
  restart?: string;
  init?: boolean;
  privileged?: boolean;
  readOnly?: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  ulimit: string[];
  device: string[];
  tmpfs: string[];
  shmSize?: string;
  stopSignal?: string;
  stopTimeout?: string;
  sysctl: string[];
  groupAdd: string[];
  pid?: string;
  ipc?: string;
  uts?: string;
  userns?: string;
  cgroupns?: string;
  cgroupParent?: string;
  runtime?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthStartInterval?: string;
  healthcheck?: boolean; // --no-healthcheck sets false
  logDriver?: string;
  logOpt: string[];
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  memorySwappiness?: string;
  oomKillDisable?: boolean;
  oomScoreAdj?: string;
  cpus?: string;
  cpuShares?: string;
  cpuQuota?: string;
  cpuPeriod?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: string;
  blkioWeight?: string;
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  network: string[];
  ip?: string;
  ip6?: string;
  networkAlias: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOption: string[];
  addHost: string[];
  link: string[];
  volume: string[];
  mount: string[];
  volumesFrom: string[];
  volumeDriver?: string;
  detachKeys?: string;
  sigProxy?: string;
  pull?: string;
  platform?: string;
  quiet?: boolean;
  cidfile?: string;
  host?: string;
}

/** Adds Docker's run/create flags (and -h for --hostname, as docker; help stays --help). */
export function addContainerConfigFlags(cmd: Command): Command {
  return cmd
    .helpOption('--help', 'display help for command')
    .option('-a, --attach <stream>', 'attach to STDIN, STDOUT or STDERR', collect, [])
    .option('-i, --interactive', 'keep STDIN open even if not attached')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--rm', 'automatically remove the container and its associated anonymous volumes when it exits')
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <list>', 'set environment variables', collect, [])
    .option('--env-file <file>', 'read in a file of environment variables', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <cmd>', 'overwrite the default ENTRYPOINT of the image')
    .option('-l, --label <label>', 'set meta data on a container', collect, [])
    .option('--label-file <file>', 'read in a line delimited file of labels', collect, [])
    .option('-h, --hostname <name>', 'container host name')
    .option('--domainname <name>', 'container NIS domain name')
    .option('--restart <policy>', 'restart policy to apply when a container exits (no, always, on-failure[:N], unless-stopped)')
    .option('--init', 'run an init inside the container that forwards signals and reaps processes')
    .option('--privileged', 'give extended privileges to this container')
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--cap-add <cap>', 'add Linux capabilities', collect, [])
    .option('--cap-drop <cap>', 'drop Linux capabilities', collect, [])
    .option('--security-opt <opt>', 'security options', collect, [])
    .option('--ulimit <ulimit>', 'ulimit options (name=soft[:hard])', collect, [])
    .option('--device <device>', 'add a host device to the container', collect, [])
    .option('--tmpfs <mount>', 'mount a tmpfs directory (path[:options])', collect, [])
    .option('--shm-size <bytes>', 'size of /dev/shm')
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'timeout (in seconds) to stop a container')
    .option('--sysctl <k=v>', 'sysctl options', collect, [])
    .option('--group-add <group>', 'add additional groups to join', collect, [])
    .option('--pid <mode>', 'PID namespace to use')
    .option('--ipc <mode>', 'IPC mode to use')
    .option('--uts <mode>', 'UTS namespace to use')
    .option('--userns <mode>', 'user namespace to use')
    .option('--cgroupns <mode>', 'cgroup namespace to use (host|private)')
    .option('--cgroup-parent <parent>', 'optional parent cgroup for the container')
    .option('--runtime <runtime>', 'runtime to use for this container')
    .option('--health-cmd <cmd>', 'command to run to check health')
    .option('--health-interval <duration>', 'time between running the check (ms|s|m|h)')
    .option('--health-timeout <duration>', 'maximum time to allow one check to run (ms|s|m|h)')
    .option('--health-retries <n>', 'consecutive failures needed to report unhealthy')
    .option('--health-start-period <duration>', 'start period for the container to initialize before starting health-retries countdown')
    .option('--health-start-interval <duration>', 'time between running the check during the start period')
    .option('--no-healthcheck', 'disable any container-specified HEALTHCHECK')
    .option('--log-driver <driver>', 'logging driver for the container')
    .option('--log-opt <opt>', 'log driver options', collect, [])
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--memory-swap <bytes>', "swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--memory-swappiness <n>', 'tune container memory swappiness (0 to 100)')
    .option('--oom-kill-disable', 'disable OOM killer')
    .option('--oom-score-adj <n>', "tune host's OOM preferences (-1000 to 1000)")
    .option('--cpus <number>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpu-quota <n>', 'limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpu-period <n>', 'limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpuset-cpus <cpus>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <mems>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit (set -1 for unlimited)')
    .option('--blkio-weight <n>', 'block IO (relative weight), between 10 and 1000, or 0 to disable')
    .option('-p, --publish <spec>', "publish a container's port(s) to the host", collect, [])
    .option('-P, --publish-all', 'publish all exposed ports to random ports')
    .option('--expose <port>', 'expose a port or a range of ports', collect, [])
    .option('--network <network>', 'connect a container to a network', collect, [])
    .option('--net <network>', 'alias of --network', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--ip <address>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--ip6 <address>', 'IPv6 address (e.g., 2001:db8::33)')
    .option('--network-alias <alias>', 'add network-scoped alias for the container', collect, [])
    .option('--dns <ip>', 'set custom DNS servers', collect, [])
    .option('--dns-search <domain>', 'set custom DNS search domains', collect, [])
    .option('--dns-option <opt>', 'set DNS options', collect, [])
    .option('--add-host <host:ip>', 'add a custom host-to-IP mapping (host:ip)', collect, [])
    .option('--link <name[:alias]>', 'add link to another container', collect, [])
    .option('-v, --volume <spec>', 'bind mount a volume', collect, [])
    .option('--mount <spec>', 'attach a filesystem mount to the container', collect, [])
    .option('--volumes-from <container>', 'mount volumes from the specified container(s)', collect, [])
    .option('--volume-driver <driver>', 'optional volume driver for the container')
    .option('--pull <policy>', 'pull image before creating ("always", "missing", "never")', 'missing')
    .option('--platform <platform>', 'set platform if server is multi-platform capable')
    .option('-q, --quiet', 'suppress the pull output')
    .option('--cidfile <file>', 'write the container ID to the file');
}

export function addRunOnlyFlags(cmd: Command): Command {
  return cmd
    .option('-d, --detach', 'run container in background and print container ID')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container')
    .option('--sig-proxy <bool>', 'proxy received signals to the process', 'true');
}

export type Body = Record<string, any>;

export interface BuildContext {
  env: NodeJS.ProcessEnv;
  readFile: (path: string) => string;
  cwd: string;
  /** [rows, cols] of the client's terminal when -t and stdout is a terminal. */
  consoleSize?: [number, number];
}

export const defaultBuildContext = (): BuildContext => {
  const ctx: BuildContext = { env: process.env, readFile: (p) => readFileSync(p, 'utf8'), cwd: process.cwd() };
  if (process.stdout.isTTY) ctx.consoleSize = [process.stdout.rows, process.stdout.columns];
  return ctx;
};

const flagErr = (value: string, flag: string, why: string) => new WharfError('InvalidArgument', `invalid argument "${value}" for "${flag}" flag: ${why}`);

/** docker/go-units RAMInBytes: 64m, 1g, 512k, 100 (binary units). */
export function ramInBytes(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw flagErr(v, flag, `invalid size: '${v}'`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * mult);
}

/** --memory-swap also accepts -1 (unlimited). */
function ramOrUnlimited(v: string, flag: string): number {
  return v.trim() === '-1' ? -1 : ramInBytes(v, flag);
}

function intFlag(v: string, flag: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw flagErr(v, flag, `strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/** Go's time.ParseDuration for the units Docker users write (ns us ms s m h, combined). */
export function goDurationNs(v: string, flag: string): number {
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let pos = 0;
  let total = 0;
  if (!v) throw flagErr(v, flag, `time: invalid duration "${v}"`);
  while (pos < v.length) {
    re.lastIndex = pos;
    const m = re.exec(v);
    if (!m) throw flagErr(v, flag, `time: invalid duration "${v}"`);
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  return Math.round(total);
}

/** Lines of an --env-file / --label-file: blank lines and # comments skipped. */
function fileLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s+/, ''))
    .filter((l) => l && !l.startsWith('#'));
}

/** `-e NAME` takes the client's value, and is dropped when it is unset (as docker). */
function envEntry(e: string, env: NodeJS.ProcessEnv): string | undefined {
  if (e.includes('=')) {
    if (e.startsWith('=')) throw new WharfError('InvalidArgument', `invalid environment variable: ${e}`);
    return e;
  }
  const v = env[e];
  return v === undefined ? undefined : `${e}=${v}`;
}

export function parseEnv(flags: Pick<RunFlags, 'env' | 'envFile'>, ctx: BuildContext): string[] {
  const out: string[] = [];
  for (const f of flags.envFile) for (const l of fileLines(ctx.readFile(f))) {
    const e = envEntry(l, ctx.env);
    if (e !== undefined) out.push(e);
  }
  for (const l of flags.env) {
    const e = envEntry(l, ctx.env);
    if (e !== undefined) out.push(e);
  }
  return out;
}

export function parseLabels(labels: string[], labelFiles: string[], ctx: BuildContext): Record<string, string> {
  const out: Record<string, string> = {};
  const all = [...labelFiles.flatMap((f) => fileLines(ctx.readFile(f))), ...labels];
  for (const l of all) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new WharfError('InvalidArgument', `invalid label format: "${l}"`);
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

export interface PortSpec {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
}

function portRange(s: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new WharfError('InvalidArgument', `invalid containerPort: ${s}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || a > 65535 || b < a || b > 65535) throw new WharfError('InvalidArgument', `invalid port range: ${s} in "${spec}"`);
  return [a, b];
}

/** nat.ParsePortSpecs: `[ip:][hostPort:]containerPort[/proto]`, ranges, `[v6]:`. */
export function parsePorts(publish: string[], expose: string[]): PortSpec {
  const out: PortSpec = { exposed: {}, bindings: {} };
  for (const spec of publish) {
    let rest = spec;
    let proto = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      proto = rest.slice(slash + 1).toLowerCase();
      rest = rest.slice(0, slash);
      if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new WharfError('InvalidArgument', `invalid proto: ${proto}`);
    }
    let ip = '';
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
    if (v6) {
      ip = v6[1]!;
      rest = v6[2]!;
    }
    const parts = rest.split(':');
    let hostPort = '';
    let ctrPort: string;
    if (parts.length === 1) ctrPort = parts[0]!;
    else if (parts.length === 2) [hostPort, ctrPort] = parts as [string, string];
    else if (parts.length === 3 && !v6) [ip, hostPort, ctrPort] = parts as [string, string, string];
    else throw new WharfError('InvalidArgument', `invalid port format for --publish: ${spec}`);
    if (!ctrPort) throw new WharfError('InvalidArgument', `no port specified: ${spec}<empty>`);
    if (ip && !/^[\d.]+$|:/.test(ip)) throw new WharfError('InvalidArgument', `invalid IP address: ${ip}`);
    const [c0, c1] = portRange(ctrPort, spec);
    let h0 = 0;
    let h1 = 0;
    if (hostPort) [h0, h1] = portRange(hostPort, spec);
    if (hostPort && h1 - h0 !== c1 - c0 && h0 !== h1) throw new WharfError('InvalidArgument', `invalid ranges specified for container and host Ports: ${ctrPort} and ${hostPort}`);
    for (let p = c0; p <= c1; p++) {
      const key = `${p}/${proto}`;
      out.exposed[key] = {};
      const hp = !hostPort ? '' : h0 === h1 && c0 !== c1 ? String(h0) : h0 !== h1 && c0 === c1 ? `${h0}-${h1}` : String(h0 + (p - c0));
      (out.bindings[key] ??= []).push({ HostIp: ip, HostPort: hp });
    }
  }
  for (const e of expose) {
    const [port, proto = 'tcp'] = e.split('/') as [string, string | undefined];
    const [a, b] = portRange(port, e);
    for (let p = a; p <= b; p++) out.exposed[`${p}/${proto}`] = {};
  }
  return out;
}

/** -v: `name:/dst[:opts]` and `/host:/dst[:opts]` → Binds; `/dst` → anonymous Volumes. */
export function parseVolumes(specs: string[], cwd: string): { binds: string[]; volumes: Record<string, Record<string, never>> } {
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const spec of specs) {
    const parts = spec.split(':');
    if (parts.length === 1) {
      if (!isAbsolute(spec)) throw new WharfError('InvalidArgument', `invalid volume specification: '${spec}': invalid mount config for type "volume": invalid mount path: '${spec}' mount path must be absolute`);
      volumes[spec] = {};
      continue;
    }
    if (parts.length > 3 || !parts[0] || !parts[1]) throw new WharfError('InvalidArgument', `invalid volume specification: '${spec}'`);
    let src = parts[0];
    const dst = parts[1];
    if (!isAbsolute(dst)) throw new WharfError('InvalidArgument', `invalid volume specification: '${spec}': invalid mount config for type "bind": invalid mount path: '${dst}' mount path must be absolute`);
    if (src.startsWith('.')) src = resolve(cwd, src);
    if (parts[2] !== undefined) {
      for (const o of parts[2].split(',')) {
        if (!/^(ro|rw|z|Z|nocopy|r?shared|r?slave|r?private|delegated|cached|consistent)$/.test(o)) throw new WharfError('InvalidArgument', `invalid mode: ${o}`);
      }
    }
    binds.push([src, dst, ...(parts[2] !== undefined ? [parts[2]] : [])].join(':'));
  }
  return { binds, volumes };
}

/** --mount type=bind|volume|tmpfs,source=…,target=…,readonly,… → a Mounts entry. */
export function parseMount(spec: string): Body {
  const m: Body = { Type: 'volume' };
  const kv: [string, string | undefined][] = spec.split(',').map((f) => {
    const eq = f.indexOf('=');
    return eq < 0 ? [f.trim().toLowerCase(), undefined] : [f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1)];
  });
  const boolv = (k: string, v: string | undefined) => {
    if (v === undefined || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new WharfError('InvalidArgument', `invalid value for ${k}: ${v}`);
  };
  const typ = kv.find(([k]) => k === 'type');
  if (typ) m.Type = typ[1];
  if (!['bind', 'volume', 'tmpfs', 'npipe', 'cluster', 'image'].includes(String(m.Type))) throw new WharfError('InvalidArgument', `invalid value for 'type': ${String(m.Type)}`);
  for (const [k, v] of kv) {
    switch (k) {
      case 'type':
        break;
      case 'source':
      case 'src':
        m.Source = v ?? '';
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.Target = v ?? '';
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = boolv(k, v);
        break;
      case 'consistency':
        m.Consistency = v;
        break;
      case 'bind-propagation':
        (m.BindOptions ??= {}).Propagation = v;
        break;
      case 'bind-recursive':
        (m.BindOptions ??= {}).NonRecursive = v === 'disabled';
        break;
      case 'volume-nocopy':
        (m.VolumeOptions ??= {}).NoCopy = boolv(k, v);
        break;
      case 'volume-subpath':
        (m.VolumeOptions ??= {}).Subpath = v;
        break;
      case 'volume-label': {
        const [lk, lv = ''] = (v ?? '').split('=') as [string, string | undefined];
        ((m.VolumeOptions ??= {}).Labels ??= {})[lk] = lv;
        break;
      }
      case 'volume-driver':
        ((m.VolumeOptions ??= {}).DriverConfig ??= {}).Name = v;
        break;
      case 'volume-opt': {
        const eq = (v ?? '').indexOf('=');
        if (eq <= 0) throw new WharfError('InvalidArgument', `invalid volume-opt: ${v ?? ''}`);
        (((m.VolumeOptions ??= {}).DriverConfig ??= {}).Options ??= {})[v!.slice(0, eq)] = v!.slice(eq + 1);
        break;
      }
      case 'tmpfs-size':
        (m.TmpfsOptions ??= {}).SizeBytes = ramInBytes(v ?? '', '--mount');
        break;
      case 'tmpfs-mode':
        (m.TmpfsOptions ??= {}).Mode = parseInt(v ?? '', 8);
        break;
      default:
        throw new WharfError('InvalidArgument', `invalid argument "${spec}" for "--mount" flag: unexpected key '${k}' in '${k}${v === undefined ? '' : `=${v}`}'`);
    }
  }
  if (!m.Target) throw new WharfError('InvalidArgument', `invalid argument "${spec}" for "--mount" flag: target is required`);
  if (m.Type === 'bind' && !m.Source) throw new WharfError('InvalidArgument', `invalid argument "${spec}" for "--mount" flag: source is required when specifying bind mount`);
  return m;
}

export function parseUlimit(s: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(s);
  if (!m) throw flagErr(s, '--ulimit', `invalid ulimit argument: ${s}`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) throw flagErr(s, '--ulimit', `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

export function parseDevice(s: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = s.split(':');
  const host = parts[0]!;
  let ctr = host;
  let perm = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1]!)) perm = parts[1]!;
    else ctr = parts[1]!;
  } else if (parts.length === 3) {
    ctr = parts[1]!;
    perm = parts[2]!;
  } else if (parts.length > 3) throw flagErr(s, '--device', `bad format for path: ${s}`);
  if (!/^[rwm]+$/.test(perm)) throw flagErr(s, '--device', `bad mode specified: ${perm}`);
  if (!isAbsolute(ctr)) throw flagErr(s, '--device', `${ctr} is not an absolute path`);
  return { PathOnHost: host, PathInContainer: ctr, CgroupPermissions: perm };
}

export function parseRestart(s: string): { Name: string; MaximumRetryCount: number } {
  const [name, count] = s.split(':') as [string, string | undefined];
  if (!['no', 'always', 'on-failure', 'unless-stopped', ''].includes(name)) throw flagErr(s, '--restart', `invalid restart policy '${name}'`);
  if (count !== undefined) {
    if (name !== 'on-failure') throw flagErr(s, '--restart', `maximum retry count can only be used with 'on-failure'`);
    if (!/^\d+$/.test(count)) throw flagErr(s, '--restart', `invalid maximum retry count: ${count}`);
  }
  return { Name: name, MaximumRetryCount: count === undefined ? 0 : Number(count) };
}

function keyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of list) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw flagErr(s, flag, `${s} is not a key=value pair`);
    out[s.slice(0, eq)] = s.slice(eq + 1);
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const isIp = (s: string) => IPV4.test(s) || (/^[0-9a-fA-F:.]+$/.test(s) && s.includes(':'));

/** --add-host host:ip (also host=ip and host:[v6]) → "host:ip". */
export function parseAddHost(s: string): string {
  const m = /^([^:=]+)[:=]\[?([^\]]+)\]?$/.exec(s);
  if (!m || !(isIp(m[2]!) || m[2] === 'host-gateway')) throw flagErr(s, '--add-host', `invalid IP address in add-host: "${m?.[2] ?? s}"`);
  return `${m[1]}:${m[2]}`;
}

const NON_USER_NETWORKS = new Set(['default', 'bridge', 'host', 'none']);
const isUserNetwork = (n: string) => !NON_USER_NETWORKS.has(n) && !n.startsWith('container:');

/** The create request: name (query), body, and what the client should attach. */
export interface CreateRequest {
  name?: string;
  platform?: string;
  body: Body;
}

/** Builds Docker's create body from run/create flags, validating everything first. */
export function buildCreateRequest(image: string, args: string[], f: RunFlags, ctx: BuildContext, opts: { run: boolean } = { run: true }): CreateRequest {
  const fail = (msg: string) => new WharfError('InvalidArgument', msg);
  if (!image) throw fail('"run" requires at least 1 argument.');
  if (f.detach && f.attach.length) throw fail('conflicting options: cannot specify both --attach and --detach');
  for (const a of f.attach) if (!['stdin', 'stdout', 'stderr'].includes(a.toLowerCase())) throw fail(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (f.rm && f.restart && !['no', ''].includes(f.restart)) throw fail('conflicting options: cannot specify both --restart and --rm');
  if (f.pull && !['always', 'missing', 'never'].includes(f.pull)) throw fail(`invalid pull option: '${f.pull}': must be one of "always", "missing" or "never"`);

  const attach = f.attach.map((a) => a.toLowerCase());
  const detached = opts.run ? f.detach === true : true;
  let attachStdin = attach.includes('stdin');
  let attachStdout = attach.includes('stdout');
  let attachStderr = attach.includes('stderr');
  if (!detached && !attach.length) {
    attachStdout = true;
    attachStderr = true;
    if (f.interactive) attachStdin = true;
  }
  if (!opts.run && f.interactive) attachStdin = true;
  if (!opts.run && !attach.length) {
    attachStdout = true;
    attachStderr = true;
  }

  const ports = parsePorts(f.publish, f.expose);
  const vols = parseVolumes(f.volume, ctx.cwd);
  const env = parseEnv(f, ctx);
  const labels = parseLabels(f.label, f.labelFile, ctx);

  const config: Body = {
    Hostname: f.hostname ?? '',
    Domainname: f.domainname ?? '',
    User: f.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: f.tty === true,
    OpenStdin: f.interactive === true,
    StdinOnce: f.interactive === true && attachStdin && opts.run && !detached,
    Env: env,
    Cmd: args.length ? args : null,
    Image: image,
    Volumes: vols.volumes,
    WorkingDir: f.workdir ?? '',
    Entrypoint: f.entrypoint === undefined ? null : f.entrypoint === '' ? [''] : [f.entrypoint],
    OnBuild: null,
    Labels: labels,
  };
  if (Object.keys(ports.exposed).length) config.ExposedPorts = ports.exposed;
  if (f.stopSignal) config.StopSignal = f.stopSignal;
  if (f.stopTimeout !== undefined) config.StopTimeout = intFlag(f.stopTimeout, '--stop-timeout');

  // Healthcheck: --no-healthcheck conflicts with the --health-* flags.
  const healthSet = [f.healthCmd, f.healthInterval, f.healthTimeout, f.healthRetries, f.healthStartPeriod, f.healthStartInterval].some((v) => v !== undefined);
  if (f.healthcheck === false) {
    if (healthSet) throw fail('--no-healthcheck conflicts with --health-* options');
    config.Healthcheck = { Test: ['NONE'] };
  } else if (healthSet) {
    const hc: Body = {};
    if (f.healthCmd !== undefined) hc.Test = ['CMD-SHELL', f.healthCmd];
    const dur = (v: string | undefined, flag: string) => {
      if (v === undefined) return 0;
      const ns = goDurationNs(v, flag);
      if (ns < 0) throw fail(`${flag} cannot be negative`);
      return ns;
    };
    hc.Interval = dur(f.healthInterval, '--health-interval');
    hc.Timeout = dur(f.healthTimeout, '--health-timeout');
    hc.StartPeriod = dur(f.healthStartPeriod, '--health-start-period');
    hc.StartInterval = dur(f.healthStartInterval, '--health-start-interval');
    hc.Retries = f.healthRetries === undefined ? 0 : intFlag(f.healthRetries, '--health-retries');
    if (hc.Retries < 0) throw fail('--health-retries cannot be negative');
    config.Healthcheck = hc;
  }

  // Networks
  const nets = [...f.network, ...((f as { net?: string[] }).net ?? [])];
  const netMode = nets[0] ?? 'default';
  if (nets.length > 1 && nets.some((n) => !isUserNetwork(n))) throw fail('conflicting options: cannot attach both user-defined and non-user-defined network-modes');
  if (new Set(nets).size !== nets.length) throw fail(`network "${nets.find((n, i) => nets.indexOf(n) !== i)}" is specified multiple times`);
  if ((f.networkAlias.length || f.ip || f.ip6) && !isUserNetwork(netMode)) {
    if (f.networkAlias.length) throw fail('network-scoped aliases are only supported for user-defined networks');
    throw fail('user specified IP address is supported on user defined networks only');
  }
  if (f.ip && !IPV4.test(f.ip)) throw fail(`invalid IPv4 address: ${f.ip}`);
  if (netMode.startsWith('container:') && (f.publish.length || f.publishAll || f.dns.length || f.addHost.length || f.hostname)) {
    throw fail('conflicting options: port publishing, DNS settings, hostname and --add-host cannot be used with --network container:…');
  }
  const endpoints: Body = {};
  nets.forEach((n, i) => {
    const ep: Body = {};
    if (i === 0) {
      if (f.networkAlias.length) ep.Aliases = f.networkAlias;
      if (f.ip || f.ip6) ep.IPAMConfig = { ...(f.ip ? { IPv4Address: f.ip } : {}), ...(f.ip6 ? { IPv6Address: f.ip6 } : {}) };
      if (f.link.length && isUserNetwork(n)) ep.Links = f.link.map(normalizeLink);
    }
    if (i === 0 && nets.length === 1 && !Object.keys(ep).length) return;
    endpoints[n] = ep;
  });
  for (const d of f.dns) if (!isIp(d)) throw fail(`${d} is not an ip address`);

  const hc: Body = {
    Binds: vols.binds.length ? vols.binds : null,
    ContainerIDFile: f.cidfile ?? '',
    LogConfig: { Type: f.logDriver ?? '', Config: keyValues(f.logOpt, '--log-opt') },
    NetworkMode: netMode,
    PortBindings: ports.bindings,
    RestartPolicy: f.restart ? parseRestart(f.restart) : { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: f.rm === true,
    VolumeDriver: f.volumeDriver ?? '',
    VolumesFrom: f.volumesFrom.length ? f.volumesFrom : null,
    ConsoleSize: f.tty && ctx.consoleSize ? ctx.consoleSize : [0, 0],
    CapAdd: f.capAdd.length ? f.capAdd : null,
    CapDrop: f.capDrop.length ? f.capDrop : null,
    CgroupnsMode: f.cgroupns ?? '',
    Dns: f.dns,
    DnsOptions: f.dnsOption,
    DnsSearch: f.dnsSearch,
    ExtraHosts: f.addHost.length ? f.addHost.map(parseAddHost) : null,
    GroupAdd: f.groupAdd.length ? f.groupAdd : null,
    IpcMode: f.ipc ?? '',
    Cgroup: '',
    Links: f.link.length && !isUserNetwork(netMode) ? f.link.map(normalizeLink) : null,
    OomScoreAdj: f.oomScoreAdj === undefined ? 0 : intFlag(f.oomScoreAdj, '--oom-score-adj'),
    PidMode: f.pid ?? '',
    Privileged: f.privileged === true,
    PublishAllPorts: f.publishAll === true,
    ReadonlyRootfs: f.readOnly === true,
    SecurityOpt: f.securityOpt.length ? f.securityOpt.map((o) => securityOpt(o, ctx)) : null,
    Tmpfs: f.tmpfs.length ? tmpfsMap(f.tmpfs) : undefined,
    UTSMode: f.uts ?? '',
    UsernsMode: f.userns ?? '',
    ShmSize: f.shmSize === undefined ? 0 : ramInBytes(f.shmSize, '--shm-size'),
    Sysctls: f.sysctl.length ? keyValues(f.sysctl, '--sysctl') : undefined,
    Runtime: f.runtime ?? '',
    Isolation: '',
    CpuShares: f.cpuShares === undefined ? 0 : intFlag(f.cpuShares, '-c, --cpu-shares'),
    Memory: f.memory === undefined ? 0 : ramInBytes(f.memory, '-m, --memory'),
    NanoCpus: f.cpus === undefined ? 0 : nanoCpus(f.cpus),
    CgroupParent: f.cgroupParent ?? '',
    BlkioWeight: f.blkioWeight === undefined ? 0 : intFlag(f.blkioWeight, '--blkio-weight'),
    CpuPeriod: f.cpuPeriod === undefined ? 0 : intFlag(f.cpuPeriod, '--cpu-period'),
    CpuQuota: f.cpuQuota === undefined ? 0 : intFlag(f.cpuQuota, '--cpu-quota'),
    CpusetCpus: f.cpusetCpus ?? '',
    CpusetMems: f.cpusetMems ?? '',
    Devices: f.device.map(parseDevice),
    MemoryReservation: f.memoryReservation === undefined ? 0 : ramInBytes(f.memoryReservation, '--memory-reservation'),
    MemorySwap: f.memorySwap === undefined ? 0 : ramOrUnlimited(f.memorySwap, '--memory-swap'),
    MemorySwappiness: f.memorySwappiness === undefined ? null : intFlag(f.memorySwappiness, '--memory-swappiness'),
    OomKillDisable: f.oomKillDisable === true,
    PidsLimit: f.pidsLimit === undefined ? null : intFlag(f.pidsLimit, '--pids-limit'),
    Ulimits: f.ulimit.length ? f.ulimit.map(parseUlimit) : null,
    Mounts: f.mount.length ? f.mount.map(parseMount) : undefined,
  };
  if (f.init !== undefined) hc.Init = f.init;
  if (hc.BlkioWeight !== 0 && (hc.BlkioWeight < 10 || hc.BlkioWeight > 1000)) throw fail('range of blkio weight is from 10 to 1000');
  if (f.cpus !== undefined && (f.cpuQuota !== undefined || f.cpuPeriod !== undefined)) throw fail('conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
  if (hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory) throw fail('minimum memoryswap limit should be larger than memory limit, see usage');
  if (hc.MemorySwap > 0 && !hc.Memory) throw fail('you should always set the memory limit when using memoryswap limit, see usage');
  if (hc.MemorySwappiness !== null && (hc.MemorySwappiness < 0 || hc.MemorySwappiness > 100)) throw fail(`invalid value: ${hc.MemorySwappiness}, valid memory swappiness range is 0-100`);
  if (hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000) throw fail(`invalid value: ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  for (const k of Object.keys(hc)) if (hc[k] === undefined) delete hc[k];

  const body: Body = { ...config, HostConfig: hc, NetworkingConfig: { EndpointsConfig: endpoints } };
  const out: CreateRequest = { body };
  if (f.name !== undefined) {
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(f.name)) throw fail(`Invalid container name (${f.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    out.name = f.name;
  }
  if (f.platform) out.platform = f.platform;
  return out;
}

function normalizeLink(l: string): string {
  const [name, alias] = l.split(':') as [string, string | undefined];
  if (!name) throw new WharfError('InvalidArgument', `invalid link: ${l}`);
  return `${name}:${alias ?? name}`;
}

function nanoCpus(v: string): number {
  const n = Number(v);
  if (!/^\d*\.?\d+$/.test(v.trim()) || !Number.isFinite(n)) throw flagErr(v, '--cpus', `failed to parse ${v} as a rational number`);
  return Math.round(n * 1e9);
}

function tmpfsMap(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list) {
    const i = t.indexOf(':');
    const path = i < 0 ? t : t.slice(0, i);
    if (!isAbsolute(path)) throw flagErr(t, '--tmpfs', `invalid tmpfs path: ${path}`);
    out[path] = i < 0 ? '' : t.slice(i + 1);
  }
  return out;
}

/** `seccomp=<file>` is sent as the file's JSON content, as the docker CLI does. */
function securityOpt(o: string, ctx: BuildContext): string {
  const m = /^seccomp[=:](.+)$/.exec(o);
  if (m && m[1] !== 'unconfined' && m[1] !== 'builtin') {
    let text: string;
    try {
      text = ctx.readFile(m[1]!);
    } catch (e) {
      throw new WharfError('InvalidArgument', `opening seccomp profile (${m[1]}) failed: ${(e as Error).message}`);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch {
      throw new WharfError('InvalidArgument', `compacting json for seccomp profile (${m[1]}) failed`);
    }
  }
  if (o === 'no-new-privileges' || /^no-new-privileges[=:](true|false)$/.test(o)) return o.replace(':', '=');
  if (!/^[a-z-]+[=:]/.test(o) && o !== 'no-new-privileges') throw flagErr(o, '--security-opt', `Invalid --security-opt: "${o}"`);
  return o;
}
