import { EventEmitter } from 'node:events';
import { WharfError } from '../core/errors.js';
import type { ContainerExec, ContainerLifecycle, ContainerLogs, ContainerView } from '../engine/roles.js';
import type { AttachStream } from '../engine/runtime/attach.js';
import type { ContainerStreams, LogLine, PodContainerRef, ProcessStreamEvents, ProcessStreams, ResolvedContainer } from '../cluster/agent/streaming/container-streams.js';

// The streaming endpoint's engine port over the engine facade's roles (containers, exec, logs):
// pod containers are found by the Kubernetes labels the agent puts on them; exec runs as the
// engine's exec instances (so `docker events` on the node shows it and its files are cleaned
// up), attach through conmon's attach socket.

export const POD_LABELS = {
  podNamespace: 'io.kubernetes.pod.namespace',
  podName: 'io.kubernetes.pod.name',
  containerName: 'io.kubernetes.container.name',
  attempt: 'io.kubernetes.container.restartCount',
  kind: 'io.wharf.pod.container-kind',
} as const;

export interface EngineContainerStreamsOptions {
  containers: Pick<ContainerLifecycle, 'list' | 'inspect' | 'attach' | 'resize'>;
  execs: Pick<ContainerExec, 'create' | 'start' | 'resize'>;
  logs: ContainerLogs;
  /** The pod's IP on the pod network; undefined for hostNetwork pods (then 127.0.0.1). */
  podIp: (namespace: string, pod: string) => Promise<string | undefined>;
}

const RUNNING = new Set(['running', 'paused', 'restarting']);

class Streams extends EventEmitter<ProcessStreamEvents> implements ProcessStreams {
  stream: AttachStream | undefined;
  private held: ['stdout' | 'stderr', Buffer][] | undefined = [];
  private endHeld = false;
  constructor(
    readonly exited: Promise<number | undefined>,
    private readonly resizer: (rows: number, cols: number) => Promise<void>,
  ) {
    super();
  }
  wire(s: AttachStream): void {
    this.stream = s;
    s.on('stdout', (b) => this.out('stdout', b));
    s.on('stderr', (b) => this.out('stderr', b));
    s.once('end', () => {
      if (this.held) this.endHeld = true;
      else this.emit('end');
    });
    s.on('error', () => undefined);
  }
  private out(kind: 'stdout' | 'stderr', b: Buffer): void {
    if (this.held) this.held.push([kind, b]);
    else this.emit(kind, b);
  }
  resume(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    for (const [k, b] of held) this.emit(k, b);
    if (this.endHeld) this.emit('end');
  }
  write(data: Buffer): void {
    void this.stream?.write(data);
  }
  endStdin(): void {
    this.stream?.end();
  }
  resize(rows: number, cols: number): Promise<void> {
    return this.resizer(rows, cols);
  }
  close(): void {
    this.stream?.close();
  }
}

export class EngineContainerStreams implements ContainerStreams {
  constructor(private readonly o: EngineContainerStreamsOptions) {}

  /** Attempts of a pod container, newest first. */
  private attempts(ref: PodContainerRef): ContainerView[] {
    const L = POD_LABELS;
    return this.o.containers
      .list({ all: true })
      .filter((r) => {
        const l = r.request.labels ?? {};
        return l[L.podNamespace] === ref.namespace && l[L.podName] === ref.pod && l[L.containerName] === ref.container && l[L.kind] !== 'sandbox';
      })
      .sort((a, b) => Number(b.request.labels?.[L.attempt] ?? 0) - Number(a.request.labels?.[L.attempt] ?? 0) || b.createdAt.localeCompare(a.createdAt));
  }

  async resolve(ref: PodContainerRef, opts: { previous?: boolean } = {}): Promise<ResolvedContainer> {
    const all = this.attempts(ref);
    const r = opts.previous ? all[1] : all[0];
    if (!r) {
      if (opts.previous) throw new WharfError('InvalidArgument', `previous terminated container ${JSON.stringify(ref.container)} in pod ${JSON.stringify(ref.pod)} not found`);
      throw new WharfError('NotFound', `container not found (${JSON.stringify(ref.container)})`);
    }
    return { id: r.id, running: RUNNING.has(r.state.status), tty: r.request.options.tty === true, stdin: r.request.openStdin === true };
  }

  logs(id: string, opts: { follow: boolean; tail?: number; sinceMs?: number; signal: AbortSignal }): AsyncIterable<LogLine> {
    return this.o.logs.read(id, {
      follow: opts.follow,
      signal: opts.signal,
      ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
      ...(opts.sinceMs !== undefined ? { since: opts.sinceMs / 1000 } : {}),
    });
  }

  async exec(id: string, command: string[], opts: { tty: boolean; stdin: boolean; size?: { rows: number; cols: number } }): Promise<ProcessStreams> {
    const size: [number, number] | undefined = opts.tty && opts.size && opts.size.rows > 0 && opts.size.cols > 0 ? [opts.size.rows, opts.size.cols] : undefined;
    const { id: execId } = this.o.execs.create(id, { cmd: command, tty: opts.tty, attachStdin: opts.stdin, attachStdout: true, attachStderr: !opts.tty, ...(size ? { consoleSize: size } : {}) });
    let resolveExit!: (c: number | undefined) => void;
    const s = new Streams(new Promise((r) => (resolveExit = r)), (rows, cols) => this.o.execs.resize(execId, rows, cols));
    const started = await this.o.execs.start(execId, { onAttach: (a) => s.wire(a) });
    if (!s.stream && started.stream) s.wire(started.stream);
    started.exited.then(resolveExit, () => resolveExit(255));
    return s;
  }

  async attach(id: string, opts: { stdin: boolean }): Promise<ProcessStreams> {
    const a = await this.o.containers.attach(id);
    let resolveEnd!: (c: number | undefined) => void;
    const s = new Streams(new Promise((r) => (resolveEnd = r)), (rows, cols) => this.o.containers.resize(id, rows, cols));
    s.wire(a);
    a.once('end', () => resolveEnd(undefined));
    // Without stdin nothing is written and the container's stdin stays open (no half-close).
    void opts;
    return s;
  }

  async podAddress(namespace: string, pod: string): Promise<string> {
    return (await this.o.podIp(namespace, pod)) ?? '127.0.0.1';
  }
}
