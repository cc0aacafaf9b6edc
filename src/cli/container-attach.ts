import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { DetachWatcher, dial, hijackRaw, parseDetachKeys, pumpOutput, readAll } from './container-io.js';

// Attaching this terminal to a container or exec: the hijacked connection, stdio wiring, TTY
// resizes, signal proxying and the wait for the exit code.

export interface AttachIo {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  detachKeys?: string;
}

export function hijack(docker: Docker, path: string, query: Record<string, string | number>, body: unknown, _openStdin: boolean): Promise<Duplex> {
  return hijackRaw(docker, path.replace(/\?$/, ''), query, body);
}

/**
 * Wires a hijacked connection to this process: output to stdout/stderr (demuxed unless TTY),
 * stdin forwarded (raw mode on a terminal, detach keys watched). Resolves when the output
 * ends or the user detaches.
 */
export function wireStreams(sock: Duplex, io: AttachIo): { done: Promise<'ended' | 'detached'>; restore: () => void } {
  const stdin = process.stdin;
  let rawSet = false;
  let detachResolve: (v: 'detached') => void = () => undefined;
  const detached = new Promise<'detached'>((r) => (detachResolve = r));
  const onData = (() => {
    if (!io.stdin) return undefined;
    const watcher = io.tty ? new DetachWatcher(parseDetachKeys(io.detachKeys)) : undefined;
    return (b: Buffer) => {
      if (!watcher) {
        sock.write(b);
        return;
      }
      const r = watcher.feed(b);
      if (r.forward.length) sock.write(r.forward);
      if (r.detach) detachResolve('detached');
    };
  })();
  if (onData) {
    if (io.tty && stdin.isTTY) {
      stdin.setRawMode(true);
      rawSet = true;
    }
    stdin.on('data', onData);
    stdin.once('end', () => sock.end());
    stdin.resume();
  }
  const restore = () => {
    if (onData) {
      stdin.off('data', onData);
      stdin.pause();
    }
    if (rawSet) stdin.setRawMode(false);
  };
  const out = pumpOutput(sock, io.tty, process.stdout, process.stderr).then(() => 'ended' as const);
  return { done: Promise.race([out, detached]), restore };
}

/** Sends the terminal size now and on every SIGWINCH; returns the remover. */
export function monitorTtySize(resize: (h: number, w: number) => Promise<unknown>): () => void {
  if (!process.stdout.isTTY) return () => undefined;
  const send = () => void resize(process.stdout.rows, process.stdout.columns).catch(() => undefined);
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}

/** Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to the container (docker's --sig-proxy). */
export function proxySignals(docker: Docker, id: string): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = () => void dial(docker, { path: `/containers/${id}/kill?`, method: 'POST', query: { signal: s } }).catch(() => undefined);
    process.on(s, h);
    return [s, h] as const;
  });
  return () => handlers.forEach(([s, h]) => process.off(s, h));
}

/** Holds POST /wait open (headers received) and resolves the exit status at the end. */
export async function openWait(docker: Docker, id: string, condition: string): Promise<{ result: Promise<number> }> {
  const res = await dial<NodeJS.ReadableStream>(docker, { path: `/containers/${id}/wait?`, method: 'POST', query: { condition }, isStream: true });
  const result = readAll(res).then((b) => {
    const text = b.toString().trim();
    if (!text) return 0;
    const j = JSON.parse(text) as { StatusCode?: number; Error?: { Message?: string } | null };
    if (j.Error?.Message) process.stderr.write(`${j.Error.Message}\n`);
    return j.StatusCode ?? 0;
  });
  result.catch(() => undefined);
  return { result };
}

export function exitNow(code: number): never {
  process.exit(code);
}
