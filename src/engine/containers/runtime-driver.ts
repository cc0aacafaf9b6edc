import type { AttachStream } from '../runtime/attach.js';
import type { OciSpec } from '../runtime/spec.js';

// The runtime driver the containers engine uses (STYLE: the interface belongs to its user):
// a small, out-of-process boundary whose state outlives the daemon, so `recover()` can re-adopt
// containers after a restart. ConmonRuntime (one conmon per container, runc for the rest)
// implements it; another OCI monitor or a fake for unit tests can too.

export interface ContainerMeta {
  id: string;
  name: string;
  tty: boolean;
  stdin: boolean;
  logPath: string;
  createdAt: string;
  /** Per-container rotation (`--log-opt`); the runtime's defaults when absent. */
  logMaxSize?: number;
  logMaxFiles?: number;
}

export interface CreateContainerOptions {
  name?: string;
  tty?: boolean;
  /** Keep stdin open for attach (`-i`). */
  stdin?: boolean;
  logPath?: string;
  /** Rotate the log at this size, keeping this many files (the live one included). */
  logMaxSize?: number;
  logMaxFiles?: number;
}

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  exitedAt: Date;
  /** conmon vanished without writing an exit file: the real exit code is unknown (reported as 255). */
  lost?: boolean;
}

export type RuntimeStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  id: string;
  status: RuntimeStatus;
  pid: number;
}

export type RecoveredContainer =
  | { id: string; meta: ContainerMeta; status: 'created' | 'running' | 'paused'; pid: number }
  | { id: string; meta: ContainerMeta; status: 'exited'; exit: ExitStatus }
  | { id: string; meta: ContainerMeta | undefined; status: 'lost'; reason: string }
  | { id: string; meta: ContainerMeta | undefined; status: 'removed'; reason: string };

export interface ExecOptions {
  tty?: boolean;
  stdin?: boolean;
  /** Attach stdio through conmon's attach socket; otherwise detached (output goes to the exec log). */
  attach?: boolean;
  /** Called with the attach stream once connected and before the process runs: add listeners here to miss no output. */
  onAttach?: (stream: AttachStream) => void;
}

export interface ExecSession {
  sessionId: string;
  pid: number;
  /** Present when attached. */
  stream?: AttachStream;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  resize(rows: number, cols: number): Promise<void>;
}

/** The OCI `process` object for an exec. */
export type OciProcess = Partial<OciSpec['process']> & { args: string[] };

/** What the containers engine needs from a runtime. IDs are the engine's container IDs. */
export interface RuntimeDriver {
  /** Files kept per container log by default (the live one included). */
  readonly logMaxFiles: number;
  /** Creates the container (process made, not yet running) and returns its PID; on failure nothing is left behind. */
  create(id: string, spec: OciSpec, opts?: CreateContainerOptions): Promise<{ pid: number }>;
  start(id: string): Promise<void>;
  kill(id: string, signal?: string | number): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Live update of resources with an OCI `linux.resources` object. */
  update(id: string, resources: Record<string, unknown>): Promise<void>;
  /** Removes the container from the runtime; `force` kills it first. */
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Resolves when the container exits (or its monitor vanishes: `lost`). */
  wait(id: string, signal?: AbortSignal): Promise<ExitStatus>;
  /** The metadata kept with a runtime container, or undefined when the runtime has none. */
  meta(id: string): Promise<ContainerMeta | undefined>;
  attach(id: string): Promise<AttachStream>;
  resize(id: string, rows: number, cols: number): Promise<void>;
  exec(id: string, proc: OciProcess, opts?: ExecOptions): Promise<ExecSession>;
  removeExec(id: string, sessionId: string): Promise<void>;
  /** Every runtime container found after a restart, with what became of it. */
  recover(): Promise<RecoveredContainer[]>;
  /** Stops watching (containers keep running). */
  close(): void;
}
