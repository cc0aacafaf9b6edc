import { describe, expect, it } from 'vitest';
import { parseHost } from './daemon.js';

describe('parseHost (dockerd -H)', () => {
  it('accepts unix:///abs paths and refuses tcp, relative and overlong paths', () => {
    expect(parseHost('unix:///run/wharf/wharf.sock')).toBe('/run/wharf/wharf.sock');
    expect(() => parseHost('tcp://0.0.0.0:2375')).toThrow(/not supported yet/);
    expect(() => parseHost('unix://rel.sock')).toThrow(/absolute/);
    expect(() => parseHost(`unix:///${'x'.repeat(120)}`)).toThrow(/107 bytes/);
    expect(() => parseHost('/plain/path')).toThrow(/expected unix/);
  });
});
