// Minimal ustar/PAX header writer, shared by `save`, the busybox bootstrap and the test helpers.

export interface TarHeaderSpec {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'pax';
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6', pax: 'x' } as const;

function octal(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

function rawHeader(h: TarHeaderSpec, name: string, linkname: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write(octal(h.mode ?? (h.type === 'dir' ? 0o755 : 0o644), 8), 100, 'latin1');
  b.write(octal(h.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(h.gid ?? 0, 8), 116, 'latin1');
  const size = h.size ?? 0;
  if (size >= 8 ** 11) {
    // base-256 for sizes of 8 GiB and more
    b[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
  } else b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(h.mtime ?? 0, 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(TYPEFLAG[h.type], 156, 'latin1');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write(octal(h.devmajor ?? 0, 8), 329, 'latin1');
  b.write(octal(h.devminor ?? 0, 8), 337, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(octal(sum, 7) + ' ', 148, 'latin1');
  return b;
}

export function paxRecord(key: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  const body = Buffer.concat([Buffer.from(` ${key}=`), v, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function padding(size: number): Buffer {
  const r = size % 512;
  return Buffer.alloc(r === 0 ? 0 : 512 - r);
}

/** Header block(s) for one entry: a PAX header first when a name is too long or extra records are given. */
export function tarHeader(h: TarHeaderSpec, extraPax: Buffer[] = []): Buffer {
  const pax = [...extraPax];
  if (Buffer.byteLength(h.name) > 100) pax.push(paxRecord('path', h.name));
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) pax.push(paxRecord('linkpath', h.linkname));
  const main = rawHeader(h, h.name, h.linkname ?? '');
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax);
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/entry', type: 'pax', size: body.length, mtime: h.mtime ?? 0 }, 'PaxHeaders/entry', ''), body, padding(body.length), main]);
}

export const TAR_TRAILER = Buffer.alloc(1024);
