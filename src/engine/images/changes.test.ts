import { describe, it, expect } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { parseChanges } from './changes.js';

describe('docker import --change', () => {
  it('applies exec and shell forms like a Dockerfile', () => {
    const c = parseChanges([
      'CMD echo "hi there"',
      'ENTRYPOINT ["/tini", "--"]',
      'ENV A=1 B="two words"',
      'ENV LEGACY some value',
      'LABEL "com.x"=y z=w',
      'EXPOSE 80 53/udp 8000-8001',
      'WORKDIR /app',
      'WORKDIR sub',
      'USER 1000:1000',
      'VOLUME ["/a", "/b"]',
      'STOPSIGNAL SIGINT',
    ]);
    expect(c.Cmd).toEqual(['/bin/sh', '-c', 'echo "hi there"']);
    expect(c.Entrypoint).toEqual(['/tini', '--']);
    expect(c.Env).toEqual(['A=1', 'B=two words', 'LEGACY=some value']);
    expect(c.Labels).toEqual({ 'com.x': 'y', z: 'w' });
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '8000-8001/tcp': {} });
    expect(c.WorkingDir).toBe('/app/sub');
    expect(c.User).toBe('1000:1000');
    expect(c.Volumes).toEqual({ '/a': {}, '/b': {} });
    expect(c.StopSignal).toBe('SIGINT');
  });

  it('overrides an earlier ENV of the same key', () => {
    expect(parseChanges(['ENV A=1', 'ENV A=2']).Env).toEqual(['A=2']);
  });

  for (const bad of ['RUN rm -rf /', 'EXPOSE http', 'ENV', 'WORKDIR', 'LABEL a="unterminated', 'CMD']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      let err: unknown;
      try {
        parseChanges([bad]);
      } catch (e) {
        err = e;
      }
      expect(isWharfError(err, 'InvalidArgument')).toBe(true);
    });
  }
});
