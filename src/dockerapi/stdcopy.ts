import { Transform, Writable, type TransformCallback } from 'node:stream';
import { WharfError } from '../core/errors.js';

// Docker's multiplexed stream framing (moby pkg/stdcopy): each frame is an 8-byte header
// [stream, 0, 0, 0, size uint32 big-endian] followed by `size` bytes of payload.
// stream: 0 stdin, 1 stdout, 2 stderr, 3 systemerr.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const SYSTEMERR = 3;
export type StreamId = 0 | 1 | 2 | 3;

const HEADER = 8;
/** Largest payload put in one frame (Docker's buffer size); longer writes are split. */
export const MAX_FRAME = 32 * 1024;

/** Encodes one payload as one or more frames. */
export function encodeFrames(stream: StreamId, payload: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (let off = 0; off < payload.length; off += MAX_FRAME) {
    const chunk = payload.subarray(off, Math.min(off + MAX_FRAME, payload.length));
    const h = Buffer.alloc(HEADER);
    h[0] = stream;
    h.writeUInt32BE(chunk.length, 4);
    parts.push(h, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(parts);
}

/** Writes frames for several logical streams onto one byte stream (an attach/exec/logs response). */
export class MultiplexWriter {
  constructor(private readonly out: Writable) {}

  /** Returns false when the underlying stream wants the caller to wait for 'drain'. */
  write(stream: StreamId, data: Uint8Array | string): boolean {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length === 0) return true;
    return this.out.write(encodeFrames(stream, buf));
  }

  /** A Writable that frames everything written to it as `stream`. */
  streamFor(stream: StreamId): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, cb: TransformCallback) => {
        this.write(stream, chunk);
        cb();
      },
    });
  }
}

export interface Frame {
  stream: StreamId;
  payload: Buffer;
}

/**
 * Incremental frame decoder: push bytes as they arrive, get whole frames back.
 * Rejects unknown stream bytes (a raw, non-multiplexed stream fed to it by mistake).
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= HEADER) {
      const stream = this.buf[0]!;
      if (stream > 3 || this.buf[1] !== 0 || this.buf[2] !== 0 || this.buf[3] !== 0) {
        throw new WharfError('InvalidArgument', `stdcopy: bad frame header (stream byte ${stream})`);
      }
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < HEADER + size) break;
      frames.push({ stream: stream as StreamId, payload: this.buf.subarray(HEADER, HEADER + size) });
      this.buf = this.buf.subarray(HEADER + size);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still buffered (non-zero at end of input means truncation). */
  get pending(): number {
    return this.buf.length;
  }
}

/** Reads a whole multiplexed stream into per-stream buffers (tests, small outputs). */
export async function demultiplex(input: AsyncIterable<Uint8Array>): Promise<{ stdout: Buffer; stderr: Buffer; systemerr: Buffer }> {
  const dec = new FrameDecoder();
  const out: Buffer[][] = [[], [], [], []];
  for await (const chunk of input) {
    for (const f of dec.push(chunk)) out[f.stream]!.push(f.payload);
  }
  if (dec.pending !== 0) throw new WharfError('InvalidArgument', `stdcopy: truncated frame (${dec.pending} bytes left)`);
  return { stdout: Buffer.concat(out[1]!), stderr: Buffer.concat(out[2]!), systemerr: Buffer.concat(out[3]!) };
}

/**
 * The stdout/stderr sinks of an attach/exec/logs stream: raw bytes on a TTY (one stream),
 * multiplexed frames otherwise (the docker CLI silently drops raw bytes on a non-TTY stream).
 * Ending a sink does not end `out`: the caller closes the connection when both are done.
 */
export function outputStreams(out: Writable, tty: boolean): { stdout: Writable; stderr: Writable } {
  const mux = new MultiplexWriter(out);
  const sink = (stream: StreamId) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        const ok = tty ? out.write(chunk) : mux.write(stream, chunk);
        if (ok) cb();
        else out.once('drain', () => cb());
      },
    });
  return { stdout: sink(STDOUT), stderr: sink(STDERR) };
}
