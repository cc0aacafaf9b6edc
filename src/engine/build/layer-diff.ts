import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { padding, paxRecord, tarHeader, TAR_TRAILER, type TarHeaderSpec } from '../../oci/tar-writer.js';

// Turns an overlayfs upper directory (what a build step changed) into an OCI layer tar:
// overlay whiteouts (char device 0:0) become `.wh.<name>` entries, opaque directories
// (`trusted.overlay.opaque=y`) get a `.wh..wh..opq` entry, hard links inside the layer become
// tar hard links. Entries are written in sorted order, so the same tree gives the same bytes.

export interface LayerSink {
  write(chunk: Uint8Array): void;
}

export interface DiffResult {
  /** Number of entries written (0: the step changed nothing). */
  entries: number;
}

/** Directories of `upper` carrying `trusted.overlay.opaque=y` (one getfattr process for the tree). */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  const r = await run(['getfattr', '-R', '-P', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', upper], {
    allowFailure: true,
    timeoutMs: 120_000,
  });
  const out = new Set<string>();
  let file: string | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (file && /^trusted\.overlay\.opaque="?y"?$/.test(line.trim())) out.add(file);
  }
  return out;
}

const isWhiteout = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/** Writes the layer tar of `upper` into `sink`. `skip(rel)` drops paths (mount points the runtime made). */
export async function writeLayerFromUpper(upper: string, sink: LayerSink, opts: { skip?: (rel: string, st: Stats) => boolean; mtime?: number } = {}): Promise<DiffResult> {
  const opaque = await opaqueDirs(upper);
  const links = new Map<string, string>();
  let entries = 0;
  const buf = Buffer.alloc(1 << 20);
  const header = (h: TarHeaderSpec, st?: Stats) => {
    const pax: Buffer[] = [];
    if (st && (st.uid > 0o7777777 || st.gid > 0o7777777)) {
      pax.push(paxRecord('uid', String(st.uid)), paxRecord('gid', String(st.gid)));
    }
    sink.write(tarHeader(h, pax));
    entries++;
  };
  const meta = (st: Stats) => ({
    mode: st.mode & 0o7777,
    uid: st.uid > 0o7777777 ? 0 : st.uid,
    gid: st.gid > 0o7777777 ? 0 : st.gid,
    mtime: opts.mtime ?? Math.floor(st.mtimeMs / 1000),
  });

  const walk = (absDir: string, relDir: string) => {
    const names = readdirSync(absDir).sort();
    if (relDir !== '' && opaque.has(absDir)) {
      header({ name: `${relDir}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o644, mtime: opts.mtime ?? 0 });
    }
    for (const n of names) {
      const abs = join(absDir, n);
      const rel = relDir === '' ? n : `${relDir}/${n}`;
      const st = lstatSync(abs);
      if (opts.skip?.(rel, st)) continue;
      if (isWhiteout(st)) {
        header({ name: relDir === '' ? `.wh.${n}` : `${relDir}/.wh.${n}`, type: 'file', size: 0, mode: 0o644, mtime: opts.mtime ?? 0 });
        continue;
      }
      if (st.isDirectory()) {
        header({ name: `${rel}/`, type: 'dir', ...meta(st) }, st);
        walk(abs, rel);
      } else if (st.isSymbolicLink()) {
        header({ name: rel, type: 'symlink', linkname: readlinkSync(abs), ...meta(st) }, st);
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          header({ name: rel, type: 'hardlink', linkname: first, ...meta(st) }, st);
          continue;
        }
        if (st.nlink > 1) links.set(key, rel);
        header({ name: rel, type: 'file', size: st.size, ...meta(st) }, st);
        const fd = openSync(abs, 'r');
        try {
          let left = st.size;
          while (left > 0) {
            const n2 = readSync(fd, buf, 0, Math.min(buf.length, left), null);
            if (n2 === 0) throw new WharfError('Internal', `${rel} shrank while the layer was written`);
            sink.write(Buffer.from(buf.subarray(0, n2)));
            left -= n2;
          }
        } finally {
          closeSync(fd);
        }
        sink.write(padding(st.size));
      } else if (st.isFIFO()) {
        header({ name: rel, type: 'fifo', ...meta(st) }, st);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        header({ name: rel, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: Math.floor(st.rdev / 256) & 0xfff, devminor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00), ...meta(st) }, st);
      }
      // sockets are not archived (as tar does)
    }
  };
  walk(upper, '');
  if (entries > 0) sink.write(TAR_TRAILER);
  return { entries };
}
