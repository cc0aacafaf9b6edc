import { invalid } from '../../core/errors.js';

// Wharf's default seccomp profile, in Docker's profile format (so `--security-opt
// seccomp=FILE` takes the same JSON Docker takes), and its conversion to the OCI
// `linux.seccomp` object for a given capability set.
//
// Docker's default profile is an allow-list of ~350 syscalls. Wharf's is a deny-list:
// everything is allowed except what Docker's default blocks (or blocks unless the
// container holds a capability). Reason: a deny-list is short enough to audit here and
// does not break programs that use syscalls newer than the list. Cost: a syscall the
// kernel adds later is allowed until it is listed (docs/decisions.md).

export interface DockerSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface DockerSeccompRule {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: DockerSeccompArg[] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
  comment?: string;
}

export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: DockerSeccompRule[];
}

export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo: number; op: string }[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME */
export const CLONE_NS_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080];

const deny = (names: string[], unlessCaps?: string[], comment?: string): DockerSeccompRule => ({
  names,
  action: 'SCMP_ACT_ERRNO',
  errnoRet: EPERM,
  ...(unlessCaps ? { excludes: { caps: unlessCaps } } : {}),
  ...(comment ? { comment } : {}),
});

export const DEFAULT_SECCOMP_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ALLOW',
  archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
  syscalls: [
    deny(
      [
        'kexec_load', 'kexec_file_load', 'add_key', 'keyctl', 'request_key', 'create_module', 'get_kernel_syms',
        'query_module', 'nfsservctl', 'uselib', 'ustat', 'sysfs', '_sysctl', 'vm86', 'vm86old', 'userfaultfd',
        'io_uring_setup', 'io_uring_enter', 'io_uring_register',
      ],
      undefined,
      'always blocked: kernel replacement, keyrings, obsolete and risky interfaces',
    ),
    deny(['init_module', 'finit_module', 'delete_module'], ['CAP_SYS_MODULE'], 'module loading'),
    deny(
      [
        'mount', 'umount', 'umount2', 'pivot_root', 'setns', 'unshare', 'swapon', 'swapoff', 'quotactl',
        'lookup_dcookie', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
        'fanotify_init',
      ],
      ['CAP_SYS_ADMIN'],
      'mount family and namespaces',
    ),
    ...CLONE_NS_FLAGS.map((flag) => ({
      names: ['clone'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: EPERM,
      args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'] },
      comment: 'clone with a new namespace',
    })),
    // clone3 passes its flags in a struct seccomp cannot read: ENOSYS makes libc fall back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    deny(['bpf'], ['CAP_SYS_ADMIN', 'CAP_BPF'], 'bpf'),
    deny(['perf_event_open'], ['CAP_SYS_ADMIN', 'CAP_PERFMON'], 'perf'),
    deny(['reboot'], ['CAP_SYS_BOOT']),
    deny(['settimeofday', 'stime', 'clock_settime', 'clock_adjtime'], ['CAP_SYS_TIME']),
    deny(['acct'], ['CAP_SYS_PACCT']),
    deny(['iopl', 'ioperm'], ['CAP_SYS_RAWIO']),
    deny(['process_vm_readv', 'process_vm_writev', 'kcmp'], ['CAP_SYS_PTRACE']),
    deny(['mbind', 'set_mempolicy', 'move_pages', 'get_mempolicy'], ['CAP_SYS_NICE']),
    deny(['syslog'], ['CAP_SYSLOG']),
    deny(['name_to_handle_at', 'open_by_handle_at'], ['CAP_DAC_READ_SEARCH']),
  ],
};

const KNOWN_ACTIONS = new Set([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
]);
const KNOWN_OPS = new Set([
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
]);

/**
 * Turns a Docker-format profile into the OCI `linux.seccomp` object for a container
 * holding `caps` (rules with `includes.caps` apply only when all are held; rules with
 * `excludes.caps` only when none is held). `arch` filters `includes/excludes.arches`.
 */
export function toOciSeccomp(profile: DockerSeccompProfile, caps: readonly string[], arch = 'amd64'): OciSeccomp {
  if (!profile || typeof profile !== 'object' || typeof profile.defaultAction !== 'string') {
    throw invalid('seccomp profile: defaultAction is required');
  }
  if (!KNOWN_ACTIONS.has(profile.defaultAction)) throw invalid(`seccomp profile: unknown defaultAction ${profile.defaultAction}`);
  const held = new Set(caps);
  const architectures: string[] = [];
  for (const a of profile.archMap ?? []) architectures.push(a.architecture, ...(a.subArchitectures ?? []));
  for (const a of profile.architectures ?? []) if (!architectures.includes(a)) architectures.push(a);
  const syscalls: OciSeccompRule[] = [];
  for (const [i, rule] of (profile.syscalls ?? []).entries()) {
    const names = rule.names ?? (rule.name ? [rule.name] : []);
    if (names.length === 0) throw invalid(`seccomp profile: syscalls[${i}] has no names`);
    if (!KNOWN_ACTIONS.has(rule.action)) throw invalid(`seccomp profile: syscalls[${i}]: unknown action ${rule.action}`);
    if (rule.includes?.caps && !rule.includes.caps.every((c) => held.has(c))) continue;
    if (rule.excludes?.caps && rule.excludes.caps.some((c) => held.has(c))) continue;
    if (rule.includes?.arches && !rule.includes.arches.includes(arch)) continue;
    if (rule.excludes?.arches && rule.excludes.arches.includes(arch)) continue;
    const out: OciSeccompRule = { names: [...names], action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length > 0) {
      out.args = rule.args.map((a, j) => {
        if (!KNOWN_OPS.has(a.op)) throw invalid(`seccomp profile: syscalls[${i}].args[${j}]: unknown op ${a.op}`);
        return { index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op };
      });
    }
    syscalls.push(out);
  }
  const res: OciSeccomp = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) res.defaultErrnoRet = profile.defaultErrnoRet;
  return res;
}

/** Parses a profile given as JSON text (`--security-opt seccomp=FILE`), with a clear error. */
export function parseSeccompProfile(json: string): DockerSeccompProfile {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw invalid(`seccomp profile: not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('seccomp profile: must be a JSON object');
  return v as DockerSeccompProfile;
}
