import { describe, expect, it } from 'vitest';
import { conmonCreateArgv, conmonExecArgv, parseK8sLogLine } from './conmon.js';

describe('conmon argv', () => {
  it('create: the flag set that works here (golden)', () => {
    const argv = conmonCreateArgv({
      conmonPath: '/usr/bin/conmon', runtimePath: '/usr/sbin/runc', runtimeRoot: '/run/wharf/runc', id: 'c1', name: 'web',
      bundle: '/d/c1', persistDir: '/d/c1', exitDir: '/d/exits', socketDir: '/d/sockets', logPath: '/d/c1/ctr.log',
      logSizeMax: 20971520, tty: false, stdin: true,
    });
    expect(argv.join(' ')).toBe(
      '/usr/bin/conmon --api-version 1 -c c1 -u c1 -r /usr/sbin/runc -b /d/c1 -p /d/c1/pidfile -n web --exit-dir /d/exits ' +
        '--persist-dir /d/c1 -l k8s-file:/d/c1/ctr.log --log-level info --runtime-arg --root=/run/wharf/runc ' +
        '--runtime-arg --log-format=json --runtime-arg --log --runtime-arg=/d/c1/oci-log --conmon-pidfile /d/c1/conmon.pid ' +
        '--socket-dir-path /d/sockets --full-attach --log-size-max 20971520 -i',
    );
    expect(argv).not.toContain('-s');
  });
  it('create with a tty', () => {
    const argv = conmonCreateArgv({
      conmonPath: 'conmon', runtimePath: 'runc', runtimeRoot: '/r', id: 'c', name: 'c', bundle: '/b', persistDir: '/b',
      exitDir: '/e', socketDir: '/s', logPath: '/l', tty: true, stdin: false,
    });
    expect(argv.slice(-2)).toEqual(['--full-attach', '-t']);
  });
  it('exec: its own exit dir, the process spec, attach', () => {
    const argv = conmonExecArgv({
      conmonPath: 'conmon', runtimePath: 'runc', runtimeRoot: '/r', containerId: 'c1', sessionId: 's1', execDir: '/b/exec/s1',
      processSpecPath: '/b/exec/s1/process.json', socketDir: '/s', attach: true, tty: false, stdin: false, logPath: '/b/exec/s1/exec.log',
    });
    expect(argv.join(' ')).toBe(
      'conmon --api-version 1 -c c1 -u s1 -r runc -b /b/exec/s1 -p /b/exec/s1/pid -n c1-exec-s1 --exit-dir /b/exec/s1/exit ' +
        '--persist-dir /b/exec/s1/persist -l k8s-file:/b/exec/s1/exec.log --log-level info --runtime-arg --root=/r ' +
        '--runtime-arg --log-format=json --runtime-arg --log --runtime-arg=/b/exec/s1/oci-log --socket-dir-path /s --full-attach ' +
        '-e --exec-process-spec /b/exec/s1/process.json --exec-attach',
    );
  });
  it('parses k8s-file lines', () => {
    expect(parseK8sLogLine('2026-11-26T07:16:05.556724881+00:00 stderr P a b ')).toEqual({ time: '2026-11-26T07:16:05.556724881+00:00', stream: 'stderr', full: false, text: 'a b ' });
    expect(parseK8sLogLine('2026-11-26T07:16:05Z stdout F')).toEqual({ time: '2026-11-26T07:16:05Z', stream: 'stdout', full: true, text: '' });
    expect(parseK8sLogLine('2026-11-26T07:16:05Z stdout F ')).toEqual({ time: '2026-11-26T07:16:05Z', stream: 'stdout', full: true, text: '' });
    expect(parseK8sLogLine('t stdin F x')).toBeNull();
    expect(parseK8sLogLine('garbage')).toBeNull();
  });
});
