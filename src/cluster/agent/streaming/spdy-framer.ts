import { constants as zc, inflateSync } from 'node:zlib';
import { WharfError } from '../../../core/errors.js';

// SPDY/3.1 framing, as far as kubectl's SPDY clients (moby/spdystream) use it: what
// `kubectl port-forward` speaks (over a raw HTTP upgrade up to kubectl 1.30, tunnelled inside
// WebSocket binary messages — subprotocol `SPDY/3.1+portforward.k8s.io` — from 1.31) and what
// `kubectl exec/attach/cp` fall back to (and what 1.27–1.29 only speak). Flow control is not
// used by spdystream (it neither sends nor honours WINDOW_UPDATE), so neither does Wharf.
//
// Header blocks are zlib streams (one per direction per connection) with SPDY/3's preset
// dictionary. Incoming blocks are inflated by re-inflating the connection's compressed bytes so
// far (synchronous; a connection carries a handful of small blocks per stream). Outgoing
// blocks are written as stored (uncompressed) deflate blocks, each followed by the empty stored
// block a sync flush writes: any zlib reader accepts that, and it needs no compressor state.

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;

export const TYPE = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goAway: 7, headers: 8, windowUpdate: 9 } as const;

/** RST_STREAM status codes. */
export const RST = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6 } as const;

export type SpdyHeaders = Record<string, string>;

export type SpdyFrame =
  | { type: 'synStream'; streamId: number; associatedId: number; flags: number; headers: SpdyHeaders }
  | { type: 'synReply'; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: 'headers'; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: 'rstStream'; streamId: number; status: number }
  | { type: 'ping'; id: number }
  | { type: 'goAway'; lastGoodStreamId: number; status: number }
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'other'; frameType: number };

const WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden' +
  '404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,' +
  'publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** SPDY/3's zlib dictionary (draft 3, section 2.6.10.1): length-prefixed words, then a text tail. */
export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(TAIL, 'latin1'),
]);

const MAX_FRAME = 16 * 1024 * 1024;

