import { WharfError } from '../../../core/errors.js';
import type { ContainerRecord } from '../types.js';
import type { MountsStep } from '../container-mounts.js';
import type { CleanupReason, Isolator, IsolatorDraft, Launch } from '../isolator.js';

// Mounts and volumes: binds, --mount, anonymous and image volumes, --volumes-from and tmpfs
// destinations resolved at create (volumes created and acquired), mounted at every start,
// released at exit and removal (anonymous volumes with `rm -v`).

export class MountsIsolator implements Isolator {
  readonly name = 'mounts';

  constructor(private readonly mounts: MountsStep & { recover?(all: ContainerRecord[]): Promise<void> }) {}

  async prepare(d: IsolatorDraft): Promise<void> {
    const wants = (d.storage.mounts?.length ?? 0) > 0 || (d.storage.volumesFrom?.length ?? 0) > 0 || d.imageVolumes.length > 0;
    if (!wants) return;
    d.mounts = await this.mounts.prepare(d.id, d.storage, { imageVolumes: d.imageVolumes, tmpfs: Object.keys(d.options.tmpfs ?? {}), lookup: d.lookup });
  }

  async start(c: ContainerRecord, launch: Launch): Promise<void> {
    if (!c.mounts?.length) return;
    launch.spec.mounts = [...(launch.spec.mounts ?? []), ...(await this.mounts.atStart(c, launch.rootfs))];
  }

  async recover(all: ContainerRecord[]): Promise<void> {
    await this.mounts.recover?.(all);
  }

  async cleanup(c: ContainerRecord, why: CleanupReason): Promise<void> {
    if (!c.mounts) return;
    if (why.kind === 'exit') this.mounts.atExit(c);
    else await this.mounts.atRemove(c, why.removeVolumes);
  }
}

/** Without a mounts isolator a container asking for mounts is refused, never started without them. */
export function refuseMounts(d: IsolatorDraft): void {
  if ((d.storage.mounts?.length ?? 0) > 0 || (d.storage.volumesFrom?.length ?? 0) > 0) {
    throw new WharfError('Unsupported', 'volumes and mounts are not implemented by this engine');
  }
}
