import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { isWharfError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import { LOCAL_PATH_FINALIZER } from '../../apis/storage-v1.js';
import { pvNodeNames } from './pod-volumes.js';

// The node half of reclaimPolicy Delete for Wharf's local provisioner: the PersistentVolume
// controller deletes a released PV, whose `wharf.dev/local-path-cleanup` finalizer keeps it
// until the agent of the node that holds the directory removed it. The agent calls reapOnce()
// periodically (or on PV watch events).


type Obj = Record<string, any>;

export interface PersistentVolumeWriter {
  list(): Promise<{ items: Obj[] }>;
  update(pv: Obj): Promise<Obj>;
}

export class LocalPathReaper {
  constructor(
    private readonly pvs: PersistentVolumeWriter,
    private readonly nodeName: string,
    private readonly log: Logger,
  ) {}

  /** Removes the directories of this node's deleted local PVs and releases their finalizer; the names done. */
  async reapOnce(): Promise<string[]> {
    const done: string[] = [];
    for (const pv of (await this.pvs.list()).items) {
      if (!pv.metadata?.deletionTimestamp || !(pv.metadata.finalizers as string[] | undefined)?.includes(LOCAL_PATH_FINALIZER)) continue;
      if (!(pvNodeNames(pv) ?? []).includes(this.nodeName)) continue;
      const path = String(pv.spec?.local?.path ?? '');
      // Only a directory the provisioner named (pvc-<uid>_ns_name) is ever removed.
      if (!path.startsWith('/') || !basename(path).startsWith(`${String(pv.metadata.name)}_`)) {
        this.log.warn({ pv: pv.metadata.name, path }, 'not removing a local volume path the provisioner did not name');
      } else await rm(path, { recursive: true, force: true });
      try {
        await this.pvs.update({ ...pv, metadata: { ...pv.metadata, finalizers: (pv.metadata.finalizers as string[]).filter((f) => f !== LOCAL_PATH_FINALIZER) } });
        done.push(String(pv.metadata.name));
      } catch (err) {
        if (!isWharfError(err, 'NotFound') && !isWharfError(err, 'Conflict')) throw err;
      }
    }
    return done;
  }
}
