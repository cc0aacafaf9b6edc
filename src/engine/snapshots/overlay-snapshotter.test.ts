import { describe, expect, it } from 'vitest';
import { isWharfError } from '../../core/errors.js';
import { overlayMounts } from './overlay-snapshotter.js';

describe('overlayMounts', () => {
  it('describes a writable view over an upper and work dir', () => {
    expect(overlayMounts(['/l/top', '/l/base'], { upper: '/c/upper', work: '/c/work' })).toEqual([
      { type: 'overlay', source: 'overlay', options: ['lowerdir=/l/top:/l/base', 'upperdir=/c/upper', 'workdir=/c/work', 'index=off'] },
    ]);
  });

  it('describes a read-only view without one', () => {
    expect(overlayMounts(['/l/top', '/l/base'])).toEqual([{ type: 'overlay', source: 'overlay', options: ['ro', 'lowerdir=/l/top:/l/base'] }]);
  });

  it('refuses options longer than a page, naming the layer count', () => {
    const lower = Array.from({ length: 80 }, (_, i) => `/var/lib/wharf-test/layers/${String(i).padStart(64, '0')}`);
    let err: unknown;
    try {
      overlayMounts(lower);
    } catch (e) {
      err = e;
    }
    expect(isWharfError(err) && err.kind).toBe('Unsupported');
    expect((err as Error).message).toMatch(/80 layers/);
  });
});
