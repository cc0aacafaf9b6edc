import { describe, it, expect } from 'vitest';
import { LeaderElector } from './leader-election.js';
import { MemoryCluster } from './controllers/memory-cluster.js';
import { FakeClock, flush } from './controllers/fake-clock.js';
import { silentLogger } from '../core/log.js';
import type { Lease } from './controllers/objects.js';
import type { ResourceApi } from './client/resource-api.js';

function candidate(id: string, leases: ResourceApi<Lease>, clock: FakeClock, log: string[]) {
  const ac = new AbortController();
  let signal: AbortSignal | undefined;
  const e = new LeaderElector({
    leases,
    name: 'test-lock',
    identity: id,
    clock,
    log: silentLogger(),
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    onStartedLeading: (s) => {
      signal = s;
      log.push(`${id} start`);
      return new Promise<void>((r) => s.addEventListener('abort', () => r(), { once: true }));
    },
    onStoppedLeading: () => log.push(`${id} stop`),
  });
  const run = e.run(ac.signal);
  return { e, ac, run, signal: () => signal };
}

describe('LeaderElector', () => {
  it('exactly one of two candidates leads; the other takes over within the lease duration after the leader dies', async () => {
    const clock = new FakeClock();
    const c = new MemoryCluster(clock);
    const leases = c.resource<Lease>('coordination.k8s.io/v1', 'Lease');
    const log: string[] = [];
    const a = candidate('a', leases, clock, log);
    await flush();
    const b = candidate('b', leases, clock, log);
    for (let i = 0; i < 10; i++) await clock.advance(1000);
    expect(a.e.isLeader()).toBe(true);
    expect(b.e.isLeader()).toBe(false);
    expect(log).toEqual(['a start']);
    // "kill -9" a: make its writes fail from now on, so it can no longer renew
    c.beforeWrite = (_verb, o) => {
      if (o.kind === 'Lease' && (o.spec as Lease['spec'])?.holderIdentity === 'a') throw new Error('a is dead');
    };
    const killedAt = clock.now();
    let tookOver = 0;
    for (let i = 0; i < 30 && !tookOver; i++) {
      await clock.advance(1000);
      if (b.e.isLeader()) tookOver = clock.now();
    }
    expect(tookOver).toBeGreaterThan(0);
    expect(tookOver - killedAt).toBeLessThanOrEqual(15_000 + 2_000); // lease duration + one retry period
    // a stopped acting at its renew deadline, before b started
    expect(a.signal()!.aborted).toBe(true);
    expect(log.indexOf('a stop')).toBeLessThan(log.indexOf('b start'));
    expect((await leases.get('kube-system', 'test-lock')).spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    a.ac.abort();
    b.ac.abort();
    await Promise.all([a.run, b.run]);
  });

  it('releases the lease on a clean stop so another candidate takes it at once', async () => {
    const clock = new FakeClock();
    const c = new MemoryCluster(clock);
    const leases = c.resource<Lease>('coordination.k8s.io/v1', 'Lease');
    const log: string[] = [];
    const a = candidate('a', leases, clock, log);
    await flush();
    const b = candidate('b', leases, clock, log);
    await clock.advance(1000);
    a.ac.abort();
    await a.run;
    await clock.advance(2000);
    expect(b.e.isLeader()).toBe(true);
    b.ac.abort();
    await b.run;
  });
});
