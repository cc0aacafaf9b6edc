import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addContainerConfigFlags, addRunOnlyFlags, buildCreateRequest, goDurationNs, parseMount, parsePorts, ramInBytes, type BuildContext, type RunFlags } from './run-flags.js';

// Flag → create-body translation, checked against what the docker CLI 28 sends
// (../shared/reference/docker-cli-trace.md) and its opts.go rules.

const ctx = (over: Partial<BuildContext> = {}): BuildContext => ({
  env: { HOME_VAR: 'from-client' },
  readFile: (p) => {
    if (p === 'env.list') return '# comment\nFILE_A=1\n\nHOME_VAR\nUNSET_VAR\n';
    if (p === 'labels.list') return 'team=core\n';
    if (p === 'seccomp.json') return '{ "defaultAction": "SCMP_ACT_ALLOW" }';
    throw new Error(`ENOENT: ${p}`);
  },
  cwd: '/work/dir',
  ...over,
});

/** Parses a `run` command line with the real commander definitions. */
function parseRun(argv: string[], c: BuildContext = ctx(), run = true) {
  let out: ReturnType<typeof buildCreateRequest> | undefined;
  const program = new Command('wharf').enablePositionalOptions().exitOverride();
  const cmd = addContainerConfigFlags(program.command('run <image> [command...]').exitOverride());
  addRunOnlyFlags(cmd)
    .option('-H, --host <h>')
    .passThroughOptions()
    .action((image: string, args: string[], f: RunFlags) => {
      out = buildCreateRequest(image, args, f, c, { run });
    });
  program.parse(['node', 'wharf', 'run', ...argv]);
  return out!;
}

