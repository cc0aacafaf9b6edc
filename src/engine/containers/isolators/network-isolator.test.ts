import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/log.js';
import type { ContainerNetworkHook } from '../network-hook.js';
import { NetworkIsolator, withSandbox } from './network-isolator.js';
import { draft, launch, record } from './test-fixtures.js';

const HOSTS = { destination: '/etc/hosts', source: '/d/hosts', readonly: true };
const RESOLV = { destination: '/etc/resolv.conf', source: '/d/resolv.conf', readonly: true };

describe('NetworkIsolator', () => {
  it('validates at create, joins the sandbox at start (user mounts win), tears down quietly', async () => {
    const calls: string[] = [];
    const hook: ContainerNetworkHook = {
      validate: (req, ctx) => {
        if (req?.mode === 'nope') throw new Error('network nope not found');
        calls.push(`validate ${ctx.id}`);
      },
      setup: async () => ({ net: { mode: 'path', path: '/run/netns/x' }, mounts: [HOSTS, RESOLV] }),
      teardown: async (id) => {
        calls.push(`teardown ${id}`);
        throw new Error('ip failed');
      },
    };
    const iso = new NetworkIsolator(hook, silentLogger());
    iso.validate(draft());
    expect(() => iso.validate(draft({ network: { mode: 'nope' } }))).toThrow(/not found/);
    const l = launch();
    l.spec.mounts = [{ destination: '/etc/resolv.conf', type: 'bind', source: '/mine', options: [] }];
    await iso.start(record(), l);
    expect(l.options.namespaces?.net).toEqual({ mode: 'path', path: '/run/netns/x' });
    expect(l.options.mounts).toEqual([HOSTS]);
    await expect(iso.cleanup(record())).resolves.toBeUndefined();
    expect(calls).toEqual(['validate c1', 'teardown c1']);
  });

  it('withSandbox keeps the options\' own mounts and tmpfs destinations', () => {
    const o = withSandbox({ mounts: [{ destination: '/etc/hosts/', source: '/h' }], tmpfs: { '/etc/resolv.conf': '' } }, { net: { mode: 'host' }, mounts: [HOSTS, RESOLV] }, []);
    expect(o.mounts?.map((m) => m.source)).toEqual(['/h']);
  });
});
