import { describe, it, expect } from 'vitest';
import { WorkQueue, ExponentialRateLimiter } from './workqueue.js';
import { Controller } from './controller.js';
import { FakeClock, flush } from './fake-clock.js';
import { silentLogger } from '../../core/log.js';
import { conflict } from '../../core/errors.js';

describe('WorkQueue', () => {
  it('de-duplicates keys waiting in the queue', async () => {
    const q = new WorkQueue(new FakeClock());
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('hands a key to one worker at a time and requeues a key re-added while processing', async () => {
    const q = new WorkQueue(new FakeClock());
    q.add('a');
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a'); // changed while being processed
    expect(q.len()).toBe(0); // not handed to a second worker
    let second: string | undefined;
    void q.get().then((x) => (second = x));
    await flush();
    expect(second).toBeUndefined();
    q.done('a');
    await flush();
    expect(second).toBe('a');
  });

  it('backs off per key exponentially with a cap and forgets on success', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock, new ExponentialRateLimiter(10, 50));
    q.addRateLimited('a'); // 10
    q.addRateLimited('b'); // 10
    await clock.advance(9);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(2);
    await q.get();
    await q.get();
    q.done('a');
    q.done('b');
    expect(q.limiter.when('a')).toBe(20);
    expect(q.limiter.when('a')).toBe(40);
    expect(q.limiter.when('a')).toBe(50); // capped
    expect(q.limiter.when('a')).toBe(50);
    q.forget('a');
    expect(q.limiter.when('a')).toBe(10);
    expect(q.limiter.when('b')).toBe(20); // independent per key
  });

  it('keeps the earliest of several delayed adds of one key', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(clock);
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 200);
    await clock.advance(50);
    expect(q.len()).toBe(1);
    await q.get();
    q.done('a');
    await clock.advance(200);
    expect(q.len()).toBe(0);
  });

  it('shutDown releases waiting getters', async () => {
    const q = new WorkQueue(new FakeClock());
    const p = q.get();
    q.shutDown();
    expect(await p).toBeUndefined();
  });
});

describe('Controller', () => {
  it('keeps serving other keys while one key fails, retrying it with backoff', async () => {
    const clock = new FakeClock();
    const calls: string[] = [];
    const ctl = new Controller({
      name: 't',
      clock,
      log: silentLogger(),
      workers: 1,
      rateLimiter: new ExponentialRateLimiter(100, 1000),
      reconcile: (key) => {
        calls.push(key);
        if (key === 'bad') return Promise.reject(new Error('boom'));
        if (key === 'racy' && calls.filter((c) => c === 'racy').length === 1) return Promise.reject(conflict('stale'));
        return Promise.resolve();
      },
    });
    const ac = new AbortController();
    const run = ctl.run(ac.signal);
    ctl.enqueue('bad');
    ctl.enqueue('good');
    ctl.enqueue('racy');
    await flush();
    expect(calls).toEqual(['bad', 'good', 'racy']);
    await clock.advance(100); // first retry of bad and racy at 100ms
    expect(calls.filter((c) => c === 'bad')).toHaveLength(2);
    expect(calls.filter((c) => c === 'racy')).toHaveLength(2);
    await clock.advance(199);
    expect(calls.filter((c) => c === 'bad')).toHaveLength(2); // second retry waits 200ms
    await clock.advance(1);
    expect(calls.filter((c) => c === 'bad')).toHaveLength(3);
    ctl.enqueue('good');
    await flush();
    expect(calls.filter((c) => c === 'good')).toHaveLength(2);
    expect(ctl.stats.conflicts).toBe(1);
    expect(calls.filter((c) => c === 'racy')).toHaveLength(2); // succeeded, not retried again
    ac.abort();
    await run;
  });

  it('honours requeueAfter from reconcile', async () => {
    const clock = new FakeClock();
    let n = 0;
    const ctl = new Controller({
      name: 't',
      clock,
      log: silentLogger(),
      reconcile: () => {
        n++;
        return Promise.resolve(n < 3 ? { requeueAfterMs: 1000 } : undefined);
      },
    });
    const ac = new AbortController();
    const run = ctl.run(ac.signal);
    ctl.enqueue('k');
    await flush();
    expect(n).toBe(1);
    await clock.advance(1000);
    expect(n).toBe(2);
    await clock.advance(1000);
    expect(n).toBe(3);
    await clock.advance(5000);
    expect(n).toBe(3);
    ac.abort();
    await run;
  });
});