describe('run flags → create body', () => {
  it('matches the docker CLI trace for run -d --name web -p 8080:80 -e A=B -v vol:/data --memory 64m --cpus 0.5', () => {
    const r = parseRun(['-d', '--name', 'web', '-p', '8080:80', '-e', 'A=B', '-v', 'vol:/data', '--memory', '64m', '--cpus', '0.5', 'busybox', 'httpd', '-f']);
    expect(r.name).toBe('web');
    const b = r.body;
    expect(b.Image).toBe('busybox');
    expect(b.Cmd).toEqual(['httpd', '-f']);
    expect(b.Env).toEqual(['A=B']);
    expect(b.ExposedPorts).toEqual({ '80/tcp': {} });
    expect(b.HostConfig.Binds).toEqual(['vol:/data']);
    expect(b.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] });
    expect(b.HostConfig.Memory).toBe(67108864);
    expect(b.HostConfig.NanoCpus).toBe(500000000);
    expect(b.HostConfig.NetworkMode).toBe('default');
    expect(b.HostConfig.ConsoleSize).toEqual([0, 0]);
    expect(b.AttachStdout).toBe(false);
    expect(b.NetworkingConfig).toEqual({ EndpointsConfig: {} });
  });

  it('-it: Tty, OpenStdin, StdinOnce, AttachStdin and the console size', () => {
    const b = parseRun(['-it', 'busybox', 'sh'], ctx({ consoleSize: [30, 100] })).body;
    expect([b.Tty, b.OpenStdin, b.StdinOnce, b.AttachStdin, b.AttachStdout, b.AttachStderr]).toEqual([true, true, true, true, true, true]);
    expect(b.HostConfig.ConsoleSize).toEqual([30, 100]);
    const plain = parseRun(['busybox', 'echo', 'hi']).body;
    expect([plain.Tty, plain.OpenStdin, plain.AttachStdin, plain.AttachStdout, plain.AttachStderr]).toEqual([false, false, false, true, true]);
    expect(plain.HostConfig.AutoRemove).toBe(false);
  });

  it('options after the image belong to the container command', () => {
    const b = parseRun(['--rm', 'busybox', 'sh', '-c', 'exit 3', '-e', 'X']).body;
    expect(b.Cmd).toEqual(['sh', '-c', 'exit 3', '-e', 'X']);
    expect(b.HostConfig.AutoRemove).toBe(true);
    expect(b.Env).toEqual([]);
  });

  it('env: --env-file first, comments skipped, bare names from the client environment (unset ones dropped)', () => {
    const b = parseRun(['--env-file', 'env.list', '-e', 'B=2', '-e', 'HOME_VAR', '-e', 'NOPE', 'busybox']).body;
    expect(b.Env).toEqual(['FILE_A=1', 'HOME_VAR=from-client', 'B=2', 'HOME_VAR=from-client']);
  });

  it('labels, label files, workdir, user, entrypoint, hostname (-h), stop signal/timeout, init, restart', () => {
    const b = parseRun(['-l', 'a=1', '-l', 'flag', '--label-file', 'labels.list', '-w', '/srv', '-u', '1000:1000', '--entrypoint', '', '-h', 'box', '--stop-signal', 'SIGUSR1', '--stop-timeout', '3', '--init', '--restart', 'on-failure:5', 'busybox']).body;
    expect(b.Labels).toEqual({ team: 'core', a: '1', flag: '' });
    expect(b.WorkingDir).toBe('/srv');
    expect(b.User).toBe('1000:1000');
    expect(b.Entrypoint).toEqual(['']);
    expect(b.Hostname).toBe('box');
    expect(b.StopSignal).toBe('SIGUSR1');
    expect(b.StopTimeout).toBe(3);
    expect(b.HostConfig.Init).toBe(true);
    expect(b.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 5 });
    expect('Init' in parseRun(['busybox']).body.HostConfig).toBe(false);
  });

  it('security and resources', () => {
    const h = parseRun([
      '--privileged', '--read-only', '--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--security-opt', 'seccomp=seccomp.json',
      '--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=64', '--device', '/dev/fuse', '--device', '/dev/sda:/dev/xvda:r', '--tmpfs', '/run:rw,size=64m', '--shm-size', '128m',
      '--sysctl', 'net.ipv4.ip_forward=1', '--group-add', 'audio', '--pid', 'host', '--ipc', 'shareable', '--uts', 'host', '--runtime', 'crun', '--log-opt', 'max-size=10m',
      '--memory-reservation', '32m', '-m', '64m', '--memory-swap', '-1', '--cpu-shares', '512', '--cpu-quota', '50000', '--cpu-period', '100000', '--cpuset-cpus', '0-1',
      '--cpuset-mems', '0', '--pids-limit', '100', '--blkio-weight', '300', 'busybox',
    ]).body.HostConfig;
    expect(h.Privileged).toBe(true);
    expect(h.ReadonlyRootfs).toBe(true);
    expect(h.CapAdd).toEqual(['NET_ADMIN']);
    expect(h.CapDrop).toEqual(['ALL']);
    expect(h.SecurityOpt).toEqual(['no-new-privileges', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']);
    expect(h.Ulimits).toEqual([{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 64, Hard: 64 }]);
    expect(h.Devices).toEqual([
      { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'r' },
    ]);
    expect(h.Tmpfs).toEqual({ '/run': 'rw,size=64m' });
    expect(h.ShmSize).toBe(128 * 1024 * 1024);
    expect(h.Sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(h.GroupAdd).toEqual(['audio']);
    expect([h.PidMode, h.IpcMode, h.UTSMode, h.Runtime]).toEqual(['host', 'shareable', 'host', 'crun']);
    expect(h.LogConfig).toEqual({ Type: '', Config: { 'max-size': '10m' } });
    expect([h.Memory, h.MemoryReservation, h.MemorySwap]).toEqual([64 * 1024 ** 2, 32 * 1024 ** 2, -1]);
    expect([h.CpuShares, h.CpuQuota, h.CpuPeriod, h.CpusetCpus, h.CpusetMems, h.PidsLimit, h.BlkioWeight]).toEqual([512, 50000, 100000, '0-1', '0', 100, 300]);
  });

  it('healthcheck flags become Config.Healthcheck in nanoseconds; --no-healthcheck is NONE', () => {
    const b = parseRun(['--health-cmd', 'true', '--health-interval', '1s', '--health-timeout', '500ms', '--health-retries', '2', '--health-start-period', '1m30s', 'busybox']).body;
    expect(b.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'true'], Interval: 1e9, Timeout: 5e8, StartPeriod: 90e9, StartInterval: 0, Retries: 2 });
    expect(parseRun(['--no-healthcheck', 'busybox']).body.Healthcheck).toEqual({ Test: ['NONE'] });
    expect(() => parseRun(['--no-healthcheck', '--health-cmd', 'x', 'busybox'])).toThrow(/conflicts/);
  });

  it('network flags: --network/--net, --ip and --network-alias on user networks, dns, add-host, links', () => {
    const b = parseRun(['--net', 'appnet', '--ip', '10.5.0.9', '--network-alias', 'db', '--dns', '10.0.0.2', '--dns-search', 'corp', '--dns-option', 'ndots:2', '--add-host', 'h1:10.1.1.1', '--link', 'other', 'busybox']).body;
    expect(b.HostConfig.NetworkMode).toBe('appnet');
    expect(b.NetworkingConfig.EndpointsConfig).toEqual({ appnet: { Aliases: ['db'], IPAMConfig: { IPv4Address: '10.5.0.9' }, Links: ['other:other'] } });
    expect([b.HostConfig.Dns, b.HostConfig.DnsSearch, b.HostConfig.DnsOptions, b.HostConfig.ExtraHosts]).toEqual([['10.0.0.2'], ['corp'], ['ndots:2'], ['h1:10.1.1.1']]);
    expect(b.HostConfig.Links).toBeNull();
    const def = parseRun(['--link', 'x:y', 'busybox']).body;
    expect(def.HostConfig.Links).toEqual(['x:y']);
    expect(() => parseRun(['--network-alias', 'a', 'busybox'])).toThrow(/only supported for user-defined networks/);
    expect(() => parseRun(['--network', 'host', '--network', 'n2', 'busybox'])).toThrow(/conflicting options/);
    expect(() => parseRun(['--dns', 'not-an-ip', 'busybox'])).toThrow(/not an ip address/);
    expect(parseRun(['--network', 'container:abc', 'busybox']).body.HostConfig.NetworkMode).toBe('container:abc');
  });

  it('volumes: named/bind → Binds (relative sources made absolute), bare paths → Volumes; --mount; --volumes-from', () => {
    const b = parseRun(['-v', '/data', '-v', './src:/src:ro', '-v', 'named:/n', '--mount', 'type=bind,source=/h,target=/c,readonly', '--mount', 'type=tmpfs,target=/t,tmpfs-size=1m', '--volumes-from', 'other:ro', 'busybox']).body;
    expect(b.Volumes).toEqual({ '/data': {} });
    expect(b.HostConfig.Binds).toEqual(['/work/dir/src:/src:ro', 'named:/n']);
    expect(b.HostConfig.Mounts).toEqual([
      { Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576 } },
    ]);
    expect(b.HostConfig.VolumesFrom).toEqual(['other:ro']);
    expect(() => parseRun(['-v', 'rel:path', 'busybox'])).toThrow(/must be absolute/);
    expect(() => parseMount('type=bind,target=/x')).toThrow(/source is required/);
    expect(() => parseMount('type=volume,bogus=1,target=/x')).toThrow(/unexpected key 'bogus'/);
  });

  it('ports: ranges, ip, udp, ephemeral, -P and --expose', () => {
    expect(parsePorts(['127.0.0.1:8000-8001:80-81/udp', '90', '[::1]:5000:5000'], ['7000-7001'])).toEqual({
      exposed: { '80/udp': {}, '81/udp': {}, '90/tcp': {}, '5000/tcp': {}, '7000/tcp': {}, '7001/tcp': {} },
      bindings: {
        '80/udp': [{ HostIp: '127.0.0.1', HostPort: '8000' }],
        '81/udp': [{ HostIp: '127.0.0.1', HostPort: '8001' }],
        '90/tcp': [{ HostIp: '', HostPort: '' }],
        '5000/tcp': [{ HostIp: '::1', HostPort: '5000' }],
      },
    });
    expect(parseRun(['-P', 'busybox']).body.HostConfig.PublishAllPorts).toBe(true);
    expect(() => parsePorts(['70000:80'], [])).toThrow(/invalid port range/);
    expect(() => parsePorts(['80/xyz'], [])).toThrow(/invalid proto/);
  });

  it('bad values are clear errors (the caller exits 125 before any request)', () => {
    expect(() => parseRun(['-m', 'abc', 'busybox'])).toThrow('invalid argument "abc" for "-m, --memory" flag: invalid size: \'abc\'');
    expect(() => parseRun(['--cpus', 'x', 'busybox'])).toThrow(/failed to parse x as a rational number/);
    expect(() => parseRun(['--restart', 'sometimes', 'busybox'])).toThrow(/invalid restart policy/);
    expect(() => parseRun(['--rm', '--restart', 'always', 'busybox'])).toThrow(/both --restart and --rm/);
    expect(() => parseRun(['--ulimit', 'nofile=10:5', 'busybox'])).toThrow(/soft limit must be less/);
    expect(() => parseRun(['--name', 'bad name!', 'busybox'])).toThrow(/Invalid container name/);
    expect(() => parseRun(['-d', '-a', 'stdout', 'busybox'])).toThrow(/--attach and --detach/);
    expect(() => parseRun(['--cpus', '1', '--cpu-quota', '1000', 'busybox'])).toThrow(/cannot both be set/);
    expect(() => parseRun(['--security-opt', 'seccomp=missing.json', 'busybox'])).toThrow(/opening seccomp profile/);
    expect(() => parseRun(['--blkio-weight', '5', 'busybox'])).toThrow(/from 10 to 1000/);
  });

  it('create (not run) attaches stdout/stderr and never sets StdinOnce', () => {
    const b = parseRun(['-i', 'busybox'], ctx(), false).body;
    expect([b.AttachStdin, b.AttachStdout, b.AttachStderr, b.StdinOnce]).toEqual([true, true, true, false]);
  });

  it('size and duration units', () => {
    expect(ramInBytes('1g', 'x')).toBe(1024 ** 3);
    expect(ramInBytes('512k', 'x')).toBe(524288);
    expect(ramInBytes('100', 'x')).toBe(100);
    expect(ramInBytes('64MB', 'x')).toBe(64 * 1024 ** 2);
    expect(goDurationNs('1h2m3s', 'x')).toBe(3723e9);
    expect(() => goDurationNs('5 minutes', 'x')).toThrow(/invalid duration/);
  });
});
