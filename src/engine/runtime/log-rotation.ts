import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { errorMessage, notFound } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ContainerMeta } from '../containers/runtime-driver.js';
import { exists, writeCtl } from './conmon-io.js';

// Rotation of the containers' k8s-file logs: one timer for every container checks the live
// file's size, shifts log → log.1 → … → log.(N-1) and asks conmon (ctl FIFO `2 0 0`) to reopen.
// Per-container limits come from its metadata (`--log-opt`), else the runtime's defaults.

export interface LogRotationOptions {
  meta(id: string): Promise<ContainerMeta | undefined>;
  listIds(): Promise<string[]>;
  /** conmon's control FIFO of a container. */
  ctlPath(id: string): string;
  maxSize: number;
  maxFiles: number;
  log: Logger;
}

export class LogRotation {
  private rotation: NodeJS.Timeout | undefined;

  constructor(private readonly o: LogRotationOptions) {}

  /** Rotates the container's log when it reached `logMaxSize`: log → log.1 → … → log.(N-1), then conmon reopens. */
  async rotate(id: string): Promise<boolean> {
    const meta = await this.o.meta(id);
    if (!meta) return false;
    let size: number;
    try {
      size = (await stat(meta.logPath)).size;
    } catch {
      return false;
    }
    if (size < (meta.logMaxSize ?? this.o.maxSize)) return false;
    const keep = (meta.logMaxFiles ?? this.o.maxFiles) - 1;
    if (keep <= 0) {
      await writeFile(meta.logPath, '');
    } else {
      await rm(`${meta.logPath}.${keep}`, { force: true });
      for (let i = keep - 1; i >= 1; i--) await rename(`${meta.logPath}.${i}`, `${meta.logPath}.${i + 1}`).catch(() => undefined);
      await rename(meta.logPath, `${meta.logPath}.1`);
    }
    await writeCtl(this.o.ctlPath(id), '2 0 0\n').catch(() => undefined);
    return true;
  }

  /**
   * Checks every container's log size on an interval (one timer for all containers, no
   * process per container); conmon's own cap (`conmonLogSizeMax`) bounds the file while the
   * daemon is away.
   */
  start(intervalMs = 1000): void {
    if (this.rotation) return;
    let busy = false;
    this.rotation = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.o.listIds()
        .then(async (ids) => {
          for (const id of ids) await this.rotate(id).catch((e: unknown) => this.o.log.warn({ container: id, err: errorMessage(e) }, 'log rotation failed'));
        })
        .finally(() => (busy = false));
    }, intervalMs);
    this.rotation.unref();
  }

  /** The log files of a container, oldest first. */
  async files(id: string): Promise<string[]> {
    const meta = await this.o.meta(id);
    if (!meta) throw notFound(`no such container in the runtime: ${id}`);
    const out: string[] = [];
    for (let i = (meta.logMaxFiles ?? this.o.maxFiles) - 1; i >= 1; i--) if (await exists(`${meta.logPath}.${i}`)) out.push(`${meta.logPath}.${i}`);
    if (await exists(meta.logPath)) out.push(meta.logPath);
    return out;
  }

  stop(): void {
    if (this.rotation) clearInterval(this.rotation);
    this.rotation = undefined;
  }
}
