import { invalid } from '../../core/errors.js';
import { resolveUser } from './user.js';
import { DEFAULT_SECCOMP_PROFILE, toOciSeccomp, type DockerSeccompProfile, type OciSeccomp } from './seccomp.js';
import { parseSignal } from './signals.js';

// Builds the OCI runtime config.json for a container, as Docker would, from the image
// config and the create options in domain terms (not Docker wire types). Pure: every
// fact about the host or the rootfs (passwd/group text, host rlimits, device numbers)
// comes in through `SpecContext`.

export interface ImageConfig {
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  env?: string[] | null;
  workingDir?: string;
  user?: string;
  stopSignal?: string;
  labels?: Record<string, string> | null;
}

/** `private` = a new namespace; `host` = the host's; `path` = join the namespace at that path (e.g. /proc/PID/ns/net). */
export type NamespaceMode = { mode: 'private' } | { mode: 'host' } | { mode: 'path'; path: string };

export interface BindMount {
  source: string;
  destination: string;
  readonly?: boolean;
  propagation?: 'rprivate' | 'private' | 'rshared' | 'shared' | 'rslave' | 'slave';
}

export interface DeviceMapping {
  /** Path inside the container. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
  /** Any of r, w, m. */
  permissions: string;
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface Resources {
  memory?: number; // bytes, 0 = unlimited
  memoryReservation?: number;
  /** memory + swap in bytes; -1 unlimited; unset with memory set → 2 × memory (Docker). */
  memorySwap?: number;
  memorySwappiness?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  nanoCpus?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** ≤ 0 = unlimited (Docker's 0 and -1). */
  pidsLimit?: number;
  blkioWeight?: number;
  oomKillDisable?: boolean;
}

export type SeccompOption = { kind: 'default' } | { kind: 'unconfined' } | { kind: 'profile'; profile: DockerSeccompProfile };

export interface CreateOptions {
  /** Overrides the image's entrypoint; `[]` or `[""]` clears it (and then the image's cmd is not used). */
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  env?: string[];
  workingDir?: string;
  user?: string;
  groupAdd?: string[];
  hostname?: string;
  domainname?: string;
  tty?: boolean;
  namespaces?: { pid?: NamespaceMode; ipc?: NamespaceMode; uts?: NamespaceMode; net?: NamespaceMode; cgroup?: NamespaceMode };
  /** /dev/shm size in bytes (default 64 MiB). */
  shmSize?: number;
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  readonlyRootfs?: boolean;
  /** destination → tmpfs options ("size=64m,mode=1777"). */
  tmpfs?: Record<string, string>;
  mounts?: BindMount[];
  devices?: DeviceMapping[];
  ulimits?: Ulimit[];
  seccomp?: SeccompOption;
  noNewPrivileges?: boolean;
  sysctls?: Record<string, string>;
  resources?: Resources;
  /** Run a small init as PID 1 (`--init`): the host path of a static init binary (tini-static). */
  initPath?: string;
  stopSignal?: string;
  oomScoreAdj?: number;
  annotations?: Record<string, string>;
}

export interface SpecContext {
  /** Absolute path of the rootfs (mounted overlay). */
  rootfs: string;
  /** Always set: where runc puts the container's cgroup (e.g. /wharf/<id>). */
  cgroupsPath: string;
  /** Contents of the rootfs /etc/passwd and /etc/group (undefined when absent). */
  passwd?: string;
  group?: string;
  /** Host hard limits by rlimit name (`nofile` …), from `/proc/self/limits`. */
  hostLimits?: Record<string, { soft: number; hard: number }>;
  /** cgroup v2 host: cgroup namespace private by default, as Docker does. */
  cgroupV2?: boolean;
  /** Prepared volume, bind and tmpfs mounts (host sources resolved by the engine's mounts step), parents first. */
  mounts?: { destination: string; type: string; source: string; options: string[] }[];
  /** The daemon's own bounding set (`parseCapBnd`): what "all capabilities" means on this host. */
  hostCapabilities?: readonly string[];
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits?: { type: string; soft: number; hard: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: { destination: string; type?: string; source: string; options?: string[] }[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    resources: Record<string, unknown> & { devices: { allow: boolean; type?: string; major?: number; minor?: number; access?: string }[] };
    cgroupsPath: string;
    devices?: { path: string; type: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }[];
    sysctl?: Record<string, string>;
    seccomp?: OciSeccomp;
    maskedPaths?: string[];
    readonlyPaths?: string[];
  };
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';
export const STOP_SIGNAL_ANNOTATION = 'io.wharf.stop-signal';

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability the kernel knows (0..40), in number order. */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const RLIMITS: Record<string, string> = {
  as: 'RLIMIT_AS', core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS', memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE', nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

/** `/proc/self/limits` row titles → rlimit names. */
const LIMIT_TITLES: Record<string, string> = {
  'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack',
  'Max core file size': 'core', 'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile',
  'Max locked memory': 'memlock', 'Max address space': 'as', 'Max file locks': 'locks',
  'Max pending signals': 'sigpending', 'Max msgqueue size': 'msgqueue', 'Max nice priority': 'nice',
  'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
};

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Parses `/proc/self/limits` text; "unlimited" becomes Number.MAX_SAFE_INTEGER. */
export function parseProcLimits(text: string): Record<string, { soft: number; hard: number }> {
  const out: Record<string, { soft: number; hard: number }> = {};
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = LIMIT_TITLES[m[1]!.trim()];
    if (!name) continue;
    const num = (s: string) => (s === 'unlimited' ? UNLIMITED : Number(s));
    out[name] = { soft: num(m[2]!), hard: num(m[3]!) };
  }
  return out;
}

/** Normalises `--cap-add` / `--cap-drop` names (`net_admin`, `CAP_NET_ADMIN`, `ALL`), rejecting unknown ones. */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(full)) throw invalid(`unknown capability: ${JSON.stringify(name)}`);
  return full;
}

/** Capability names in a `/proc/<pid>/status` CapBnd mask (bit n = ALL_CAPABILITIES[n]). */
export function parseCapBnd(statusText: string): string[] {
  const m = /^CapBnd:\s*([0-9a-fA-F]+)$/m.exec(statusText);
  if (!m) return [...ALL_CAPABILITIES];
  const mask = BigInt(`0x${m[1]!}`);
  return ALL_CAPABILITIES.filter((_c, i) => ((mask >> BigInt(i)) & 1n) === 1n);
}

/**
 * Docker's capability arithmetic: defaults, then drops, then adds; ALL in either list.
 * "All" (privileged, `--cap-add ALL`) means all the daemon itself holds (moby's GetAllCapabilities):
 * pass `hostCaps` (from `parseCapBnd`), or runc fails with "unable to apply caps" on a host whose
 * bounding set lacks some (CAP_SYS_RESOURCE here).
 */
export function computeCapabilities(capAdd: readonly string[] = [], capDrop: readonly string[] = [], privileged = false, hostCaps?: readonly string[]): string[] {
  const add = capAdd.map(normalizeCapability);
  const drop = capDrop.map(normalizeCapability);
  const all = hostCaps ? ALL_CAPABILITIES.filter((c) => hostCaps.includes(c)) : ALL_CAPABILITIES;
  if (privileged) return [...all];
  if (add.includes('ALL')) return all.filter((c) => !drop.includes(c));
  let caps = drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  for (const c of add) if (!caps.includes(c)) caps = [...caps, c];
  return caps;
}

const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** Docker accepts only namespaced sysctls: IPC ones (not with --ipc host) and net.* (not with --network host). */
export function validateSysctl(key: string, ipcHost: boolean, netHost: boolean): void {
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
    if (ipcHost) throw invalid(`sysctl ${JSON.stringify(key)} is not allowed when the IPC namespace is the host's`);
    return;
  }
  if (key.startsWith('net.')) {
    if (netHost) throw invalid(`sysctl ${JSON.stringify(key)} is not allowed in host network mode`);
    return;
  }
  throw invalid(`sysctl ${JSON.stringify(key)} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)`);
}

const HOSTNAME_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?)*$/;

