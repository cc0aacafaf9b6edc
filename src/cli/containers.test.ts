import { describe, expect, it } from 'vitest';
import { Demuxer, DetachWatcher, parseDetachKeys } from './container-io.js';
import { splitCpArg } from './container-cp.js';
import { PS_HEADERS, portsText, psContext } from './container-list.js';
import { apiTimestamp, eventLine } from './container-logs.js';
import { normalizeImageRef, startErrorExitCode } from './container-run.js';
import { bytesSize, statsRow } from './container-stats.js';
import { startNamesContainers } from './containers.js';
import { formatRows } from './go-template.js';
import { statusText } from '../dockerapi/routers/containers.js';
import type { ContainerRecord } from '../engine/containers/types.js';

describe('container command helpers', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const row = {
    Id: 'c6b4e3437a4e23d10979e30642cc56d7679676f258292a6f79751e5ce26a4160',
    Names: ['/web1'],
    Image: 'busybox',
    Command: 'sh -c echo started; sleep 300',
    Created: now / 1000 - 2,
    Ports: [{ PrivatePort: 80, PublicPort: 8080, Type: 'tcp', IP: '0.0.0.0' }, { PrivatePort: 53, Type: 'udp' }],
    Labels: { b: '2', a: '1' },
    State: 'running',
    Status: 'Up 2 seconds',
    NetworkSettings: { Networks: { bridge: {} } },
  };

  it('ps default table: Docker columns, short ID, quoted ellipsized command, "… ago"', () => {
    const ctx = psContext(row, { trunc: true, now });
    expect(ctx.ID).toBe('c6b4e3437a4e');
    expect(ctx.Command).toBe('"sh -c echo started;…"');
    expect(ctx.RunningFor).toBe('2 seconds ago');
    expect(ctx.Ports).toBe('53/udp, 0.0.0.0:8080->80/tcp');
    expect(ctx.Labels).toBe('a=1,b=2');
    expect(ctx.Networks).toBe('bridge');
    const out = formatRows('table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}', [ctx], PS_HEADERS);
    const [head, line] = out.split('\n') as [string, string];
    expect(head).toMatch(/^CONTAINER ID {3}IMAGE {5}COMMAND {18}CREATED {9}STATUS {9}PORTS {3,}NAMES$/);
    expect(line).toMatch(/^c6b4e3437a4e {3}busybox {3}"sh -c echo started;…" {3}2 seconds ago {3}Up 2 seconds {3}53\/udp, 0\.0\.0\.0:8080->80\/tcp {3}web1$/);
    expect(head.indexOf('NAMES')).toBe(line.indexOf('web1'));
    expect(psContext(row, { trunc: false, now }).Command).toBe('"sh -c echo started; sleep 300"');
    expect(portsText([])).toBe('');
  });

  it('daemon Status texts are Docker\'s ("Up 3 seconds", "Exited (0) 2 seconds ago")', () => {
    const rec = (state: Partial<ContainerRecord['state']>) =>
      ({ state: { status: 'running', pid: 1, exitCode: 0, oomKilled: false, error: '', startedAt: '', finishedAt: '', restartCount: 0, ...state } }) as ContainerRecord;
    expect(statusText(rec({ startedAt: '2026-01-01T00:00:57Z' }), now)).toBe('Up 3 seconds');
    expect(statusText(rec({ status: 'paused', startedAt: '2026-01-01T00:00:00Z' }), now)).toBe('Up About a minute (Paused)');
    expect(statusText(rec({ status: 'exited', exitCode: 3, startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:58Z' }), now)).toBe('Exited (3) 2 seconds ago');
    expect(statusText(rec({ status: 'created' }), now)).toBe('Created');
    expect(statusText(rec({ startedAt: '2026-01-01T00:00:57Z', health: { status: 'starting', failingStreak: 0, log: [] } }), now)).toBe('Up 3 seconds (health: starting)');
  });

  it('stats row: CPU % from the delta, memory without inactive file cache, I/O sums', () => {
    const s = {
      cpu_stats: { cpu_usage: { total_usage: 2_000_000 }, system_cpu_usage: 20_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
      memory_stats: { usage: 3 * 1024 * 1024, limit: 1024 ** 3, stats: { total_inactive_file: 1024 * 1024 } },
      pids_stats: { current: 3 },
      networks: { eth0: { rx_bytes: 1500, tx_bytes: 648 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 4096 }, { op: 'Write', value: 0 }] },
    };
    expect(statsRow(s, row.Id, '/web1')).toEqual({
      Container: 'c6b4e3437a4e',
      ID: 'c6b4e3437a4e',
      Name: 'web1',
      CPUPerc: '20.00%',
      MemUsage: '2MiB / 1GiB',
      MemPerc: '0.20%',
      NetIO: '1.5kB / 648B',
      BlockIO: '4.1kB / 0B',
      PIDs: '3',
    });
    expect(bytesSize(1536)).toBe('1.5KiB');
  });

  it('image references are normalized like the docker CLI sends them to /images/create', () => {
    expect(normalizeImageRef('busybox')).toEqual(['docker.io/library/busybox', 'latest']);
    expect(normalizeImageRef('me/app:1')).toEqual(['docker.io/me/app', '1']);
    expect(normalizeImageRef('localhost:5000/x')).toEqual(['localhost:5000/x', 'latest']);
    expect(normalizeImageRef('reg.io/a/b@sha256:abc')).toEqual(['reg.io/a/b', 'sha256:abc']);
  });

  it('start errors map to 127/126/125 as the docker CLI does', () => {
    expect(startErrorExitCode('exec: "nope": executable file not found in $PATH')).toBe(127);
    expect(startErrorExitCode('exec /etc: permission denied')).toBe(126);
    expect(startErrorExitCode('cgroup failure')).toBe(125);
  });

  it('`wharf start` with names is the container command, without is the daemon', () => {
    expect(startNamesContainers(['web'])).toBe(true);
    expect(startNamesContainers(['-a', 'web'])).toBe(true);
    expect(startNamesContainers(['-H', 'unix:///x.sock', 'web'])).toBe(true);
    expect(startNamesContainers([])).toBe(false);
    expect(startNamesContainers(['--data-root', '/x'])).toBe(false);
  });

  it('timestamps: durations ago, unix seconds, RFC 3339', () => {
    expect(apiTimestamp('10m', now)).toBe(String(now / 1000 - 600));
    expect(apiTimestamp('1700000000')).toBe('1700000000');
    expect(apiTimestamp('2026-01-01T00:00:00Z')).toBe(String(Date.parse('2026-01-01T00:00:00Z') / 1000));
    expect(() => apiTimestamp('yesterday')).toThrow(/invalid value/);
  });

  it('events default line', () => {
    expect(eventLine({ Type: 'container', Action: 'start', Actor: { ID: 'abc', Attributes: { name: 'web', image: 'busybox' } }, time: 1767225600 })).toBe(
      '2026-01-01T00:00:00.000000000Z container start abc (image=busybox, name=web)\n',
    );
  });

  it('cp arguments', () => {
    expect(splitCpArg('web:/etc/hostname')).toEqual(['web', '/etc/hostname']);
    expect(splitCpArg('./a:b')).toEqual([undefined, './a:b']);
    expect(splitCpArg('/tmp/x')).toEqual([undefined, '/tmp/x']);
  });

  it('demuxes multiplexed frames split across chunks', () => {
    const out: string[] = [];
    const err: string[] = [];
    const d = new Demuxer((b) => out.push(b.toString()), (b) => err.push(b.toString()));
    const frame = (k: number, s: string) => Buffer.concat([Buffer.from([k, 0, 0, 0, 0, 0, 0, s.length]), Buffer.from(s)]);
    const all = Buffer.concat([frame(1, 'hello'), frame(2, 'oops'), frame(1, '!')]);
    d.push(all.subarray(0, 3));
    d.push(all.subarray(3, 15));
    d.push(all.subarray(15));
    expect(out).toEqual(['hello', '!']);
    expect(err).toEqual(['oops']);
  });

  it('detach keys: ctrl-p ctrl-q detaches; a lone ctrl-p is forwarded', () => {
    expect(parseDetachKeys(undefined)).toEqual(Buffer.from([16, 17]));
    expect(() => parseDetachKeys('ctrl-1')).toThrow(/invalid detach keys/);
    const w = new DetachWatcher(parseDetachKeys(undefined));
    expect(w.feed(Buffer.from('ab\x10'))).toEqual({ forward: Buffer.from('ab'), detach: false });
    expect(w.feed(Buffer.from('x'))).toEqual({ forward: Buffer.from('\x10x'), detach: false });
    expect(w.feed(Buffer.from('\x10\x11'))).toEqual({ forward: Buffer.alloc(0), detach: true });
  });
});
