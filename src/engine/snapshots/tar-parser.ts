import { WharfError } from '../../core/errors.js';

// A small synchronous streaming tar reader (ustar, GNU long names, PAX), so the unpacker can
// decompress → parse → write in one pass without a stream object per entry. It validates header
// checksums and numeric fields and never trusts a declared size beyond the caller's caps.

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number; // seconds
  linkname: string;
  devmajor: number;
  devminor: number;
  /** PAX `SCHILY.xattr.*` values. */
  xattrs?: Map<string, Buffer>;
}

export interface TarHandlers {
  onEntry(h: TarHeader): void;
  onData(chunk: Buffer): void;
  onEntryEnd(): void;
}

export interface TarLimits {
  /** Largest declared size of one entry (bytes). */
  maxEntrySize: number;
  /** Largest PAX / GNU long-name record. */
  maxMetaSize?: number;
}

const BLOCK = 512;

function bad(msg: string): WharfError {
  return new WharfError('InvalidArgument', `corrupt tar: ${msg}`);
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function num(b: Buffer, off: number, len: number, field: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    // GNU base-256: big-endian, first byte's high bit set (negative numbers refused).
    if (first & 0x40) throw bad(`negative ${field}`);
    let v = first & 0x3f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + b[off + i]!;
      if (v > Number.MAX_SAFE_INTEGER) throw bad(`${field} too large`);
    }
    return v;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`bad ${field} field ${JSON.stringify(s)}`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw bad(`${field} too large`);
  return v;
}

