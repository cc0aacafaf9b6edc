import { describe, expect, it } from 'vitest';
import { PassThrough, Readable } from 'node:stream';
import Docker from 'dockerode';
import { MultiplexWriter, FrameDecoder, demultiplex, encodeFrames, MAX_FRAME, STDOUT, STDERR } from './stdcopy.js';

describe('stdcopy', () => {
  it('writes 8-byte headers: stream byte, three zeros, big-endian length', () => {
    const b = encodeFrames(STDERR, Buffer.from('hi'));
    expect([...b.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 2]);
    expect(b.subarray(8).toString()).toBe('hi');
  });

  it('splits long payloads into frames of at most MAX_FRAME bytes', () => {
    const payload = Buffer.alloc(MAX_FRAME * 2 + 5, 'x');
    const frames = new FrameDecoder().push(encodeFrames(STDOUT, payload));
    expect(frames.map((f) => f.payload.length)).toEqual([MAX_FRAME, MAX_FRAME, 5]);
  });

  it('decodes frames split at every byte boundary', () => {
    const out = new PassThrough();
    const mux = new MultiplexWriter(out);
    mux.write(STDOUT, 'abc');
    mux.write(STDERR, 'err');
    mux.write(STDOUT, '');
    const bytes: Buffer = out.read() as Buffer;
    const dec = new FrameDecoder();
    const got = [];
    for (let i = 0; i < bytes.length; i++) got.push(...dec.push(bytes.subarray(i, i + 1)));
    expect(got.map((f) => [f.stream, f.payload.toString()])).toEqual([
      [STDOUT, 'abc'],
      [STDERR, 'err'],
    ]);
    expect(dec.pending).toBe(0);
  });

  it('refuses raw (non-multiplexed) bytes and truncated frames', async () => {
    expect(() => new FrameDecoder().push(Buffer.from('hello world'))).toThrow(/bad frame header/);
    const truncated = encodeFrames(STDOUT, Buffer.from('abcdef')).subarray(0, 10);
    await expect(demultiplex(Readable.from([truncated]))).rejects.toThrow(/truncated/);
  });

  it('is read correctly by dockerode (docker-modem demuxStream)', async () => {
    const src = new PassThrough();
    const out = new PassThrough();
    const err = new PassThrough();
    new Docker().modem.demuxStream(src, out, err);
    const mux = new MultiplexWriter(src);
    mux.write(STDOUT, 'to stdout');
    mux.write(STDERR, Buffer.alloc(MAX_FRAME + 1, 'e'));
    src.end();
    await new Promise((r) => setTimeout(r, 20));
    expect((out.read() as Buffer).toString()).toBe('to stdout');
    expect((err.read() as Buffer).length).toBe(MAX_FRAME + 1);
  });
});

describe('outputStreams', () => {
  it('frames stdout/stderr on a non-TTY stream and passes raw bytes on a TTY', async () => {
    const { outputStreams } = await import('./stdcopy.js');
    const a = new PassThrough();
    const s = outputStreams(a, false);
    s.stdout.write('out');
    s.stderr.write('err');
    await new Promise((r) => setImmediate(r));
    expect(new FrameDecoder().push(a.read() as Buffer).map((f) => [f.stream, f.payload.toString()])).toEqual([
      [STDOUT, 'out'],
      [STDERR, 'err'],
    ]);
    const b = new PassThrough();
    const t = outputStreams(b, true);
    t.stdout.write('raw');
    t.stderr.end('!');
    await new Promise((r) => setImmediate(r));
    expect((b.read() as Buffer).toString()).toBe('raw!');
    expect(b.writableEnded).toBe(false);
  });
});
