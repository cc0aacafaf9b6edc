import { lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';

// Writes a set of files into a volume directory the way the kubelet's AtomicWriter does, so a
// reader never sees a half-updated set: the files go into a fresh hidden `..<stamp>` directory,
// the `..data` symlink is swapped to it with one rename(2), and each top-level entry the user
// sees is a symlink through `..data`. Used for configMap, secret, downwardAPI and projected.

export interface FileSpec {
  /** Relative path inside the volume (validated by the API server: no '..', not absolute). */
  path: string;
  content: Buffer;
  mode: number;
}

const DATA = '..data';

/** Writes `files` as the volume's whole content; returns false when the content was already that. */
export async function writeAtomically(dir: string, files: readonly FileSpec[], stamp: string): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  const current = await readlink(join(dir, DATA)).catch(() => undefined);
  if (current !== undefined && (await sameContent(join(dir, current), files))) return false;
  const next = `..${stamp}`;
  const nextDir = join(dir, next);
  await rm(nextDir, { recursive: true, force: true });
  await mkdir(nextDir, { mode: 0o755 });
  for (const f of files) {
    const p = join(nextDir, f.path);
    await mkdir(dirname(p), { recursive: true, mode: 0o755 });
    await writeFile(p, f.content, { mode: f.mode });
    await chmod(p, f.mode); // writeFile's mode is masked by the umask
  }
  await rm(join(dir, '..data_tmp'), { force: true });
  await symlink(next, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, DATA));
  // User-visible top-level entries: symlinks through ..data; stale ones go.
  const tops = new Set(files.map((f) => f.path.split('/')[0]!));
  for (const t of tops) {
    const link = join(dir, t);
    const st = await lstat(link).catch(() => undefined);
    if (!st) await symlink(join(DATA, t), link);
  }
  for (const e of await readdir(dir)) {
    if (e.startsWith('..')) {
      if (e !== DATA && e !== next) await rm(join(dir, e), { recursive: true, force: true });
    } else if (!tops.has(e)) await rm(join(dir, e), { recursive: true, force: true });
  }
  return true;
}

async function sameContent(dataDir: string, files: readonly FileSpec[]): Promise<boolean> {
  const { readFile, stat } = await import('node:fs/promises');
  const want = new Map(files.map((f) => [f.path, f]));
  const have = await listFiles(dataDir, '');
  if (have.length !== want.size) return false;
  for (const p of have) {
    const f = want.get(p);
    if (!f) return false;
    const st = await stat(join(dataDir, p));
    if ((st.mode & 0o7777) !== f.mode) return false;
    if (!(await readFile(join(dataDir, p))).equals(f.content)) return false;
  }
  return true;
}

async function listFiles(dir: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}