/** Parses frames from a byte stream (push bytes in, complete frames out). One per connection direction. */
export class SpdyFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private compressed: Buffer[] = [];
  private inflatedLength = 0;

  push(chunk: Buffer): SpdyFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: SpdyFrame[] = [];
    for (;;) {
      if (this.buf.length < 8) break;
      const len = this.buf.readUIntBE(5, 3);
      if (len > MAX_FRAME) throw new WharfError('InvalidArgument', `spdy: frame of ${len} bytes is too large`);
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      out.push(this.parse(frame));
    }
    return out;
  }

  private parse(f: Buffer): SpdyFrame {
    const flags = f[4]!;
    const body = f.subarray(8);
    if ((f[0]! & 0x80) === 0) return { type: 'data', streamId: f.readUInt32BE(0) & 0x7fffffff, flags, data: Buffer.from(body) };
    const version = f.readUInt16BE(0) & 0x7fff;
    if (version !== SPDY_VERSION) throw new WharfError('InvalidArgument', `spdy: unsupported version ${version}`);
    const type = f.readUInt16BE(2);
    const need = (n: number) => {
      if (body.length < n) throw new WharfError('InvalidArgument', `spdy: control frame ${type} too short`);
    };
    switch (type) {
      case TYPE.synStream:
        need(10);
        return { type: 'synStream', streamId: body.readUInt32BE(0) & 0x7fffffff, associatedId: body.readUInt32BE(4) & 0x7fffffff, flags, headers: this.headerBlock(body.subarray(10)) };
      case TYPE.synReply:
        need(4);
        return { type: 'synReply', streamId: body.readUInt32BE(0) & 0x7fffffff, flags, headers: this.headerBlock(body.subarray(4)) };
      case TYPE.headers:
        need(4);
        return { type: 'headers', streamId: body.readUInt32BE(0) & 0x7fffffff, flags, headers: this.headerBlock(body.subarray(4)) };
      case TYPE.rstStream:
        need(8);
        return { type: 'rstStream', streamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
      case TYPE.ping:
        need(4);
        return { type: 'ping', id: body.readUInt32BE(0) };
      case TYPE.goAway:
        need(8);
        return { type: 'goAway', lastGoodStreamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
      default:
        return { type: 'other', frameType: type };
    }
  }

  private headerBlock(block: Buffer): SpdyHeaders {
    this.compressed.push(Buffer.from(block));
    let all: Buffer;
    try {
      all = inflateSync(Buffer.concat(this.compressed), { dictionary: SPDY3_DICTIONARY, finishFlush: zc.Z_SYNC_FLUSH });
    } catch (e) {
      throw new WharfError('InvalidArgument', `spdy: bad header block: ${(e as Error).message}`, { cause: e });
    }
    const plain = all.subarray(this.inflatedLength);
    this.inflatedLength = all.length;
    return decodeHeaderBlock(plain);
  }
}

/** The uncompressed name/value block: count, then (length, name, length, value) pairs; values NUL-separated. */
export function decodeHeaderBlock(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  let off = 0;
  const u32 = () => {
    if (off + 4 > b.length) throw new WharfError('InvalidArgument', 'spdy: truncated header block');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = () => {
    const n = u32();
    if (off + n > b.length) throw new WharfError('InvalidArgument', 'spdy: truncated header block');
    const s = b.toString('latin1', off, off + n);
    off += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    out[name] = str().split('\0').join(',');
  }
  return out;
}

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const entries = Object.entries(headers);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(entries.length, 0);
  parts.push(count);
  for (const [k, v] of entries) {
    for (const s of [k.toLowerCase(), v]) {
      const b = Buffer.from(s, 'latin1');
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length, 0);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

/** Serializes frames; owns the outgoing header-compression stream of one connection. */
export class SpdyFrameWriter {
  private started = false;

  /** A header block as a zlib stream of stored deflate blocks (the zlib header on the first one only). */
  private headerBlock(headers: SpdyHeaders): Buffer {
    const plain = encodeHeaderBlock(headers);
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(Buffer.from([0x78, 0x01]));
      this.started = true;
    }
    // `plain` is never empty (it starts with the pair count).
    for (let off = 0; off < plain.length; off += 0xffff) {
      const chunk = plain.subarray(off, off + 0xffff);
      const h = Buffer.alloc(5);
      h[0] = 0x00; // BFINAL 0, BTYPE 00 (stored), padded to the byte
      h.writeUInt16LE(chunk.length, 1);
      h.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(h, chunk);
    }
    // An empty stored block ends the block as a zlib sync flush does: Go's inflater hands the
    // data over at this marker instead of reading on into the next frame's bytes.
    parts.push(Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]));
    return Buffer.concat(parts);
  }

  private control(type: number, flags: number, body: Buffer): Buffer {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
    h.writeUInt16BE(type, 2);
    h[4] = flags;
    h.writeUIntBE(body.length, 5, 3);
    return Buffer.concat([h, body]);
  }

  synStream(streamId: number, headers: SpdyHeaders, flags = 0): Buffer {
    const ids = Buffer.alloc(10);
    ids.writeUInt32BE(streamId & 0x7fffffff, 0);
    return this.control(TYPE.synStream, flags, Buffer.concat([ids, this.headerBlock(headers)]));
  }

  synReply(streamId: number, headers: SpdyHeaders = {}, flags = 0): Buffer {
    const id = Buffer.alloc(4);
    id.writeUInt32BE(streamId & 0x7fffffff, 0);
    return this.control(TYPE.synReply, flags, Buffer.concat([id, this.headerBlock(headers)]));
  }

  rstStream(streamId: number, status: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(streamId & 0x7fffffff, 0);
    b.writeUInt32BE(status, 4);
    return this.control(TYPE.rstStream, 0, b);
  }

  ping(id: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id >>> 0, 0);
    return this.control(TYPE.ping, 0, b);
  }

  goAway(lastGoodStreamId: number, status = 0): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
    b.writeUInt32BE(status, 4);
    return this.control(TYPE.goAway, 0, b);
  }

  /** DATA frames (split at the 24-bit length limit); FIN on the last when asked. */
  data(streamId: number, data: Buffer, fin = false): Buffer {
    const parts: Buffer[] = [];
    const max = 0xffffff;
    let off = 0;
    do {
      const chunk = data.subarray(off, off + max);
      off += chunk.length;
      const h = Buffer.alloc(8);
      h.writeUInt32BE(streamId & 0x7fffffff, 0);
      h[4] = fin && off >= data.length ? FLAG_FIN : 0;
      h.writeUIntBE(chunk.length, 5, 3);
      parts.push(h, chunk);
    } while (off < data.length);
    return Buffer.concat(parts);
  }
}
