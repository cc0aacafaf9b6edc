import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { WharfError } from '../../../core/errors.js';

// hostPath `type` checks, with the kubelet's meanings and messages.

export type HostPathType = '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';

const fail = (msg: string) => new WharfError('InvalidArgument', `hostPath type check failed: ${msg}`);

/** Checks (and for *OrCreate, creates) what must be at `path`; throws InvalidArgument with the reason. */
export async function checkHostPath(path: string, type: HostPathType): Promise<void> {
  if (type === '') return;
  let st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) {
    if (type === 'DirectoryOrCreate') {
      await mkdir(path, { recursive: true, mode: 0o755 });
      return;
    }
    if (type === 'FileOrCreate') {
      // Like the kubelet: the parent must exist; the file is created empty, 0644.
      await writeFile(path, '', { flag: 'a', mode: 0o644 }).catch((e: NodeJS.ErrnoException) => {
        throw fail(`${path} could not be created: ${e.code ?? e.message}`);
      });
      st = await lstat(path);
      return;
    }
    throw fail(`${path} does not exist`);
  }
  const ok: Record<Exclude<HostPathType, ''>, [boolean, string]> = {
    DirectoryOrCreate: [st.isDirectory(), 'is not a directory'],
    Directory: [st.isDirectory(), 'is not a directory'],
    FileOrCreate: [st.isFile(), 'is not a file'],
    File: [st.isFile(), 'is not a file'],
    Socket: [st.isSocket(), 'is not a socket file'],
    CharDevice: [st.isCharacterDevice(), 'is not a character device'],
    BlockDevice: [st.isBlockDevice(), 'is not a block device'],
  };
  const [good, why] = ok[type];
  if (!good) throw fail(`${path} ${why}`);
}
