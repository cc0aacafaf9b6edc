import { describe, expect, it } from 'vitest';
import { constants as zc, createDeflate } from 'node:zlib';
import { SPDY3_DICTIONARY, SpdyFrameReader, SpdyFrameWriter, encodeHeaderBlock, FLAG_FIN } from './spdy-framer.js';
import { SpdySession, type SpdyStream } from './spdy-session.js';

/** A client's SYN_STREAM compressed the way Go's zlib writer does it (dictionary, sync flush per block). */
async function goStyleSynStreams(blocks: { id: number; headers: Record<string, string>; fin?: boolean }[]): Promise<Buffer> {
  const deflate = createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  const out: Buffer[] = [];
  for (const b of blocks) {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    deflate.on('data', onData);
    deflate.write(encodeHeaderBlock(b.headers));
    await new Promise<void>((resolve) => deflate.flush(zc.Z_SYNC_FLUSH, () => resolve()));
    deflate.off('data', onData);
    const hb = Buffer.concat(chunks);
    const head = Buffer.alloc(18);
    head.writeUInt16BE(0x8003, 0);
    head.writeUInt16BE(1, 2);
    head[4] = b.fin ? FLAG_FIN : 0;
    head.writeUIntBE(10 + hb.length, 5, 3);
    head.writeUInt32BE(b.id, 8);
    out.push(head, hb);
  }
  deflate.close();
  return Buffer.concat(out);
}

describe('SPDY/3.1 framing', () => {
  it('has the 1423-byte SPDY/3 dictionary', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.subarray(0, 11)).toEqual(Buffer.from('\0\0\0\x07options', 'latin1'));
    expect(SPDY3_DICTIONARY.subarray(-6).toString()).toBe('enq=0.');
  });

  it('reads compressed header blocks across frames, split at any byte', async () => {
    const bytes = await goStyleSynStreams([
      { id: 1, headers: { streamtype: 'error', port: '80', requestid: '0' } },
      { id: 3, headers: { streamtype: 'data', port: '80', requestid: '0' } },
    ]);
    const r = new SpdyFrameReader();
    const frames = [];
    for (let i = 0; i < bytes.length; i += 7) frames.push(...r.push(bytes.subarray(i, i + 7)));
    expect(frames).toEqual([
      { type: 'synStream', streamId: 1, associatedId: 0, flags: 0, headers: { streamtype: 'error', port: '80', requestid: '0' } },
      { type: 'synStream', streamId: 3, associatedId: 0, flags: 0, headers: { streamtype: 'data', port: '80', requestid: '0' } },
    ]);
  });

  it('writes frames its reader (and so a zlib reader) understands', () => {
    const w = new SpdyFrameWriter();
    const r = new SpdyFrameReader();
    const bytes = Buffer.concat([w.synReply(1, { a: 'b' }), w.synReply(3), w.data(3, Buffer.from('hello'), true), w.ping(1), w.rstStream(5, 5), w.goAway(3)]);
    expect(r.push(bytes)).toEqual([
      { type: 'synReply', streamId: 1, flags: 0, headers: { a: 'b' } },
      { type: 'synReply', streamId: 3, flags: 0, headers: {} },
      { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('hello') },
      { type: 'ping', id: 1 },
      { type: 'rstStream', streamId: 5, status: 5 },
      { type: 'goAway', lastGoodStreamId: 3, status: 0 },
    ]);
  });

  it('refuses garbage instead of guessing', () => {
    const r = new SpdyFrameReader();
    const bad = Buffer.from([0x80, 0x02, 0, 1, 0, 0, 0, 0]);
    expect(() => r.push(bad)).toThrow(/unsupported version 2/);
  });
});

describe('SPDY session (server side)', () => {
  it('opens client streams, replies, carries data both ways, answers pings', async () => {
    const sent: Buffer[] = [];
    const session = new SpdySession({ write: (b) => sent.push(b), close: () => undefined });
    const streams: SpdyStream[] = [];
    session.on('stream', (s) => {
      streams.push(s);
      s.reply();
    });
    session.receive(await goStyleSynStreams([{ id: 1, headers: { streamtype: 'stdin' } }]));
    expect(streams.map((s) => s.headers.streamtype)).toEqual(['stdin']);
    const client = new SpdyFrameWriter();
    const got: Buffer[] = [];
    streams[0]!.on('data', (b: Buffer) => got.push(b));
    const ended = new Promise((r) => streams[0]!.on('end', r));
    session.receive(Buffer.concat([client.data(1, Buffer.from('abc')), client.data(1, Buffer.alloc(0), true), client.ping(7)]));
    await ended;
    expect(Buffer.concat(got).toString()).toBe('abc');
    streams[0]!.end('out');
    await new Promise((r) => setImmediate(r));
    const frames = new SpdyFrameReader().push(Buffer.concat(sent));
    expect(frames).toEqual([
      { type: 'synReply', streamId: 1, flags: 0, headers: {} },
      { type: 'ping', id: 7 },
      { type: 'data', streamId: 1, flags: 0, data: Buffer.from('out') },
      { type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.alloc(0) },
    ]);
  });

  it('refuses a stream id a client may not use', async () => {
    const sent: Buffer[] = [];
    const session = new SpdySession({ write: (b) => sent.push(b), close: () => undefined });
    let opened = 0;
    session.on('stream', () => opened++);
    session.receive(await goStyleSynStreams([{ id: 2, headers: { streamtype: 'data' } }]));
    expect(opened).toBe(0);
    expect(new SpdyFrameReader().push(Buffer.concat(sent))).toEqual([{ type: 'rstStream', streamId: 2, status: 1 }]);
  });
});
