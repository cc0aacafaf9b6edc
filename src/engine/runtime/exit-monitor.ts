import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { WharfError, notFound } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { ExitStatus } from '../containers/runtime-driver.js';
import { exists, isConmon, readPid, unrefStream } from './conmon-io.js';

// Exits of conmon-monitored containers: conmon writes `<exitDir>/<id>` (the exit code) when the
// container's process ends and closes its sync pipe. One inotify watch on the exit directory
// for every container, the sync pipe's EOF, and a slow liveness check (conmon gone without an
// exit file: `lost`) wake the waiters. No process or timer per container.

interface Watched {
  sync?: Readable;
  waiters: ((s: ExitStatus) => void)[];
}

export class ExitMonitor {
  private readonly watched = new Map<string, Watched>();
  private watcher: FSWatcher | undefined;
  private liveness: NodeJS.Timeout | undefined;

  constructor(private readonly o: { exitDir: string; bundleDir: (id: string) => string; clock: Clock; log: Logger }) {}

  /** Watches a new run through conmon's sync pipe (kept open for the container's life: EOF = exited). */
  track(id: string, sync: Readable): void {
    const w = this.entry(id);
    w.sync = sync;
    sync.on('close', () => void this.checkExit(id));
    sync.on('error', () => void this.checkExit(id));
    sync.resume();
    unrefStream(sync);
  }

  /** The container left the runtime (forced delete): its waiters learn a lost exit. */
  gone(id: string): void {
    for (const w of this.watched.get(id)?.waiters ?? []) w({ exitCode: 255, oomKilled: false, exitedAt: new Date(this.o.clock.now()), lost: true });
    this.watched.delete(id);
    if (![...this.watched.values()].some((x) => x.waiters.length > 0)) this.liveness?.unref();
  }

  forget(id: string): void {
    this.watched.delete(id);
  }

  /** The exit status if the container has exited (exit file present), else undefined. */
  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    const path = join(this.o.exitDir, id);
    let text: string;
    let mtime: Date;
    try {
      text = await readFile(path, 'utf8');
      mtime = (await stat(path)).mtime;
    } catch {
      return undefined;
    }
    const code = Number.parseInt(text.trim(), 10);
    if (Number.isNaN(code)) return undefined; // being written
    const oom = await exists(join(this.o.bundleDir(id), 'oom'));
    return { exitCode: code, oomKilled: oom, exitedAt: mtime };
  }

  /** Resolves when the container exits (or its conmon vanishes: `lost`). */
  async wait(id: string, signal?: AbortSignal): Promise<ExitStatus> {
    const done = await this.exitStatus(id);
    if (done) return done;
    if (!(await exists(this.o.bundleDir(id)))) throw notFound(`no such container in the runtime: ${id}`);
    this.startWatching();
    return new Promise<ExitStatus>((resolve, reject) => {
      const w = this.entry(id);
      const onAbort = () => {
        w.waiters = w.waiters.filter((f) => f !== waiter);
        if (![...this.watched.values()].some((x) => x.waiters.length > 0)) this.liveness?.unref();
        reject(signal?.reason ?? new WharfError('Timeout', 'wait aborted'));
      };
      const waiter = (s: ExitStatus) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      w.waiters.push(waiter);
      this.liveness?.ref(); // a pending wait keeps the process alive
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.checkExit(id);
    });
  }

  private entry(id: string): Watched {
    let w = this.watched.get(id);
    if (!w) {
      w = { waiters: [] };
      this.watched.set(id, w);
    }
    return w;
  }

  /** Wakes waiters if the exit file is there, or if conmon is gone without one. */
  private async checkExit(id: string, livenessCheck = false): Promise<void> {
    const w = this.watched.get(id);
    if (!w || w.waiters.length === 0) return;
    let s = await this.exitStatus(id).catch(() => undefined);
    if (!s && livenessCheck) {
      const pid = await readPid(join(this.o.bundleDir(id), 'conmon.pid'));
      if (!pid || !(await isConmon(pid))) {
        s = await this.exitStatus(id).catch(() => undefined);
        if (!s) s = { exitCode: 255, oomKilled: false, exitedAt: new Date(this.o.clock.now()), lost: true };
      }
    }
    if (!s) return;
    const waiters = w.waiters;
    w.waiters = [];
    for (const f of waiters) f(s);
    if (![...this.watched.values()].some((x) => x.waiters.length > 0)) this.liveness?.unref();
  }

  /** One inotify watch on the exit directory for every container, plus a slow liveness check for waiters. */
  startWatching(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.o.exitDir, (_ev, file) => {
        if (file) void this.checkExit(String(file));
      });
      this.watcher.unref();
      this.watcher.on('error', (e) => this.o.log.warn({ err: e }, 'exit dir watch failed'));
    } catch (e) {
      this.o.log.warn({ err: e }, 'cannot watch the exit directory; relying on polling');
    }
    this.liveness = setInterval(() => {
      for (const [id, w] of this.watched) if (w.waiters.length) void this.checkExit(id, true);
    }, 1000);
    this.liveness.unref();
  }

  /** Stops the watch and the liveness timer (containers keep running). */
  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = undefined;
    for (const w of this.watched.values()) w.sync?.destroy();
    this.watched.clear();
  }
}