function validateHostname(h: string, what: string): void {
  if (h.length > 64) throw invalid(`invalid ${what} ${JSON.stringify(h)}: longer than 64 characters`);
  if (!HOSTNAME_RE.test(h)) throw invalid(`invalid ${what} ${JSON.stringify(h)}`);
}

const CPUSET_RE = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;

/** Docker's entrypoint/cmd merge: returns the process argv. */
export function resolveArgs(image: ImageConfig, opts: Pick<CreateOptions, 'entrypoint' | 'cmd'>): string[] {
  const userEntry = opts.entrypoint;
  const userCmd = opts.cmd ?? [];
  let entry: string[];
  let cmd: string[];
  if (userEntry === undefined || userEntry === null) {
    entry = image.entrypoint ?? [];
    cmd = userCmd.length > 0 ? userCmd : (image.cmd ?? []);
  } else {
    entry = userEntry.length === 1 && userEntry[0] === '' ? [] : userEntry;
    cmd = userCmd;
  }
  const args = [...entry, ...cmd];
  if (args.length === 0) throw invalid('no command specified');
  return args;
}

/** Docker's env: PATH default, HOSTNAME, TERM with a tty, then image env, then create env (same key replaces). */
export function mergeEnv(base: readonly string[], ...layers: (readonly string[] | null | undefined)[]): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  const put = (kv: string) => {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (key === '') throw invalid(`invalid environment variable: ${JSON.stringify(kv)}`);
    if (eq < 0) return; // "FOO" without a value: the client resolves it; the daemon drops it.
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, out.length);
      out.push(kv);
    } else out[at] = kv;
  };
  for (const kv of base) put(kv);
  for (const layer of layers) for (const kv of layer ?? []) put(kv);
  return out;
}

