// The snapshotter contract the containers code uses. It returns mount descriptions and never
// mounts by itself in `prepare`; `mount`/`unmount` are the separate step that does.

/** One mount, in the shape of an OCI runtime-spec mount / containerd mount. */
export interface Mount {
  type: string; // 'overlay' | 'bind'
  source: string; // 'overlay'
  options: string[]; // ['lowerdir=a:b', 'upperdir=…', 'workdir=…'] for overlay
}

export interface Snapshotter {
  /** Creates (idempotently) the container's upper/work dirs over the image's layers; returns the mounts. Cheap: no hashing, no tree walks. */
  prepare(containerId: string, imageId: string): Promise<Mount[]>;
  /** The mounts of an already prepared container (NotFound if none). */
  mounts(containerId: string): Promise<Mount[]>;
  /** Mounts `mounts` on `target` (a directory that exists). */
  mount(mounts: Mount[], target: string): Promise<void>;
  /** Unmounts `target` (no error if it is not mounted); `lazy` detaches a busy mount (`umount -l`). */
  unmount(target: string, opts?: { lazy?: boolean }): Promise<void>;
  /** Removes the container's upper/work dirs (idempotent). */
  remove(containerId: string): Promise<void>;
}
