import { mkdir, readdir, rm, rmdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { ConmonRuntime } from '../../src/engine/runtime/conmon-runtime.js';
import { buildSpec, parseProcLimits, type CreateOptions, type OciSpec } from '../../src/engine/runtime/spec.js';
import { readFileSync } from 'node:fs';
import { makeBusyboxRootfs, PASSWD, GROUP } from './busybox-rootfs.js';

// A temp state root, a busybox rootfs, a cgroup parent with a random name; `cleanup()`
// force-deletes every container it made, kills their conmons, removes the cgroups and the root.

export class RuntimeHarness {
  readonly suffix = randomBytes(4).toString('hex');
  readonly dir = `/var/tmp/wharf-test-rt-${this.suffix}`;
  readonly rootfs = join(this.dir, 'rootfs');
  readonly root = join(this.dir, 'state');
  readonly runtimeRoot = join(this.dir, 'runc');
  readonly cgroupParent = `/wharf-test-${this.suffix}`;
  private readonly ids = new Set<string>();
  private readonly hostLimits = parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));

  async setup(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await makeBusyboxRootfs(this.rootfs);
  }

  runtime(opts: { logMaxSize?: number; logMaxFiles?: number } = {}): ConmonRuntime {
    return new ConmonRuntime({ root: this.root, runtimeRoot: this.runtimeRoot, logger: silentLogger(), ...opts });
  }

  id(tag: string): string {
    const id = `${tag}-${randomBytes(4).toString('hex')}`;
    this.ids.add(id);
    return id;
  }

  spec(id: string, cmd: string[], opts: CreateOptions = {}): OciSpec {
    return buildSpec({}, { cmd, ...opts }, { rootfs: this.rootfs, cgroupsPath: `${this.cgroupParent}/${id}`, passwd: PASSWD, group: GROUP, hostLimits: this.hostLimits });
  }

  async cleanup(): Promise<void> {
    for (const id of this.ids) {
      await run(['runc', '--root', this.runtimeRoot, 'delete', '--force', id], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
      const pid = Number.parseInt(await readFile(join(this.root, id, 'conmon.pid'), 'utf8').catch(() => ''), 10);
      if (pid > 0) {
        const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
        if (comm.trim() === 'conmon') {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
    }
    await removeCgroupTree(this.cgroupParent);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** rmdir a cgroup path (children first) in every v1 hierarchy and in the unified one. */
export async function removeCgroupTree(path: string): Promise<void> {
  let hierarchies: string[] = [];
  try {
    hierarchies = (await readdir('/sys/fs/cgroup')).map((h) => join('/sys/fs/cgroup', h));
  } catch {
    return;
  }
  for (const h of hierarchies) await rmTree(join(h, path));
}

async function rmTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await rmTree(join(dir, e.name));
  for (let i = 0; i < 20; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function readLog(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