function nsEntry(type: string, mode: NamespaceMode | undefined, def: 'private' | 'host' = 'private'): { type: string; path?: string } | null {
  const m = mode ?? { mode: def };
  if (m.mode === 'host') return null;
  if (m.mode === 'path') {
    if (!m.path.startsWith('/')) throw invalid(`${type} namespace path must be absolute: ${JSON.stringify(m.path)}`);
    return { type, path: m.path };
  }
  return { type };
}

/** OCI `linux.resources` for a live update (`runc update`), validated like create. */
export function updateResources(r: Resources): Record<string, unknown> {
  return validateResources(r);
}

function validateResources(r: Resources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const int = (v: number | undefined, name: string) => {
    if (v !== undefined && !Number.isSafeInteger(v)) throw invalid(`invalid ${name}: ${v}`);
  };
  for (const [k, v] of Object.entries(r)) if (typeof v === 'number') int(v, k);
  const memory: Record<string, number | boolean> = {};
  const mem = r.memory ?? 0;
  if (mem < 0) throw invalid(`invalid memory limit: ${mem}`);
  if (mem > 0 && mem < 6 * 1024 * 1024) throw invalid('Minimum memory limit allowed is 6MB');
  if (mem > 0) memory.limit = mem;
  const res = r.memoryReservation ?? 0;
  if (res < 0) throw invalid(`invalid memory reservation: ${res}`);
  if (res > 0 && res < 6 * 1024 * 1024) throw invalid('Minimum memory reservation allowed is 6MB');
  if (mem > 0 && res > mem) throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (res > 0) memory.reservation = res;
  if (r.memorySwap !== undefined && r.memorySwap !== 0) {
    if (r.memorySwap === -1) {
      if (mem > 0) memory.swap = -1;
    } else {
      if (r.memorySwap < -1) throw invalid(`invalid memory swap: ${r.memorySwap}`);
      if (mem === 0) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
      if (r.memorySwap < mem) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
      memory.swap = r.memorySwap;
    }
  } else if (mem > 0) memory.swap = 2 * mem;
  if (r.memorySwappiness !== undefined && r.memorySwappiness !== -1) {
    if (r.memorySwappiness < 0 || r.memorySwappiness > 100) throw invalid(`Invalid value: ${r.memorySwappiness}, valid memory swappiness range is 0-100`);
    memory.swappiness = r.memorySwappiness;
  }
  if (r.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;

  const cpu: Record<string, number | string> = {};
  if (r.cpuShares !== undefined && r.cpuShares !== 0) {
    if (r.cpuShares < 2 || r.cpuShares > 262144) throw invalid(`invalid cpu shares ${r.cpuShares}: range is 2-262144`);
    cpu.shares = r.cpuShares;
  }
  const nano = r.nanoCpus ?? 0;
  if (nano < 0) throw invalid(`invalid NanoCPUs ${nano}`);
  if (nano > 0) {
    if ((r.cpuQuota ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    if ((r.cpuPeriod ?? 0) > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    if (nano < 1e9 / 100) throw invalid('Range of CPUs is from 0.01 to the number of CPUs available');
    cpu.period = 100_000;
    cpu.quota = Math.round((nano * 100_000) / 1e9);
  }
  if ((r.cpuPeriod ?? 0) !== 0) {
    if (r.cpuPeriod! < 1000 || r.cpuPeriod! > 1_000_000) throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    cpu.period = r.cpuPeriod!;
  }
  if ((r.cpuQuota ?? 0) !== 0) {
    if (r.cpuQuota! > 0 && r.cpuQuota! < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    cpu.quota = r.cpuQuota!;
  }
  if (r.cpusetCpus) {
    if (!CPUSET_RE.test(r.cpusetCpus)) throw invalid(`invalid value ${JSON.stringify(r.cpusetCpus)} for cpuset cpus`);
    cpu.cpus = r.cpusetCpus;
  }
  if (r.cpusetMems) {
    if (!CPUSET_RE.test(r.cpusetMems)) throw invalid(`invalid value ${JSON.stringify(r.cpusetMems)} for cpuset mems`);
    cpu.mems = r.cpusetMems;
  }
  if (Object.keys(cpu).length) out.cpu = cpu;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };
  if (r.blkioWeight !== undefined && r.blkioWeight !== 0) {
    if (r.blkioWeight < 10 || r.blkioWeight > 1000) throw invalid('Range of blkio weight is from 10 to 1000');
    out.blockIO = { weight: r.blkioWeight };
  }
  return out;
}

/** Builds the OCI runtime spec (config.json) for one container. Throws InvalidArgument on bad input. */
export function buildSpec(image: ImageConfig, opts: CreateOptions, ctx: SpecContext): OciSpec {
  if (!ctx.cgroupsPath.startsWith('/')) throw invalid(`cgroupsPath must be absolute: ${JSON.stringify(ctx.cgroupsPath)}`);
  const privileged = opts.privileged === true;
  const args = resolveArgs(image, opts);
  if (opts.initPath) args.unshift(INIT_PATH_IN_CONTAINER, '--');

  const cwd = opts.workingDir || image.workingDir || '/';
  if (!cwd.startsWith('/')) throw invalid(`the working directory ${JSON.stringify(cwd)} is invalid, it needs to be an absolute path`);

  const ns = opts.namespaces ?? {};
  const utsHost = ns.uts?.mode === 'host';
  const netHost = ns.net?.mode === 'host';
  const ipcHost = ns.ipc?.mode === 'host';
  if (opts.hostname && utsHost) throw invalid('Conflicting options: hostname and the UTS mode');
  if (opts.hostname) validateHostname(opts.hostname, 'hostname');
  if (opts.domainname) validateHostname(opts.domainname, 'domainname');

  const user = resolveUser(opts.user || image.user || '', ctx.passwd, ctx.group, opts.groupAdd ?? []);

  const base = [`PATH=${DEFAULT_PATH}`];
  if (opts.hostname) base.push(`HOSTNAME=${opts.hostname}`);
  if (opts.tty) base.push('TERM=xterm');
  const env = mergeEnv(base, image.env, opts.env);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${user.home}`);

  const caps = computeCapabilities(opts.capAdd, opts.capDrop, privileged, ctx.hostCapabilities);

  const stopSignal = opts.stopSignal || image.stopSignal;
  if (stopSignal) parseSignal(stopSignal);

  // rlimits: clamped to the host's hard limit (runc cannot raise it without CAP_SYS_RESOURCE).
  const rlimits: { type: string; soft: number; hard: number }[] = [];
  for (const u of opts.ulimits ?? []) {
    const type = RLIMITS[u.name];
    if (!type) throw invalid(`invalid ulimit name: ${JSON.stringify(u.name)}`);
    if (!Number.isSafeInteger(u.soft) || !Number.isSafeInteger(u.hard) || u.soft < -1 || u.hard < -1) throw invalid(`invalid ulimit ${u.name}: ${u.soft}:${u.hard}`);
    const soft = u.soft === -1 ? UNLIMITED : u.soft;
    const hard = u.hard === -1 ? UNLIMITED : u.hard;
    if (soft > hard) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}`);
    const host = ctx.hostLimits?.[u.name];
    const cap = host ? host.hard : UNLIMITED;
    const h = Math.min(hard, cap);
    const s = Math.min(soft, h);
    const out = (n: number) => (n >= UNLIMITED ? -1 : n);
    rlimits.push({ type, soft: out(s), hard: out(h) });
  }

  // Mounts: Docker's defaults, then /dev/shm, tmpfs, binds (later destinations replace earlier ones).
  const shm = opts.shmSize ?? DEFAULT_SHM_SIZE;
  if (!Number.isSafeInteger(shm) || shm <= 0) throw invalid(`invalid shm size: ${opts.shmSize}`);
  const mounts: OciSpec['mounts'] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`] },
  ];
  const put = (m: OciSpec['mounts'][number]) => {
    const at = mounts.findIndex((x) => x.destination === m.destination);
    if (at >= 0) mounts.splice(at, 1);
    mounts.push(m);
  };
  const seen = new Set<string>();
  const checkDest = (d: string, what: string) => {
    if (!d.startsWith('/')) throw invalid(`invalid ${what} destination ${JSON.stringify(d)}: must be an absolute path`);
    const norm = d.replace(/\/+$/, '') || '/';
    if (norm === '/') throw invalid(`invalid ${what} destination ${JSON.stringify(d)}: cannot be /`);
    if (seen.has(norm)) throw invalid(`Duplicate mount point: ${norm}`);
    seen.add(norm);
    return norm;
  };
  for (const [dest, optsText] of Object.entries(opts.tmpfs ?? {})) {
    const d = checkDest(dest, 'tmpfs');
    const extra = optsText.split(',').map((s) => s.trim()).filter(Boolean);
    put({ destination: d, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', ...extra] });
  }
  for (const b of opts.mounts ?? []) {
    const d = checkDest(b.destination, 'mount');
    if (!b.source.startsWith('/')) throw invalid(`invalid mount source ${JSON.stringify(b.source)}: must be an absolute path`);
    put({ destination: d, type: 'bind', source: b.source, options: ['rbind', b.propagation ?? 'rprivate', b.readonly ? 'ro' : 'rw'] });
  }
  for (const m of ctx.mounts ?? []) {
    const d = checkDest(m.destination, 'mount');
    if (m.type === 'bind' && !m.source.startsWith('/')) throw invalid(`invalid mount source ${JSON.stringify(m.source)}: must be an absolute path`);
    put({ destination: d, type: m.type, source: m.source, options: [...m.options] });
  }
  if (opts.initPath) put({ destination: INIT_PATH_IN_CONTAINER, type: 'bind', source: opts.initPath, options: ['rbind', 'ro', 'rprivate'] });

  // Namespaces.
  const namespaces: { type: string; path?: string }[] = [];
  for (const [type, mode, def] of [
    ['pid', ns.pid, 'private'],
    ['network', ns.net, 'private'],
    ['ipc', ns.ipc, 'private'],
    ['uts', ns.uts, 'private'],
    ['mount', undefined, 'private'],
    ['cgroup', ns.cgroup, ctx.cgroupV2 ? 'private' : 'host'],
  ] as const) {
    const e = nsEntry(type, mode, def);
    if (e) namespaces.push(e);
  }

  // Devices: cgroup allow-list (runc adds its defaults: null, zero, full, tty, random, urandom, ptmx, pts).
  const cgroupDevices: OciSpec['linux']['resources']['devices'] = [{ allow: privileged, access: 'rwm' }];
  const devices: NonNullable<OciSpec['linux']['devices']> = [];
  for (const d of opts.devices ?? []) {
    if (!d.path.startsWith('/dev/')) throw invalid(`invalid device path ${JSON.stringify(d.path)}: must be under /dev`);
    if (!/^[rwm]{1,3}$/.test(d.permissions)) throw invalid(`invalid device permissions ${JSON.stringify(d.permissions)}`);
    const dev: NonNullable<OciSpec['linux']['devices']>[number] = { path: d.path, type: d.type, major: d.major, minor: d.minor };
    if (d.fileMode !== undefined) dev.fileMode = d.fileMode;
    if (d.uid !== undefined) dev.uid = d.uid;
    if (d.gid !== undefined) dev.gid = d.gid;
    devices.push(dev);
    if (!privileged) cgroupDevices.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions });
  }

  const sysctl: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.sysctls ?? {})) {
    validateSysctl(k, ipcHost, netHost);
    sysctl[k] = String(v);
  }

  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: opts.tty === true,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args,
      env,
      cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: opts.noNewPrivileges === true,
    },
    root: { path: ctx.rootfs, readonly: opts.readonlyRootfs === true },
    mounts,
    linux: {
      namespaces,
      resources: { devices: cgroupDevices, ...validateResources(opts.resources ?? {}) },
      cgroupsPath: ctx.cgroupsPath,
    },
  };
  if (rlimits.length) spec.process.rlimits = rlimits;
  if (opts.oomScoreAdj !== undefined) {
    if (!Number.isInteger(opts.oomScoreAdj) || opts.oomScoreAdj < -1000 || opts.oomScoreAdj > 1000) throw invalid('Invalid value for oom score adj, range is [-1000, 1000]');
    spec.process.oomScoreAdj = opts.oomScoreAdj;
  }
  if (opts.hostname) spec.hostname = opts.hostname;
  if (opts.domainname) spec.domainname = opts.domainname;
  if (devices.length) spec.linux.devices = devices;
  if (Object.keys(sysctl).length) spec.linux.sysctl = sysctl;
  if (!privileged) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
    const sc = opts.seccomp ?? { kind: 'default' };
    if (sc.kind === 'default') spec.linux.seccomp = toOciSeccomp(DEFAULT_SECCOMP_PROFILE, caps);
    else if (sc.kind === 'profile') spec.linux.seccomp = toOciSeccomp(sc.profile, caps);
  } else if (opts.seccomp?.kind === 'profile') {
    spec.linux.seccomp = toOciSeccomp(opts.seccomp.profile, caps);
  }
  const annotations = { ...(opts.annotations ?? {}) };
  if (stopSignal) annotations[STOP_SIGNAL_ANNOTATION] = stopSignal;
  if (Object.keys(annotations).length) spec.annotations = annotations;
  return spec;
}

/** config.json text: an rlimit of -1 (unlimited) becomes RLIM_INFINITY, which a JS number cannot hold. */
export function serializeSpec(spec: OciSpec): string {
  return JSON.stringify(spec, null, 2).replace(/("(?:soft|hard)": )-1\b/g, (_m, k: string) => `${k}18446744073709551615`);
}
