import { Duplex } from 'node:stream';
import { EventEmitter } from 'node:events';
import { errorMessage } from '../../../core/errors.js';
import { FLAG_FIN, RST, SpdyFrameReader, SpdyFrameWriter, type SpdyFrame, type SpdyHeaders } from './spdy-framer.js';

// The server side of a SPDY/3.1 connection as kubectl uses it: the client opens every stream
// (odd IDs) with headers naming its role (`streamtype: stdin|stdout|…|data|error`); the server
// replies, then both sides send data and half-close with FIN. Each stream is a Duplex. The
// transport is whatever carries the bytes: a raw upgraded socket or WebSocket messages.

export interface SpdyTransport {
  write(data: Buffer): void;
  close(): void;
}

export class SpdyStream extends Duplex {
  private replied = false;
  private finSent = false;
  remoteFinished = false;

  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly session: SpdySession,
  ) {
    super({ allowHalfOpen: true });
  }

  /** Accepts the stream (SYN_REPLY). Data written before is held until then. */
  reply(headers: SpdyHeaders = {}): void {
    if (this.replied) return;
    this.replied = true;
    this.session.send(this.session.writer.synReply(this.id, headers));
    for (const b of this.pending) this.session.send(b);
    this.pending = [];
  }

  private pending: Buffer[] = [];

  private sendFrame(b: Buffer): void {
    if (this.replied) this.session.send(b);
    else this.pending.push(b);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (!this.finSent && !this.session.closed) this.sendFrame(this.session.writer.data(this.id, Buffer.from(chunk)));
    cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (!this.finSent && !this.session.closed) {
      this.finSent = true;
      this.sendFrame(this.session.writer.data(this.id, Buffer.alloc(0), true));
    }
    cb();
  }

  override _read(): void {
    /* data is pushed as frames arrive (no flow control in spdystream) */
  }

  /** Aborts the stream (RST_STREAM CANCEL). */
  reset(): void {
    if (!this.session.closed) this.session.send(this.session.writer.rstStream(this.id, RST.cancel));
    this.session.forget(this.id);
    if (!this.remoteFinished) {
      this.remoteFinished = true;
      this.push(null);
    }
    this.destroy();
  }

  /** @internal */
  onFrame(f: SpdyFrame): void {
    if (f.type === 'data') {
      if (f.data.length) this.push(f.data);
      if (f.flags & FLAG_FIN) this.remoteFin();
    } else if (f.type === 'rstStream') {
      this.remoteFin();
      this.destroy();
    } else if ((f.type === 'headers' || f.type === 'synStream') && f.flags & FLAG_FIN) this.remoteFin();
  }

  /** @internal */
  remoteFin(): void {
    if (this.remoteFinished) return;
    this.remoteFinished = true;
    this.push(null);
  }
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  close: [];
  error: [Error];
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  readonly writer = new SpdyFrameWriter();
  private readonly reader = new SpdyFrameReader();
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  closed = false;

  constructor(private readonly transport: SpdyTransport) {
    super();
  }

  /** Bytes from the client. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(errorMessage(e)));
      this.close();
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private onFrame(f: SpdyFrame): void {
    switch (f.type) {
      case 'synStream': {
        if (f.streamId % 2 === 0 || f.streamId <= this.lastStreamId) {
          this.send(this.writer.rstStream(f.streamId, RST.protocolError));
          return;
        }
        this.lastStreamId = f.streamId;
        const s = new SpdyStream(f.streamId, f.headers, this);
        this.streams.set(f.streamId, s);
        s.on('error', () => undefined);
        s.on('close', () => this.streams.delete(f.streamId));
        this.emit('stream', s);
        s.onFrame(f);
        return;
      }
      case 'data':
      case 'rstStream':
      case 'headers': {
        const s = this.streams.get(f.streamId);
        if (s) s.onFrame(f);
        else if (f.type === 'data') this.send(this.writer.rstStream(f.streamId, RST.invalidStream));
        return;
      }
      case 'ping':
        // Client pings have odd IDs; answer them. Ours would be even (we send none).
        if (f.id % 2 === 1) this.send(this.writer.ping(f.id));
        return;
      case 'goAway':
        this.close();
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE, SYN_REPLY from a client: nothing to do
    }
  }

  /** @internal */
  send(frame: Buffer): void {
    if (this.closed) return;
    this.transport.write(frame);
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /** The transport went away: every stream ends. */
  transportClosed(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      s.remoteFin();
      s.destroy();
    }
    this.streams.clear();
    this.emit('close');
  }

  /** Sends GOAWAY and closes the transport. */
  close(): void {
    if (this.closed) return;
    this.send(this.writer.goAway(this.lastStreamId));
    this.transport.close();
    this.transportClosed();
  }
}
