import { describe, expect, it } from 'vitest';
import { checkDuplicates, parseMountFlag, parseSize, parseVolumeFlag, toOciMount } from './mount-spec.js';

describe('-v parsing', () => {
  it('bind mounts with options', () => {
    const r = parseVolumeFlag('/host/data:/ctr/data:ro,z');
    expect(r).toEqual({ type: 'bind', source: '/host/data', target: '/ctr/data', readOnly: true, createSource: true, relabel: 'z' });
    expect(toOciMount(r)).toEqual({ destination: '/ctr/data', type: 'bind', source: '/host/data', options: ['rbind', 'ro', 'rprivate'] });
    expect(toOciMount(parseVolumeFlag('/h:/c:rshared'))).toMatchObject({ options: ['rbind', 'rw', 'rshared'] });
  });
  it('named and anonymous volumes', () => {
    expect(parseVolumeFlag('cache:/var/cache')).toEqual({ type: 'volume', name: 'cache', target: '/var/cache', readOnly: false, noCopy: false });
    expect(parseVolumeFlag('/data')).toEqual({ type: 'volume', name: '', target: '/data', readOnly: false, noCopy: false });
    expect(parseVolumeFlag('cache:/c:nocopy,ro')).toMatchObject({ noCopy: true, readOnly: true });
    expect(toOciMount(parseVolumeFlag('cache:/c'), '/var/lib/wharf/volumes/cache/_data')).toEqual({
      destination: '/c',
      type: 'bind',
      source: '/var/lib/wharf/volumes/cache/_data',
      options: ['rbind', 'rw', 'rprivate'],
    });
  });
  it('rejects relative container paths, bad modes, bad names', () => {
    expect(() => parseVolumeFlag('/h:ctr')).toThrow(/must be absolute/);
    expect(() => parseVolumeFlag('/h:/c:rx')).toThrow(/invalid mode "rx"/);
    expect(() => parseVolumeFlag('./rel:/c')).toThrow(/absolute path/);
    expect(() => parseVolumeFlag('b@d:/c')).toThrow(/invalid volume name/);
    expect(() => parseVolumeFlag('/h:/')).toThrow(/cannot mount over/);
    expect(() => parseVolumeFlag('vol:/c:rshared')).toThrow(/bind mounts only/);
    expect(() => parseVolumeFlag('a:b:c:d')).toThrow(/invalid volume specification/);
  });
});

describe('--mount parsing', () => {
  it('bind with propagation and readonly', () => {
    expect(parseMountFlag('type=bind,source=/srv,target=/app,readonly,bind-propagation=rslave')).toEqual({
      type: 'bind',
      source: '/srv',
      target: '/app',
      readOnly: true,
      createSource: false,
      propagation: 'rslave',
    });
  });
  it('volume with labels, options and quoting', () => {
    expect(parseMountFlag('type=volume,src=v1,dst=/d,volume-label=a=b,"volume-opt=o=size=10m,uid=1",volume-nocopy')).toEqual({
      type: 'volume',
      name: 'v1',
      target: '/d',
      readOnly: false,
      noCopy: true,
      labels: { a: 'b' },
      driverOptions: { o: 'size=10m,uid=1' },
    });
    expect(parseMountFlag('dst=/anon')).toMatchObject({ type: 'volume', name: '' });
  });
  it('tmpfs with size and mode', () => {
    const r = parseMountFlag('type=tmpfs,dst=/run/x,tmpfs-size=64m,tmpfs-mode=1770');
    expect(r).toEqual({ type: 'tmpfs', target: '/run/x', readOnly: false, sizeBytes: 64 * 1024 * 1024, mode: 0o1770 });
    expect(toOciMount(r)).toEqual({ destination: '/run/x', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', `size=${64 * 1024 * 1024}`, 'mode=1770'] });
  });
  it('rejects bad input', () => {
    expect(() => parseMountFlag('type=bind,dst=/x')).toThrow(/needs a source/);
    expect(() => parseMountFlag('type=bind,src=rel,dst=/x')).toThrow(/absolute path/);
    expect(() => parseMountFlag('type=nfs,dst=/x')).toThrow(/invalid mount type/);
    expect(() => parseMountFlag('type=tmpfs,src=/a,dst=/x')).toThrow(/no source/);
    expect(() => parseMountFlag('type=volume,dst=/x,bogus=1')).toThrow(/unexpected key "bogus"/);
    expect(() => parseMountFlag('type=volume,src=vv,dst=/x,volume-subpath=../etc')).toThrow(/volume-subpath/);
    expect(() => parseMountFlag('type=tmpfs,dst=/x,tmpfs-size=lots')).toThrow(/invalid size/);
  });
  it('sizes and duplicates', () => {
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('512')).toBe(512);
    expect(() => checkDuplicates([parseVolumeFlag('/a:/x'), parseMountFlag('type=tmpfs,dst=/x')])).toThrow(/Duplicate mount point: \/x/);
  });
});
