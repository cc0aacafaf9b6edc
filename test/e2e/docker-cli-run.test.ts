import { describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec/run.js';
import { useTestDaemon } from '../helpers/test-daemon.js';

// `docker run` through wharf: the real docker CLI 28 against `wharf daemon` (own data root and
// socket), busybox:latest from the bootstrap. Containers are on the daemon's own default bridge.

const suffix = Math.random().toString(36).slice(2, 8);
const d = useTestDaemon({ bootstrap: true });

/** conmon processes whose command line mentions this daemon's directory. */
async function conmonsOfDaemon(): Promise<number[]> {
  const r = await run(['pgrep', '-f', `conmon.*${d.dir}`], { allowFailure: true });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

describe('docker run against wharf daemon', () => {
  it('run --rm busybox echo hi prints hi and leaves no container', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'echo', 'hi']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hi\n');
    const ps = await d.docker(['ps', '-aq']);
    expect(ps.stdout.trim()).toBe('');
  });

  it('run --rm propagates the exit code (sh -c "exit 3" → 3); stderr comes through', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo oops >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('oops');
    expect(r.stdout).toBe('');
  });

  it('run -d, ps, logs, inspect, stop -t 1, rm', async () => {
    const name = `bg-${suffix}`;
    const r = await d.docker(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo started; sleep 30']);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await d.docker(['ps', '--format', '{{.Names}} {{.ID}} {{.Image}}']);
    expect(ps.stdout).toContain(`${name} ${id.slice(0, 12)} busybox`);
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('started'); i++) {
      logs = (await d.docker(['logs', name])).stdout;
      if (!logs.includes('started')) await new Promise((res) => setTimeout(res, 100));
    }
    expect(logs).toBe('started\n');
    const ins = await d.docker(['inspect', '--format', '{{.State.Status}} {{.Config.Tty}} {{.Name}} {{json .NetworkSettings.Networks}}', name]);
    expect(ins.stdout.trim()).toMatch(new RegExp(`^running false /${name} \\{"bridge":\\{.*"IPAddress":"\\d+\\.\\d+\\.\\d+\\.\\d+"`));
    const t0 = Date.now();
    const st = await d.docker(['stop', '-t', '1', name]);
    expect(st.code, st.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
    const after = await d.docker(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.State}}']);
    expect(after.stdout.trim()).toBe('exited');
    const rm = await d.docker(['rm', name]);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
    expect(await conmonsOfDaemon()).toEqual([]);
  }, 30_000);

  it('run --rm busybox nope → 127 with the runtime message, nothing left', async () => {
    const r = await d.docker(['run', '--rm', 'busybox', 'nope']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/nope/);
    expect(r.stderr).toMatch(/executable file not found|no such file or directory/);
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
  });

  it('create with a name in use → 409; missing image → pull attempt fails with the image name', async () => {
    const name = `dup-${suffix}`;
    expect((await d.docker(['create', '--name', name, 'busybox', 'true'])).code).toBe(0);
    const dup = await d.docker(['create', '--name', name, 'busybox', 'true']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/already in use/);
    expect((await d.docker(['rm', name])).code).toBe(0);
  });

  it('options not wired yet (--device) are refused with a clear error, not ignored', async () => {
    for (const args of [['--device', '/dev/null:/dev/x']]) {
      const r = await d.docker(['create', ...args, 'busybox', 'true']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/not implemented yet/);
    }
    expect((await d.docker(['ps', '-aq'])).stdout.trim()).toBe('');
  });
});
