import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../networks/ip-driver.js';
import type { EngineDb, Migration } from '../db.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import { conflict, invalid, notFound, WharfError, wrap } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import { checkDuplicates, checkVolumeName, toOciMount, type MountRequest, type OciMount } from './mount-spec.js';

// Local-driver volumes: DATA_ROOT/volumes/<name>/_data, metadata and users (container ids) in the
// engine DB. Volumes with `type`/`o`/`device` options (tmpfs, bind-style) are mounted on _data when
// their first user acquires them and unmounted when the last one releases them (Docker's local
// driver does the same).

export const ANON_LABEL = 'com.docker.volume.anonymous';

export interface VolumeRecord {
  name: string;
  driver: 'local';
  mountpoint: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  anonymous: boolean;
  /** Creation time, ms since the epoch. */
  created: number;
}

export interface VolumeInspect extends VolumeRecord {
  users: string[];
}

export interface VolumeFilters {
  name?: string[];
  label?: string[];
  driver?: string[];
  dangling?: boolean;
}

export const VOLUME_MIGRATIONS: readonly Migration[] = [
  {
    name: 'volumes and their users',
    up: (db) => {
      db.exec(`
        CREATE TABLE vol_volumes (name TEXT PRIMARY KEY, record TEXT NOT NULL);
        CREATE TABLE vol_users (name TEXT NOT NULL REFERENCES vol_volumes(name) ON DELETE CASCADE, container_id TEXT NOT NULL,
          PRIMARY KEY (name, container_id));
      `);
    },
  },
];

export interface VolumeServiceOptions {
  db: EngineDb;
  dataRoot: string;
  runner: Runner;
  clock: Clock;
  logger: Logger;
  /** Volume events (Docker's `create` and `destroy`; mount/unmount come from the containers engine). */
  onEvent?: (action: 'create' | 'destroy', name: string, attributes: Record<string, string>) => void;
}

export interface PreparedMounts {
  mounts: OciMount[];
  /** Volumes this call created anonymously (removed with the container on `rm -v`). */
  anonymous: string[];
  /** Volumes acquired for the container (release them when it stops). */
  volumes: string[];
  /** Per request (same order as `mounts`): the volume's name, undefined for binds and tmpfs. */
  names: (string | undefined)[];
}

export class VolumeService {
  private readonly root: string;

  constructor(private readonly o: VolumeServiceOptions) {
    o.db.migrate('volumes', VOLUME_MIGRATIONS);
    this.root = join(o.dataRoot, 'volumes');
  }

