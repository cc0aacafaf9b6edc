import { describe, expect, it } from 'vitest';
import { SecurityIsolator } from './security-isolator.js';
import { launch, record } from './test-fixtures.js';

describe('SecurityIsolator', () => {
  it("gives the spec the host's bounding set and hard rlimits", async () => {
    const iso = new SecurityIsolator({ capabilities: ['CAP_CHOWN', 'CAP_KILL'], limits: { nofile: { soft: 1024, hard: 4096 } } });
    const l = launch();
    await iso.start(record(), l);
    expect(l.spec.hostCapabilities).toEqual(['CAP_CHOWN', 'CAP_KILL']);
    expect(l.spec.hostLimits).toEqual({ nofile: { soft: 1024, hard: 4096 } });
  });
});
