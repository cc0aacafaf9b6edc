import { EventEmitter } from 'node:events';
import { openSync, closeSync } from 'node:fs';
import { SeqpacketSocket } from 'node-unix-socket';
import { WharfError } from '../../core/errors.js';

// A client of conmon's attach socket (SOCK_SEQPACKET, which node:net cannot open; see
// docs/decisions.md). Each packet's byte 0 tags the stream: 2 stdout, 3 stderr; the rest
// is data. Stdin is written raw; `end()` half-closes (conmon then closes the container's
// stdin unless it was started with --leave-stdin-open).

export const ATTACH_STDOUT = 2;
export const ATTACH_STDERR = 3;
const MAX_SUN_PATH = 107;

export interface AttachStreamEvents {
  stdout: [Buffer];
  stderr: [Buffer];
  end: [];
  error: [Error];
}

export class AttachStream extends EventEmitter<AttachStreamEvents> {
  private closed = false;

  private constructor(private readonly sock: SeqpacketSocket) {
    super();
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 1) return;
      const tag = buf[0];
      const data = buf.subarray(1);
      if (tag === ATTACH_STDOUT) this.emit('stdout', data);
      else if (tag === ATTACH_STDERR) this.emit('stderr', data);
    });
    sock.on('end', () => this.emit('end'));
    sock.on('close', () => {
      if (!this.closed) {
        this.closed = true;
        this.emit('end');
      }
    });
    sock.on('error', (e: Error) => this.emit('error', e));
  }

  /** Connects to `<dir>/attach`; through /proc/self/fd when the path is longer than a sockaddr_un holds. */
  static connect(dir: string, timeoutMs = 5000): Promise<AttachStream> {
    return new Promise((resolve, reject) => {
      const sock = new SeqpacketSocket();
      let dirFd: number | undefined;
      let path = `${dir}/attach`;
      if (path.length > MAX_SUN_PATH) {
        dirFd = openSync(dir, 'r');
        path = `/proc/self/fd/${dirFd}/attach`;
      }
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (dirFd !== undefined) closeSync(dirFd);
        dirFd = undefined;
        if (err) {
          sock.destroy();
          reject(err);
        } else resolve(new AttachStream(sock));
      };
      const timer = setTimeout(() => done(new WharfError('Timeout', `attach ${dir}: no connection after ${timeoutMs} ms`)), timeoutMs);
      sock.once('error', (e: Error) => done(new WharfError('Unavailable', `attach ${dir}: ${e.message}`, { cause: e })));
      try {
        sock.connect(path, () => done());
      } catch (e) {
        done(new WharfError('Unavailable', `attach ${dir}: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  /** Writes stdin; a no-op once the socket is gone (the addon throws EBADF on a closed socket). */
  write(data: Buffer | string): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        this.sock.write(buf, 0, buf.length, () => resolve());
      } catch {
        resolve();
      }
    });
  }

  /** Half-close: no more stdin. Safe after the container's side closed (a client's late EOF must not crash the daemon). */
  end(): void {
    if (this.closed) return;
    try {
      this.sock.end();
    } catch {
      /* already closed */
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock.destroy();
    } catch {
      /* already closed */
    }
  }

  unref(): void {
    this.sock.unref();
  }
}