  private get(name: string): VolumeRecord | undefined {
    const row = this.o.db.sql.prepare('SELECT record FROM vol_volumes WHERE name = ?').get(name) as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as VolumeRecord) : undefined;
  }

  private users(name: string): string[] {
    return (this.o.db.sql.prepare('SELECT container_id FROM vol_users WHERE name = ?').all(name) as Array<{ container_id: string }>).map((r) => r.container_id);
  }

  /** Creates a volume; an existing one of the same name and driver is returned (Docker). */
  async create(req: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string> } = {}): Promise<VolumeRecord> {
    const driver = req.driver || 'local';
    if (driver !== 'local') throw new WharfError('Unsupported', `volume driver ${driver} is not supported (only local)`);
    const anonymous = !req.name;
    const name = req.name ? checkVolumeName(req.name) : randomId();
    const existing = this.get(name);
    if (existing) return existing;
    const options = { ...(req.options ?? {}) };
    for (const k of Object.keys(options)) if (!['type', 'o', 'device', 'size'].includes(k)) throw invalid(`invalid option key: ${JSON.stringify(k)}`);
    if ((options.type || options.o) && !options.device) throw invalid('missing required option: "device"');
    if (options.device && !options.type) throw invalid('missing required option: "type"');
    if (options.type === 'none' && /(^|,)bind(,|$)/.test(options.o ?? '') && options.device && !existsSync(options.device)) {
      throw invalid(`bind device ${options.device} does not exist`);
    }
    const dir = join(this.root, name);
    const rec: VolumeRecord = {
      name,
      driver: 'local',
      mountpoint: join(dir, '_data'),
      labels: { ...(req.labels ?? {}), ...(anonymous ? { [ANON_LABEL]: '' } : {}) },
      options,
      anonymous,
      created: this.o.clock.now(),
    };
    await mkdir(this.root, { recursive: true, mode: 0o701 });
    await mkdir(rec.mountpoint, { recursive: true, mode: 0o755 });
    try {
      this.o.db.sql.prepare('INSERT INTO vol_volumes (name, record) VALUES (?, ?)').run(name, JSON.stringify(rec));
    } catch (err) {
      // A concurrent create of the same name won the race: theirs is the volume (and the directory).
      const raced = this.get(name);
      if (raced) return raced;
      await rm(dir, { recursive: true, force: true });
      throw wrap(err, `create volume ${name}`);
    }
    this.o.onEvent?.('create', name, { driver: 'local' });
    return rec;
  }

  inspect(name: string): VolumeInspect {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return { ...v, users: this.users(name) };
  }

  list(filters: VolumeFilters = {}): VolumeRecord[] {
    const rows = this.o.db.sql.prepare('SELECT record FROM vol_volumes ORDER BY name').all() as Array<{ record: string }>;
    const used = new Set((this.o.db.sql.prepare('SELECT DISTINCT name FROM vol_users').all() as Array<{ name: string }>).map((r) => r.name));
    return rows
      .map((r) => JSON.parse(r.record) as VolumeRecord)
      .filter((v) => {
        if (filters.name?.length && !filters.name.some((n) => v.name.includes(n))) return false;
        if (filters.driver?.length && !filters.driver.includes(v.driver)) return false;
        if (filters.dangling !== undefined && used.has(v.name) === filters.dangling) return false;
        for (const l of filters.label ?? []) {
          const i = l.indexOf('=');
          const k = i < 0 ? l : l.slice(0, i);
          if (!(k in v.labels)) return false;
          if (i >= 0 && v.labels[k] !== l.slice(i + 1)) return false;
        }
        return true;
      });
  }

  /** Removes a volume; refused while a container uses it unless force. */
  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const v = this.get(name);
    if (!v) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length > 0 && !opts.force) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
    await this.unmountIfMounted(v);
    this.o.db.sql.prepare('DELETE FROM vol_volumes WHERE name = ?').run(name);
    await rm(join(this.root, name), { recursive: true, force: true });
    this.o.onEvent?.('destroy', name, { driver: 'local' });
  }

  /** Removes unused volumes: anonymous ones only unless `all` (Docker 23+). */
  async prune(opts: { all?: boolean; label?: string[] } = {}): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.list({ dangling: true, ...(opts.label ? { label: opts.label } : {}) })) {
      if (!opts.all && !v.anonymous) continue;
      space += await this.size(v.name).catch(() => 0);
      await this.remove(v.name);
      deleted.push(v.name);
    }
    return { deleted, spaceReclaimed: space };
  }

  /** Bytes used under _data (apparent size of regular files, symlinks not followed). */
  async size(name: string): Promise<number> {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    let total = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) total += (await lstat(p)).size;
      }
    };
    await walk(v.mountpoint);
    return total;
  }

  /** Registers a container as a user of the volume, mounting it first if it has mount options. */
  async acquire(name: string, containerId: string): Promise<VolumeRecord> {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    if (v.options.device) await this.mountIfNeeded(v);
    this.o.db.sql.prepare('INSERT OR IGNORE INTO vol_users (name, container_id) VALUES (?, ?)').run(name, containerId);
    return v;
  }

  async release(name: string, containerId: string): Promise<void> {
    this.o.db.sql.prepare('DELETE FROM vol_users WHERE name = ? AND container_id = ?').run(name, containerId);
    const v = this.get(name);
    if (v && this.users(name).length === 0) await this.unmountIfMounted(v);
  }

  /** Releases every volume a container uses; removes its anonymous ones when removeAnonymous (rm -v). */
  async releaseAll(containerId: string, opts: { removeAnonymous?: boolean } = {}): Promise<void> {
    const names = (this.o.db.sql.prepare('SELECT name FROM vol_users WHERE container_id = ?').all(containerId) as Array<{ name: string }>).map((r) => r.name);
    for (const n of names) {
      await this.release(n, containerId);
      const v = this.get(n);
      if (opts.removeAnonymous && v?.anonymous && this.users(n).length === 0) await this.remove(n);
    }
  }

  /**
   * Copies the image's content at containerPath into an empty volume (Docker's copy-up on first
   * use). Refuses to follow symlinks in the rootfs path (they could point outside it). Returns
   * whether anything was copied.
   */
  async copyUp(name: string, rootfs: string, containerPath: string): Promise<boolean> {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    if ((await readdir(v.mountpoint)).length > 0) return false;
    let p = rootfs;
    for (const part of containerPath.split('/').filter(Boolean)) {
      p = join(p, part);
      let st;
      try {
        st = await lstat(p);
      } catch {
        return false; // nothing in the image there
      }
      if (st.isSymbolicLink()) {
        this.o.logger.warn({ volume: name, path: containerPath }, 'copy-up skipped: the image path goes through a symlink');
        return false;
      }
    }
    if (!(await lstat(p)).isDirectory()) return false;
    if ((await readdir(p)).length === 0) return false;
    await this.o.runner(['cp', '-a', '--no-dereference', `${p}/.`, `${v.mountpoint}/`], { timeoutMs: 600_000 });
    return true;
  }

  /**
   * Turns a container's mount requests into OCI mounts: creates named/anonymous volumes as
   * needed, acquires them for the container, copies image content up (rootfs given, not nocopy),
   * checks bind sources (creating them for `-v`). On failure, releases what it acquired.
   */
  async prepareMounts(containerId: string, reqs: readonly MountRequest[], opts: { rootfs?: string } = {}): Promise<PreparedMounts> {
    checkDuplicates(reqs);
    // Everything that can be refused is checked before anything is created (bad input changes nothing).
    for (const r of reqs) {
      if (r.type === 'bind' && !r.createSource && !existsSync(r.source)) {
        throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${r.source}`);
      }
      if (r.type === 'volume' && r.driver && r.driver !== 'local') throw new WharfError('Unsupported', `volume driver ${r.driver} is not supported (only local)`);
    }
    const out: PreparedMounts = { mounts: [], anonymous: [], volumes: [], names: [] };
    const created: string[] = [];
    try {
      for (const r of reqs) {
        if (r.type === 'bind') {
          if (!existsSync(r.source)) await mkdir(r.source, { recursive: true, mode: 0o755 });
          out.mounts.push(toOciMount(r));
          out.names.push(undefined);
        } else if (r.type === 'volume') {
          const existed = r.name ? this.get(r.name) !== undefined : false;
          const v = await this.create({
            ...(r.name ? { name: r.name } : {}),
            ...(r.driver ? { driver: r.driver } : {}),
            ...(r.labels ? { labels: r.labels } : {}),
            ...(r.driverOptions ? { options: r.driverOptions } : {}),
          });
          if (!r.name) out.anonymous.push(v.name);
          else if (!existed) created.push(v.name);
          await this.acquire(v.name, containerId);
          out.volumes.push(v.name);
          if (!r.noCopy && opts.rootfs && (!existed || !r.name)) await this.copyUp(v.name, opts.rootfs, r.target);
          let src = v.mountpoint;
          if (r.subpath) {
            src = join(v.mountpoint, r.subpath);
            if (!existsSync(src)) throw invalid(`volume-subpath ${r.subpath} does not exist in volume ${v.name}`);
          }
          out.mounts.push(toOciMount(r, src));
          out.names.push(v.name);
        } else {
          out.mounts.push(toOciMount(r));
          out.names.push(undefined);
        }
      }
    } catch (err) {
      for (const n of out.volumes) await this.release(n, containerId).catch(() => undefined);
      for (const n of [...out.anonymous, ...created]) await this.remove(n).catch(() => undefined);
      throw err;
    }
    return out;
  }

  /** At daemon start: drops users that are gone and unmounts volumes nobody uses. */
  async restore(isAlive: (containerId: string) => boolean | Promise<boolean>): Promise<void> {
    const rows = this.o.db.sql.prepare('SELECT name, container_id FROM vol_users').all() as Array<{ name: string; container_id: string }>;
    for (const r of rows) if (!(await isAlive(r.container_id))) await this.release(r.name, r.container_id);
  }

  private async mounted(path: string): Promise<boolean> {
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    return info.split('\n').some((l) => l.split(' ')[4] === path);
  }

  private async mountIfNeeded(v: VolumeRecord): Promise<void> {
    if (await this.mounted(v.mountpoint)) return;
    const o = [v.options.o, v.options.size ? `size=${v.options.size}` : ''].filter(Boolean).join(',');
    const argv = ['mount', '-t', v.options.type ?? 'none', ...(o ? ['-o', o] : []), v.options.device!, v.mountpoint];
    try {
      await this.o.runner(argv, { timeoutMs: 30_000 });
    } catch (err) {
      throw wrap(err, `mount volume ${v.name}`);
    }
  }

  private async unmountIfMounted(v: VolumeRecord): Promise<void> {
    if (await this.mounted(v.mountpoint)) await this.o.runner(['umount', v.mountpoint], { timeoutMs: 30_000 });
  }
}
