import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { EngineDb } from '../../src/engine/db.js';
import { VolumeService } from '../../src/engine/volumes/volume-service.js';
import { parseMountFlag, parseVolumeFlag } from '../../src/engine/volumes/mount-spec.js';

// Local volumes on a real filesystem (/var/tmp) with real tmpfs and bind mounts.

let root = '';
let db: EngineDb;
let svc: VolumeService;

beforeAll(() => {
  root = mkdtempSync('/var/tmp/wharf-test-vol-');
  db = EngineDb.open({ dataRoot: root });
  svc = new VolumeService({ db, dataRoot: root, runner: run, clock: systemClock, logger: silentLogger() });
});

afterAll(async () => {
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp?.startsWith(root)) await run(['umount', '-l', mp], { allowFailure: true });
  }
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('local volumes', () => {
  it('creates, lists with filters, inspects, refuses removal in use, removes', async () => {
    const v = await svc.create({ name: 'data1', labels: { app: 'web' } });
    expect(v.mountpoint).toBe(join(root, 'volumes', 'data1', '_data'));
    expect(existsSync(v.mountpoint)).toBe(true);
    expect((await svc.create({ name: 'data1' })).created).toBe(v.created); // idempotent
    await svc.create({ name: 'other' });
    expect(svc.list({ label: ['app=web'] }).map((x) => x.name)).toEqual(['data1']);
    await svc.acquire('data1', 'ctr1');
    expect(svc.inspect('data1').users).toEqual(['ctr1']);
    expect(svc.list({ dangling: true }).map((x) => x.name)).toEqual(['other']);
    await expect(svc.remove('data1')).rejects.toMatchObject({ kind: 'Conflict' });
    await svc.release('data1', 'ctr1');
    await svc.remove('data1');
    expect(existsSync(v.mountpoint)).toBe(false);
    await expect(svc.remove('data1')).rejects.toMatchObject({ kind: 'NotFound' });
    await expect(svc.create({ name: 'xx', options: { type: 'tmpfs' } })).rejects.toThrow(/device/);
    await expect(svc.create({ name: 'xx', driver: 'nfs' })).rejects.toMatchObject({ kind: 'Unsupported' });
  });

  it('copies image content into a new volume once, sizes it, and skips symlinked paths', async () => {
    const rootfs = join(root, 'rootfs');
    mkdirSync(join(rootfs, 'srv', 'www', 'sub'), { recursive: true });
    writeFileSync(join(rootfs, 'srv', 'www', 'index.html'), 'hello');
    writeFileSync(join(rootfs, 'srv', 'www', 'sub', 'a.txt'), '12345');
    symlinkSync('/etc', join(rootfs, 'evil'));
    const p = await svc.prepareMounts('ctr2', [parseVolumeFlag('site:/srv/www'), parseVolumeFlag('/evil')], { rootfs });
    expect(p.mounts[0]).toMatchObject({ destination: '/srv/www', type: 'bind', source: svc.inspect('site').mountpoint });
    expect(readFileSync(join(svc.inspect('site').mountpoint, 'sub', 'a.txt'), 'utf8')).toBe('12345');
    expect(await svc.size('site')).toBe(10);
    // The anonymous volume at a symlinked image path stays empty: nothing of the host's /etc.
    expect(p.anonymous).toHaveLength(1);
    expect(await svc.size(p.anonymous[0]!)).toBe(0);
    // A second container sees the first one's data, no second copy-up.
    writeFileSync(join(svc.inspect('site').mountpoint, 'index.html'), 'changed');
    await svc.prepareMounts('ctr3', [parseVolumeFlag('site:/srv/www')], { rootfs });
    expect(readFileSync(join(svc.inspect('site').mountpoint, 'index.html'), 'utf8')).toBe('changed');
    // rm -v: anonymous volumes go with the container, named ones stay.
    await svc.releaseAll('ctr2', { removeAnonymous: true });
    expect(svc.list().map((v) => v.name)).not.toContain(p.anonymous[0]);
    expect(svc.inspect('site').users).toEqual(['ctr3']);
  });

  it('checks bind sources: --mount refuses a missing one, -v creates it', async () => {
    const missing = join(root, 'nope');
    await expect(svc.prepareMounts('c4', [parseMountFlag(`type=bind,src=${missing},dst=/x`)])).rejects.toThrow(/bind source path does not exist/);
    expect(existsSync(missing)).toBe(false);
    const p = await svc.prepareMounts('c4', [parseVolumeFlag(`${missing}:/x:ro`)]);
    expect(existsSync(missing)).toBe(true);
    expect(p.mounts[0]!.options).toContain('ro');
  });

  it('mounts tmpfs and bind-style volumes while in use and unmounts after', async () => {
    const t = await svc.create({ name: 'tmp1', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
    await svc.acquire('tmp1', 'c5');
    const info = () => readFileSync('/proc/self/mountinfo', 'utf8');
    expect(info()).toContain(` ${t.mountpoint} `);
    expect(info().split('\n').find((l) => l.includes(` ${t.mountpoint} `))).toContain('tmpfs');
    const dev = join(root, 'device');
    mkdirSync(dev);
    writeFileSync(join(dev, 'f'), 'from-device');
    const b = await svc.create({ name: 'bind1', options: { type: 'none', o: 'bind', device: dev } });
    await svc.acquire('bind1', 'c5');
    expect(readFileSync(join(b.mountpoint, 'f'), 'utf8')).toBe('from-device');
    await svc.releaseAll('c5');
    expect(info()).not.toContain(` ${t.mountpoint} `);
    expect(info()).not.toContain(` ${b.mountpoint} `);
    await expect(svc.create({ name: 'bind2', options: { type: 'none', o: 'bind', device: join(root, 'absent') } })).rejects.toThrow(/does not exist/);
  });

  it('prunes anonymous unused volumes by default, all unused with all', async () => {
    const anon = await svc.create({});
    await svc.create({ name: 'keepme' });
    const r1 = await svc.prune();
    expect(r1.deleted).toContain(anon.name);
    expect(svc.list().map((v) => v.name)).toContain('keepme');
    const r2 = await svc.prune({ all: true });
    expect(r2.deleted).toContain('keepme');
    expect(svc.list().map((v) => v.name)).toContain('site'); // still used by ctr3
  });
});