function checksumOk(b: Buffer): boolean {
  const stored = num(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

function parsePax(buf: Buffer, into: Map<string, string | Buffer>): void {
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw bad('bad PAX record');
    const len = Number(buf.toString('latin1', off, sp));
    if (!Number.isSafeInteger(len) || len <= sp - off + 1 || off + len > buf.length) throw bad('bad PAX record length');
    const rec = buf.subarray(sp + 1, off + len - 1); // drop trailing \n
    if (buf[off + len - 1] !== 0x0a) throw bad('PAX record not newline-terminated');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw bad('PAX record without =');
    const key = rec.toString('utf8', 0, eq);
    into.set(key, key.startsWith('SCHILY.xattr.') ? Buffer.from(rec.subarray(eq + 1)) : rec.toString('utf8', eq + 1));
    off += len;
  }
}

export class TarParser {
  private pending: Buffer | undefined;
  private state: 'header' | 'data' | 'meta' | 'pad' | 'done' = 'header';
  private remaining = 0;
  private pad = 0;
  private metaKind: 'pax' | 'gpax' | 'longname' | 'longlink' = 'pax';
  private metaChunks: Buffer[] = [];
  private pax = new Map<string, string | Buffer>();
  private globalPax = new Map<string, string | Buffer>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroBlocks = 0;
  /** Total bytes consumed (the uncompressed tar size when done). */
  bytes = 0;
  entries = 0;

  constructor(
    private readonly h: TarHandlers,
    private readonly limits: TarLimits,
  ) {}

  get finished(): boolean {
    return this.state === 'done';
  }

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let buf = chunk;
    let off = 0;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    while (off < buf.length) {
      switch (this.state) {
        case 'done':
          return; // trailing data after the end blocks is ignored, like GNU tar
        case 'header': {
          if (buf.length - off < BLOCK) {
            this.pending = Buffer.from(buf.subarray(off));
            return;
          }
          this.header(buf.subarray(off, off + BLOCK));
          off += BLOCK;
          break;
        }
        case 'data':
        case 'meta': {
          const n = Math.min(this.remaining, buf.length - off);
          const part = buf.subarray(off, off + n);
          if (this.state === 'data') this.h.onData(part);
          else if (!this.skipping) this.metaChunks.push(Buffer.from(part));
          off += n;
          this.remaining -= n;
          if (this.remaining === 0) this.endOfData();
          break;
        }
        case 'pad': {
          const n = Math.min(this.pad, buf.length - off);
          off += n;
          this.pad -= n;
          if (this.pad === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /** Call at end of input; throws if the archive stopped in the middle of an entry. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state === 'header' && !this.pending) return; // no end blocks: accepted, like Go's archive/tar
    // The last entry's data is complete but its padding is missing: the docker CLI 28 sends build
    // contexts like that (-f outside the context), and Go's archive/tar accepts them.
    if (this.state === 'pad') return;
    throw bad('unexpected end of archive (truncated)');
  }

  private header(b: Buffer): void {
    if (b.every((x) => x === 0)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = 'done';
      return;
    }
    if (this.zeroBlocks > 0) throw bad('zero block inside the archive');
    if (!checksumOk(b)) throw bad('header checksum mismatch');
    const typeflag = String.fromCharCode(b[156]!);
    const size = num(b, 124, 12, 'size');
    const magic = b.toString('latin1', 257, 263);
    const maxMeta = this.limits.maxMetaSize ?? 1 << 20;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > maxMeta) throw new WharfError('TooLarge', `tar metadata record of ${size} bytes is over the limit of ${maxMeta}`);
      this.metaKind = typeflag === 'x' ? 'pax' : typeflag === 'g' ? 'gpax' : typeflag === 'L' ? 'longname' : 'longlink';
      this.metaChunks = [];
      this.startData(size, 'meta');
      return;
    }
    const type = TYPES[typeflag];
    if (!type) throw new WharfError('InvalidArgument', `unsupported tar entry type ${JSON.stringify(typeflag)}`);
    let name = cstr(b, 0, 100);
    if (magic.startsWith('ustar')) {
      const prefix = cstr(b, 345, magic === 'ustar\0' ? 155 : 0);
      if (prefix) name = `${prefix}/${name}`;
    }
    const pax = new Map([...this.globalPax, ...this.pax]);
    const hdr: TarHeader = {
      name: (pax.get('path') as string | undefined) ?? this.longName ?? name,
      type,
      mode: num(b, 100, 8, 'mode') & 0o7777,
      uid: pax.has('uid') ? Number(pax.get('uid')) : num(b, 108, 8, 'uid'),
      gid: pax.has('gid') ? Number(pax.get('gid')) : num(b, 116, 8, 'gid'),
      size: pax.has('size') ? Number(pax.get('size')) : size,
      mtime: pax.has('mtime') ? Math.floor(Number(pax.get('mtime'))) : num(b, 136, 12, 'mtime'),
      linkname: (pax.get('linkpath') as string | undefined) ?? this.longLink ?? cstr(b, 157, 100),
      devmajor: num(b, 329, 8, 'devmajor'),
      devminor: num(b, 337, 8, 'devminor'),
    };
    for (const [k, v] of pax) {
      if (k.startsWith('SCHILY.xattr.')) (hdr.xattrs ??= new Map()).set(k.slice(13), v as Buffer);
    }
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    if (![hdr.uid, hdr.gid, hdr.size].every((n) => Number.isSafeInteger(n) && n >= 0) || !Number.isFinite(hdr.mtime)) {
      throw bad(`bad numeric PAX field in ${JSON.stringify(hdr.name)}`);
    }
    if (hdr.name.includes('\0') || hdr.linkname.includes('\0')) throw bad('NUL byte in a name');
    if (hdr.type !== 'file') hdr.size = type === 'hardlink' || type === 'symlink' || type === 'dir' ? 0 : hdr.size;
    if (hdr.size > this.limits.maxEntrySize || size > this.limits.maxEntrySize) {
      throw new WharfError('TooLarge', `tar entry ${JSON.stringify(hdr.name)} declares ${hdr.size} bytes, over the limit of ${this.limits.maxEntrySize}`);
    }
    this.entries++;
    this.h.onEntry(hdr);
    // Data blocks follow for regular files; other types may carry (ignored) data too.
    const dataSize = type === 'file' ? hdr.size : size;
    this.startData(dataSize, 'data', type !== 'file');
  }

  private skipping = false;

  private startData(size: number, kind: 'data' | 'meta', skip = false): void {
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    this.remaining = size;
    this.skipping = skip;
    if (size === 0) {
      this.state = kind;
      this.endOfData();
      return;
    }
    this.state = skip ? 'meta' : kind;
    if (skip) this.metaKind = 'pax';
  }

  private endOfData(): void {
    if (this.skipping) {
      this.skipping = false;
      this.metaChunks = [];
      this.h.onEntryEnd();
    } else if (this.state === 'meta') {
      const data = Buffer.concat(this.metaChunks);
      this.metaChunks = [];
      if (this.metaKind === 'pax') parsePax(data, this.pax);
      else if (this.metaKind === 'gpax') parsePax(data, this.globalPax);
      else {
        const s = cstr(data, 0, data.length);
        if (this.metaKind === 'longname') this.longName = s;
        else this.longLink = s;
      }
    } else {
      this.h.onEntryEnd();
    }
    this.state = this.pad > 0 ? 'pad' : 'header';
  }
}
