import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { EngineDb } from '../../src/engine/db.js';
import { VolumeService } from '../../src/engine/volumes/volume-service.js';
import { parseMountFlag, parseVolumeFlag } from '../../src/engine/volumes/mount-spec.js';
import { ContainerMounts } from '../../src/engine/containers/container-mounts.js';
import type { ContainerRecord } from '../../src/engine/containers/types.js';

// The containers engine's mounts step over a real VolumeService on /var/tmp: what create, start
// and remove do with volumes, binds, the image's VOLUMEs and --volumes-from.

let root = '';
let db: EngineDb;
let volumes: VolumeService;
let mounts: ContainerMounts;
const events: string[] = [];
const records = new Map<string, ContainerRecord>();

beforeAll(() => {
  root = mkdtempSync('/var/tmp/wharf-test-cmounts-');
  db = EngineDb.open({ dataRoot: root });
  volumes = new VolumeService({ db, dataRoot: root, runner: run, clock: systemClock, logger: silentLogger(), onEvent: (a, n) => events.push(`${a} ${n}`) });
  mounts = new ContainerMounts({ volumes, logger: silentLogger(), onEvent: (a, n) => events.push(`${a} ${n}`) });
});

afterAll(() => {
  db?.close();
  rmSync(root, { recursive: true, force: true });
});

function record(id: string, mps: ContainerRecord['mounts']): ContainerRecord {
  const r = { id, name: id, mounts: mps } as ContainerRecord;
  records.set(id, r);
  return r;
}
const lookup = (ref: string) => {
  const r = records.get(ref);
  if (!r) throw new Error(`no ${ref}`);
  return r;
};

describe('container mounts step', () => {
  it("create: user mounts, the image's VOLUMEs not covered by them, parents first", async () => {
    const host = join(root, 'host');
    mkdirSync(host);
    const mps = await mounts.prepare('c1', { mounts: [parseVolumeFlag('/var/x/y'), parseVolumeFlag(`${host}:/var:ro`), parseVolumeFlag('named1:/data')] }, {
      imageVolumes: ['/data', '/cache/', '/run'],
      tmpfs: ['/run'],
      lookup,
    });
    expect(mps.map((m) => [m.type, m.destination, m.readOnly])).toEqual([
      ['bind', '/var', true],
      ['volume', '/data', false],
      ['volume', '/cache', false],
      ['volume', '/var/x/y', false],
    ]);
    expect(mps.find((m) => m.destination === '/data')).toMatchObject({ name: 'named1', mode: 'z', source: join(root, 'volumes', 'named1', '_data'), copyUp: true });
    expect(volumes.inspect('named1').users).toEqual(['c1']);
    expect(volumes.list().filter((v) => v.anonymous)).toHaveLength(2);
    record('c1', mps);
  });

  it('create: duplicate targets (also against --tmpfs) are refused and nothing is created', async () => {
    const before = volumes.list().length;
    await expect(mounts.prepare('c2', { mounts: [parseVolumeFlag('fresh1:/a'), parseVolumeFlag('/b')] }, { imageVolumes: [], tmpfs: ['/a'], lookup })).rejects.toThrow(/Duplicate mount point: \/a/);
    await expect(
      mounts.prepare('c2', { mounts: [parseVolumeFlag('fresh1:/a'), parseMountFlag(`type=bind,src=${join(root, 'absent')},dst=/x`)] }, { imageVolumes: [], tmpfs: [], lookup }),
    ).rejects.toThrow(/bind source path does not exist/);
    expect(volumes.list().length).toBe(before);
  });

  it('--volumes-from: volumes and binds of the source, :ro overrides, tmpfs not inherited', async () => {
    const src = record('c3', await mounts.prepare('c3', { mounts: [parseVolumeFlag('named2:/n'), parseMountFlag('type=tmpfs,dst=/tmp')] }, { imageVolumes: [], tmpfs: [], lookup }));
    const mps = await mounts.prepare('c4', { volumesFrom: [{ container: src.id, mode: 'ro' }] }, { imageVolumes: [], tmpfs: [], lookup });
    expect(mps.map((m) => [m.destination, m.readOnly, m.oci.options.includes('ro')])).toEqual([['/n', true, true]]);
    expect(volumes.inspect('named2').users.sort()).toEqual(['c3', 'c4']);
    record('c4', mps);
  });

  it('start: copies the image content into an empty volume once, emits mount events', async () => {
    const rootfs = join(root, 'rootfs');
    mkdirSync(join(rootfs, 'data'), { recursive: true });
    writeFileSync(join(rootfs, 'data', 'seed'), 'from-image');
    events.length = 0;
    const oci = await mounts.atStart(records.get('c1')!, rootfs);
    expect(oci.map((m) => m.destination)).toEqual(['/var', '/data', '/cache', '/var/x/y']);
    expect(readFileSync(join(root, 'volumes', 'named1', '_data', 'seed'), 'utf8')).toBe('from-image');
    writeFileSync(join(root, 'volumes', 'named1', '_data', 'seed'), 'changed');
    await mounts.atStart(records.get('c1')!, rootfs);
    expect(readFileSync(join(root, 'volumes', 'named1', '_data', 'seed'), 'utf8')).toBe('changed');
    expect(events.filter((e) => e === 'mount named1')).toHaveLength(2);
  });

  it('remove -v: anonymous volumes go, named ones stay; volumes still used elsewhere stay', async () => {
    const anon = volumes.list().filter((v) => v.anonymous).map((v) => v.name);
    await mounts.atRemove(records.get('c1')!, true);
    for (const a of anon) expect(existsSync(join(root, 'volumes', a))).toBe(false);
    expect(volumes.inspect('named1').users).toEqual([]);
    await mounts.atRemove(records.get('c3')!, true);
    expect(volumes.inspect('named2').users).toEqual(['c4']);
  });

  it('recover: users that are gone are dropped (their anonymous volumes removed), existing containers re-acquire', async () => {
    await volumes.acquire('named1', 'ghost');
    // A create that crashed after making its anonymous volume, before writing its record.
    const crashed = await mounts.prepare('ghost2', { mounts: [parseVolumeFlag('/lost')] }, { imageVolumes: [], tmpfs: [], lookup });
    const lost = crashed[0]!.name!;
    const keptAnon = await volumes.create({});
    await mounts.recover([records.get('c4')!]);
    expect(volumes.inspect('named1').users).toEqual([]);
    expect(volumes.inspect('named2').users).toEqual(['c4']);
    expect(volumes.list().map((v) => v.name)).not.toContain(lost);
    expect(volumes.list().map((v) => v.name)).toContain(keptAnon.name); // never used: left for prune
  });
});
