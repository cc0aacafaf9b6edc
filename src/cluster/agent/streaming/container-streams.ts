import type { EventEmitter } from 'node:events';

// The port the streaming endpoint needs of the node's container engine (the streaming code owns
// it; src/cmd/ adapts the engine to it). Pod containers are found by their pod's identity: the
// agent's labels say which engine container is which attempt of which pod container.

export interface PodContainerRef {
  namespace: string;
  pod: string;
  container: string;
}

export interface ResolvedContainer {
  /** The engine's container ID. */
  id: string;
  running: boolean;
  /** Started with a TTY (then everything is stdout). */
  tty: boolean;
  /** Started with stdin kept open (attach may write to it). */
  stdin: boolean;
}

export interface LogLine {
  /** RFC 3339 with nanoseconds, as the runtime wrote it. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** Ends with a newline for a complete line, not for a chunk of a long one. */
  text: string;
}

export interface ProcessStreamEvents {
  stdout: [Buffer];
  stderr: [Buffer];
  /** No more output (the process ended or its stdio closed). */
  end: [];
}

/** A running process's stdio: an exec session or a container's main process (attach). */
export interface ProcessStreams extends EventEmitter<ProcessStreamEvents> {
  /** Starts delivering output events; what the process wrote before is held until then. */
  resume(): void;
  write(data: Buffer): void;
  /** Closes the process's stdin. */
  endStdin(): void;
  resize(rows: number, cols: number): Promise<void>;
  /** Exec: the exit code. Attach: undefined once the stream ends. */
  readonly exited: Promise<number | undefined>;
  /** Detaches (attach) or drops the client's side (exec keeps running until it exits). */
  close(): void;
}

export interface ContainerStreams {
  /**
   * The pod's container: its current attempt, or with `previous` the one before (which has
   * exited). Throws NotFound when there is none.
   */
  resolve(ref: PodContainerRef, opts?: { previous?: boolean }): Promise<ResolvedContainer>;
  /**
   * A container's log entries (the engine's ContainerLogs): the last `tail` lines, those at or
   * after `sinceMs`, and with `follow` what comes until the container stops or `signal` aborts.
   */
  logs(id: string, opts: { follow: boolean; tail?: number; sinceMs?: number; signal: AbortSignal }): AsyncIterable<LogLine>;
  /** Runs a command in the running container; the process starts with its streams connected. */
  exec(id: string, command: string[], opts: { tty: boolean; stdin: boolean; size?: { rows: number; cols: number } }): Promise<ProcessStreams>;
  attach(id: string, opts: { stdin: boolean }): Promise<ProcessStreams>;
  /** Where the node reaches the pod's ports: its IP, or 127.0.0.1 for hostNetwork. */
  podAddress(namespace: string, pod: string): Promise<string>;
}
