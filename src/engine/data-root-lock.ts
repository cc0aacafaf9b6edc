import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WharfError } from '../core/errors.js';

// One daemon per data root: DATA_ROOT/wharf.lock holds the owner's PID for the daemon's life.
// Node has no flock(), so the file is created atomically with link(2) (fails if it exists) and
// a lock whose PID is gone (or is no longer a wharf process) is stale and taken over.

export interface DataRootLock {
  readonly path: string;
  release(): void;
}

/**
 * Locks held by this process: several engines may run in one process (`wharf server` with its
 * agent), and a lock file naming our own PID is only stale when no engine here holds it.
 */
const heldHere = new Set<string>();

export function acquireDataRootLock(dataRoot: string, pid = process.pid): DataRootLock {
  const path = join(dataRoot, 'wharf.lock');
  if (heldHere.has(path)) {
    throw new WharfError('Conflict', `data root ${dataRoot} is in use by another wharf engine in this process (lock ${path}); use another data root`);
  }
  const tmp = `${path}.${pid}.tmp`;
  writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, path);
        heldHere.add(path);
        let released = false;
        return {
          path,
          release: () => {
            if (released) return;
            released = true;
            heldHere.delete(path);
            if (readOwner(path) === pid) unlinkSync(path);
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readOwner(path);
      if (owner !== undefined && owner !== pid && isWharfProcess(owner)) {
        throw new WharfError(
          'Conflict',
          `data root ${dataRoot} is in use by another wharf daemon (pid ${owner}, lock ${path}); stop it or use another --data-root`,
        );
      }
      // Stale: the owner is gone. Remove and retry once (a racing daemon may win the link).
      try {
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    throw new WharfError('Conflict', `data root ${dataRoot}: another daemon took the lock ${path} while starting`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
}

function readOwner(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** True if PID is alive, not a zombie, and runs node/wharf (guards against PID reuse). */
function isWharfProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /node|wharf/.test(cmdline);
  } catch {
    return false;
  }
}
