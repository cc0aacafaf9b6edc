import { describe, expect, it } from 'vitest';
import { ago, formatTable, humanDuration, humanSize, shortImageId, splitRepoTag } from './output.js';
import { clientErrorMessage, parseClientHost, resolveHost } from './client.js';
import { filtersFromFlags } from './images.js';

describe('client output', () => {
  it('pads columns like Docker tabwriter (min 10, padding 3)', () => {
    expect(formatTable(['REPOSITORY', 'TAG', 'SIZE'], [['busybox', 'latest', '1.98MB']])).toBe(
      'REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB\n',
    );
  });

  it('formats sizes and ages like go-units', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(1_982_286)).toBe('1.98MB');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(4_260_000_000)).toBe('4.26GB');
    expect(humanDuration(30_000)).toBe('30 seconds');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(ago(1000, 1000 * 1000 + 2 * 3_600_000)).toBe('2 hours ago');
  });

  it('splits references for the REPOSITORY/TAG columns', () => {
    expect(splitRepoTag('busybox:latest')).toEqual(['busybox', 'latest']);
    expect(splitRepoTag('localhost:5000/a/b')).toEqual(['localhost:5000/a/b', '<none>']);
    expect(splitRepoTag('localhost:5000/a/b:1')).toEqual(['localhost:5000/a/b', '1']);
    expect(splitRepoTag(`x@sha256:${'a'.repeat(64)}`)).toEqual(['x', '<none>']);
    expect(shortImageId(`sha256:${'ab'.repeat(32)}`)).toBe('abababababab');
  });

  it('resolves the host from -H, DOCKER_HOST, then the default socket', () => {
    expect(resolveHost('unix:///a.sock', { DOCKER_HOST: 'unix:///b.sock' })).toBe('unix:///a.sock');
    expect(resolveHost(undefined, { DOCKER_HOST: 'unix:///b.sock' })).toBe('unix:///b.sock');
    expect(resolveHost(undefined, {})).toBe('unix:///run/wharf/wharf.sock');
    expect(parseClientHost('unix:///x.sock')).toEqual({ socketPath: '/x.sock' });
    expect(parseClientHost('tcp://127.0.0.1:2376')).toEqual({ protocol: 'http', host: '127.0.0.1', port: 2376 });
    expect(() => parseClientHost('ftp://x')).toThrow(/invalid host/);
  });

  it('prints daemon errors the Docker way', () => {
    expect(clientErrorMessage({ statusCode: 404, json: { message: 'No such image: x' } })).toBe('Error response from daemon: No such image: x');
    expect(clientErrorMessage({ code: 'ENOENT' }, 'unix:///nope.sock')).toMatch(/^Cannot connect to the Wharf daemon at unix:\/\/\/nope\.sock/);
  });

  it('parses --filter flags and refuses malformed ones', () => {
    expect(filtersFromFlags(['dangling=true', 'label=a=b', 'label=c'])).toEqual({ dangling: ['true'], label: ['a=b', 'c'] });
    expect(() => filtersFromFlags(['nokey'])).toThrow(/bad format of filter/);
  });
});
