import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import {
  buildSpec, computeCapabilities, DEFAULT_CAPABILITIES, parseCapBnd, parseProcLimits, resolveArgs, mergeEnv, serializeSpec,
  type CreateOptions, type ImageConfig, type SpecContext,
} from './spec.js';
import { resolveUser } from './user.js';
import { parseSignal } from './signals.js';
import { toOciSeccomp, DEFAULT_SECCOMP_PROFILE } from './seccomp.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n';
const GROUP = 'root:x:0:\nalice:x:1000:\nstaff:x:50:alice\nwheel:x:10:root,alice\naudio:x:29:\n';
const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 20000                files
Max processes             62000                62000                processes
`;
const ctx: SpecContext = { rootfs: '/b/rootfs', cgroupsPath: '/wharf/c1', passwd: PASSWD, group: GROUP, hostLimits: parseProcLimits(LIMITS) };
const image: ImageConfig = { entrypoint: ['/entry'], cmd: ['serve', '--port', '80'], env: ['PATH=/opt/bin:/bin', 'A=1'], workingDir: '/app' };
const build = (opts: CreateOptions = {}, img: ImageConfig = image) => buildSpec(img, opts, ctx);
const invalidOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (isWharfError(e, 'InvalidArgument')) return e.message;
    throw e;
  }
  throw new Error('expected InvalidArgument');
};

describe('entrypoint and cmd', () => {
  it('uses the image entrypoint + cmd by default', () => expect(build().process.args).toEqual(['/entry', 'serve', '--port', '80']));
  it('create cmd replaces only the image cmd', () => expect(resolveArgs(image, { cmd: ['x'] })).toEqual(['/entry', 'x']));
  it('create entrypoint drops the image cmd', () => expect(resolveArgs(image, { entrypoint: ['/bin/sh'] })).toEqual(['/bin/sh']));
  it('entrypoint [""] clears it and uses the create cmd', () => expect(resolveArgs(image, { entrypoint: [''], cmd: ['ls'] })).toEqual(['ls']));
  it('nothing to run is an error', () => expect(invalidOf(() => resolveArgs({}, {}))).toMatch(/no command/));
  it('--init runs the init first', () => {
    const s = build({ initPath: '/usr/bin/tini-static' });
    expect(s.process.args.slice(0, 3)).toEqual(['/sbin/docker-init', '--', '/entry']);
    expect(s.mounts.find((m) => m.destination === '/sbin/docker-init')?.source).toBe('/usr/bin/tini-static');
  });
});

describe('env, cwd, hostname', () => {
  it('merges env like Docker: image PATH replaces the default, create env replaces the image', () => {
    const s = build({ env: ['A=2', 'B=3'], hostname: 'web', tty: true });
    expect(s.process.env).toEqual(['PATH=/opt/bin:/bin', 'HOSTNAME=web', 'TERM=xterm', 'A=2', 'B=3', 'HOME=/root']);
  });
  it('rejects an empty key', () => expect(invalidOf(() => mergeEnv([], ['=x']))).toMatch(/environment/));
  it('working dir from create, image, or /; must be absolute', () => {
    expect(build().process.cwd).toBe('/app');
    expect(build({ workingDir: '/w' }).process.cwd).toBe('/w');
    expect(build({}, { cmd: ['x'] }).process.cwd).toBe('/');
    expect(invalidOf(() => build({ workingDir: 'rel' }))).toMatch(/absolute/);
  });
  it('hostname and domainname; too long is rejected', () => {
    const s = build({ hostname: 'h1', domainname: 'example.org' });
    expect([s.hostname, s.domainname]).toEqual(['h1', 'example.org']);
    expect(invalidOf(() => build({ hostname: 'a'.repeat(65) }))).toMatch(/64/);
    expect(invalidOf(() => build({ hostname: 'h', namespaces: { uts: { mode: 'host' } } }))).toMatch(/Conflicting/);
  });
});

describe('user and groups', () => {
  it('root by default with its supplementary groups', () => expect(resolveUser('', PASSWD, GROUP)).toEqual({ uid: 0, gid: 0, additionalGids: [10], home: '/root' }));
  it('by name: gid and groups from the files', () => expect(resolveUser('alice', PASSWD, GROUP)).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 10], home: '/home/alice' }));
  it('uid:gid numbers need no entry', () => expect(resolveUser('4242:4343', PASSWD, GROUP)).toEqual({ uid: 4242, gid: 4343, additionalGids: [], home: '/' }));
  it('name:groupname, no supplementary groups', () => expect(resolveUser('alice:audio', PASSWD, GROUP)).toEqual({ uid: 1000, gid: 29, additionalGids: [], home: '/home/alice' }));
  it('group-add by name and number', () => expect(resolveUser('bob', PASSWD, GROUP, ['audio', '777']).additionalGids).toEqual([29, 777]));
  it('no passwd file: root by default, numbers work, names fail', () => {
    expect(resolveUser('', undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/' });
    expect(resolveUser('5:6', undefined, undefined)).toMatchObject({ uid: 5, gid: 6 });
    expect(invalidOf(() => resolveUser('root', undefined, undefined))).toMatch(/unable to find user root/);
  });
  it('unknown user or group', () => {
    expect(invalidOf(() => resolveUser('nope', PASSWD, GROUP))).toBe('unable to find user nope: no matching entries in passwd file');
    expect(invalidOf(() => resolveUser('alice:nogrp', PASSWD, GROUP))).toMatch(/unable to find group nogrp/);
    expect(invalidOf(() => resolveUser('bob', PASSWD, GROUP, ['nogrp']))).toMatch(/nogrp/);
  });
  it('goes into process.user and HOME', () => {
    const s = build({ user: 'alice' });
    expect(s.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 10] });
    expect(s.process.env).toContain('HOME=/home/alice');
  });
});

describe('namespaces and mounts', () => {
  it('new pid/net/ipc/uts/mount by default, host cgroup ns on v1', () => {
    expect(build().linux.namespaces).toEqual([{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
    expect(buildSpec(image, {}, { ...ctx, cgroupV2: true }).linux.namespaces.map((n) => n.type)).toContain('cgroup');
  });
  it('host and join-by-path variants', () => {
    const s = build({ namespaces: { pid: { mode: 'host' }, net: { mode: 'path', path: '/run/netns/pod1' } } });
    expect(s.linux.namespaces).toEqual([{ type: 'network', path: '/run/netns/pod1' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
    expect(invalidOf(() => build({ namespaces: { net: { mode: 'path', path: 'x' } } }))).toMatch(/absolute/);
  });
  it("Docker's default mounts with the shm size", () => {
    const s = build({ shmSize: 128 << 20 });
    expect(s.mounts.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
    expect(s.mounts.find((m) => m.destination === '/dev/shm')?.options).toContain(`size=${128 << 20}`);
    expect(s.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
  });
  it('tmpfs and binds; duplicates rejected', () => {
    const s = build({ tmpfs: { '/run': 'size=1m' }, mounts: [{ source: '/srv', destination: '/data', readonly: true }], readonlyRootfs: true });
    expect(s.mounts.at(-2)).toEqual({ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1m'] });
    expect(s.mounts.at(-1)).toEqual({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'rprivate', 'ro'] });
    expect(s.root.readonly).toBe(true);
    expect(invalidOf(() => build({ tmpfs: { '/x': '' }, mounts: [{ source: '/a', destination: '/x/' }] }))).toMatch(/Duplicate/);
  });
});

describe('security', () => {
  it('default caps, add/drop, ALL, unknown is InvalidArgument', () => {
    expect(computeCapabilities()).toEqual(DEFAULT_CAPABILITIES);
    const c = computeCapabilities(['net_admin'], ['CAP_CHOWN', 'mknod']);
    expect(c).toContain('CAP_NET_ADMIN');
    expect(c).not.toContain('CAP_CHOWN');
    expect(c).not.toContain('CAP_MKNOD');
    expect(computeCapabilities(['KILL'], ['ALL'])).toEqual(['CAP_KILL']);
    expect(computeCapabilities(['ALL']).length).toBe(41);
    expect(invalidOf(() => build({ capAdd: ['CAP_FLY'] }))).toBe('unknown capability: "CAP_FLY"');
  });
  it('"all capabilities" (privileged, --cap-add ALL) are those of the host bounding set (CapBnd)', () => {
    // This machine's CapBnd: every capability but CAP_SYS_RESOURCE (bit 24).
    const host = parseCapBnd('Name:\tnode\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n');
    expect(host).toHaveLength(40);
    expect(host).not.toContain('CAP_SYS_RESOURCE');
    expect(host).toContain('CAP_SYS_ADMIN');
    expect(computeCapabilities([], [], true, host)).toEqual(host);
    expect(computeCapabilities(['ALL'], ['CHOWN'], false, host)).toHaveLength(39);
    expect(parseCapBnd('no caps line')).toHaveLength(41);
    const s = buildSpec({}, { privileged: true, cmd: ['sh'] }, { rootfs: '/r', cgroupsPath: '/wharf/x', hostCapabilities: host });
    expect(s.process.capabilities.bounding).not.toContain('CAP_SYS_RESOURCE');
  });
  it('masked/readonly paths and seccomp by default; privileged removes them', () => {
    const s = build();
    expect(s.linux.maskedPaths).toContain('/proc/kcore');
    expect(s.linux.readonlyPaths).toContain('/proc/sys');
    expect(s.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    const p = build({ privileged: true });
    expect(p.linux.maskedPaths).toBeUndefined();
    expect(p.linux.seccomp).toBeUndefined();
    expect(p.process.capabilities.bounding.length).toBe(41);
    expect(p.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(build({ seccomp: { kind: 'unconfined' } }).linux.seccomp).toBeUndefined();
    expect(build({ noNewPrivileges: true }).process.noNewPrivileges).toBe(true);
  });
  it('seccomp blocks what Docker blocks, and lifts cap-gated rules when the cap is held', () => {
    const blocked = (caps: string[]) => new Set(toOciSeccomp(DEFAULT_SECCOMP_PROFILE, caps).syscalls.filter((r) => r.action === 'SCMP_ACT_ERRNO' && !r.args).flatMap((r) => r.names));
    const d = blocked(DEFAULT_CAPABILITIES);
    for (const n of ['kexec_load', 'init_module', 'finit_module', 'delete_module', 'add_key', 'keyctl', 'request_key', 'bpf', 'perf_event_open', 'mount', 'umount2', 'pivot_root', 'unshare', 'reboot', 'swapon']) {
      expect(d.has(n), n).toBe(true);
    }
    const admin = blocked([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    expect(admin.has('mount')).toBe(false);
    expect(admin.has('keyctl')).toBe(true);
    const profile = toOciSeccomp(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES);
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(profile.syscalls.filter((r) => r.names[0] === 'clone').length).toBe(8);
  });
  it('a custom profile is converted; a bad one is rejected', () => {
    const s = build({ seccomp: { kind: 'profile', profile: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] } } });
    expect(s.linux.seccomp).toEqual({ defaultAction: 'SCMP_ACT_ERRNO', architectures: [], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
    expect(invalidOf(() => build({ seccomp: { kind: 'profile', profile: { defaultAction: 'NOPE' } } }))).toMatch(/defaultAction/);
  });
  it('sysctls: only namespaced ones', () => {
    expect(build({ sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' } }).linux.sysctl).toEqual({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' });
    expect(invalidOf(() => build({ sysctls: { 'vm.swappiness': '1' } }))).toMatch(/not allowed/);
    expect(invalidOf(() => build({ sysctls: { 'net.core.somaxconn': '1' }, namespaces: { net: { mode: 'host' } } }))).toMatch(/host network/);
  });
  it('devices go into the spec and the cgroup allow-list', () => {
    const s = build({ devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, permissions: 'rwm' }] });
    expect(s.linux.devices).toEqual([{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }]);
    expect(s.linux.resources.devices).toEqual([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }]);
  });
  it('stop signal is validated and recorded', () => {
    expect(build({ stopSignal: 'SIGUSR1' }).annotations).toEqual({ 'io.wharf.stop-signal': 'SIGUSR1' });
    expect(invalidOf(() => build({ stopSignal: 'SIGNOPE' }))).toMatch(/Invalid signal/);
    expect(parseSignal('kill')).toBe(9);
    expect(parseSignal('RTMIN+2')).toBe(36);
  });
});

describe('ulimits and resources', () => {
  it('clamps ulimits to the host hard limit; unlimited serialises as RLIM_INFINITY', () => {
    const s = build({ ulimits: [{ name: 'nofile', soft: 1048576, hard: 1048576 }, { name: 'cpu', soft: -1, hard: -1 }] });
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }, { type: 'RLIMIT_CPU', soft: -1, hard: -1 }]);
    expect(serializeSpec(s)).toContain('"soft": 18446744073709551615');
    expect(invalidOf(() => build({ ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] }))).toMatch(/ulimit/);
    expect(invalidOf(() => build({ ulimits: [{ name: 'nofile', soft: 10, hard: 5 }] }))).toMatch(/soft/);
  });
  it('maps memory, cpu, pids, blkio like Docker', () => {
    const s = build({ resources: { memory: 64 << 20, memoryReservation: 32 << 20, cpuShares: 512, nanoCpus: 1.5e9, cpusetCpus: '0-1', pidsLimit: 100, blkioWeight: 300 } });
    expect(s.linux.resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 },
      cpu: { shares: 512, period: 100000, quota: 150000, cpus: '0-1' },
      pids: { limit: 100 },
      blockIO: { weight: 300 },
    });
    expect(s.linux.cgroupsPath).toBe('/wharf/c1');
    expect(build({ resources: { memory: 64 << 20, memorySwap: -1 } }).linux.resources.memory).toEqual({ limit: 64 << 20, swap: -1 });
  });
  it('rejects bad resource values with Docker messages', () => {
    expect(invalidOf(() => build({ resources: { memory: 1024 } }))).toBe('Minimum memory limit allowed is 6MB');
    expect(invalidOf(() => build({ resources: { memory: 64 << 20, memorySwap: 32 << 20 } }))).toMatch(/memoryswap/);
    expect(invalidOf(() => build({ resources: { nanoCpus: 1e9, cpuQuota: 50000 } }))).toMatch(/Conflicting/);
    expect(invalidOf(() => build({ resources: { cpusetCpus: 'a-b' } }))).toMatch(/cpuset/);
    expect(invalidOf(() => build({ resources: { blkioWeight: 5 } }))).toMatch(/blkio/);
    expect(invalidOf(() => build({ resources: { memory: 1.5 } }))).toMatch(/invalid memory/);
  });
});

describe('prepared mounts (volumes, binds, tmpfs from the engine mounts step)', () => {
  it('are added after the defaults, replace a default at the same destination, and clash with --tmpfs', () => {
    const s = buildSpec(image, { tmpfs: { '/run': 'size=1m' } }, {
      ...ctx,
      mounts: [
        { destination: '/data', type: 'bind', source: '/var/lib/wharf/volumes/v/_data', options: ['rbind', 'rw', 'rprivate'] },
        { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1024'] },
      ],
    });
    expect(s.mounts.find((m) => m.destination === '/data')).toEqual({ destination: '/data', type: 'bind', source: '/var/lib/wharf/volumes/v/_data', options: ['rbind', 'rw', 'rprivate'] });
    expect(s.mounts.filter((m) => m.destination === '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'size=1024'] }]);
    expect(invalidOf(() => buildSpec(image, { tmpfs: { '/run': '' } }, { ...ctx, mounts: [{ destination: '/run', type: 'tmpfs', source: 'tmpfs', options: [] }] }))).toMatch(/Duplicate mount point: \/run/);
    expect(invalidOf(() => buildSpec(image, {}, { ...ctx, mounts: [{ destination: '/x', type: 'bind', source: 'rel', options: [] }] }))).toMatch(/absolute/);
  });
});
