import type { ClientFlags } from './client.js';
import { dial } from './container-io.js';
import { defaultBuildContext } from './run-flags.js';
import { type Obj, act, inspectContainer } from './container-action.js';
import { type AttachIo, exitNow, hijack, monitorTtySize, wireStreams } from './container-attach.js';

// `wharf exec`.

export async function execCmd(name: string, cmd: string[], f: ClientFlags & { detach?: boolean; interactive?: boolean; tty?: boolean; env: string[]; envFile: string[]; workdir?: string; user?: string; privileged?: boolean; detachKeys?: string }): Promise<void> {
  if (f.tty && f.interactive && !process.stdin.isTTY) {
    process.stderr.write('the input device is not a TTY\n');
    process.exitCode = 1;
    return;
  }
  await act(f, async (docker) => {
    const ctx = defaultBuildContext();
    const { parseEnv } = await import('./run-flags.js');
    const env = parseEnv(f, ctx);
    const c = await inspectContainer(docker, name);
    const tty = f.tty === true;
    const body: Obj = {
      User: f.user ?? '',
      Privileged: f.privileged === true,
      Tty: tty,
      ConsoleSize: tty && ctx.consoleSize ? ctx.consoleSize : null,
      AttachStdin: f.interactive === true && !f.detach,
      AttachStderr: !f.detach,
      AttachStdout: !f.detach,
      Detach: f.detach === true,
      DetachKeys: f.detachKeys ?? '',
      Env: env,
      WorkingDir: f.workdir ?? '',
      Cmd: cmd,
    };
    const { Id: execId } = await dial<{ Id: string }>(docker, { path: `/containers/${c.Id}/exec`, method: 'POST', body });
    if (f.detach) {
      await dial(docker, { path: `/exec/${execId}/start`, method: 'POST', body: { Detach: true, Tty: tty } });
      return;
    }
    const io: AttachIo = { tty, stdin: body.AttachStdin === true, stdout: true, stderr: true };
    if (f.detachKeys) io.detachKeys = f.detachKeys;
    const startBody: Obj = { Detach: false, Tty: tty };
    if (tty && ctx.consoleSize) startBody.ConsoleSize = ctx.consoleSize;
    const sock = await hijack(docker, `/exec/${execId}/start`, {}, startBody, io.stdin);
    const wired = wireStreams(sock, io);
    const stopResize = tty ? monitorTtySize((h, w) => dial(docker, { path: `/exec/${execId}/resize?`, method: 'POST', query: { h, w } })) : () => undefined;
    const how = await wired.done;
    stopResize();
    wired.restore();
    if (how === 'detached') exitNow(0);
    const ins = await dial<{ ExitCode?: number | null }>(docker, { path: `/exec/${execId}/json`, method: 'GET' });
    exitNow(ins.ExitCode ?? 0);
  });
}
