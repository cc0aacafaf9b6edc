import { describe, expect, it } from 'vitest';
import { FakeClock } from '../controllers/fake-clock.js';
import { SchedulingQueue } from './queue.js';

const signal = new AbortController().signal;

describe('scheduling queue', () => {
  it('pops the highest priority first, then the oldest', async () => {
    const q = new SchedulingQueue(new FakeClock());
    q.add('ns/low', 1);
    q.add('ns/high', 100);
    q.add('ns/low2', 1);
    expect([await q.pop(signal), await q.pop(signal), await q.pop(signal)]).toEqual(['ns/high', 'ns/low', 'ns/low2']);
  });

  it('keeps unschedulable pods until the cluster changes, then after their backoff', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock, { initialBackoffMs: 1000, maxUnschedulableMs: 60_000 });
    q.add('ns/p', 0);
    expect(await q.pop(signal)).toBe('ns/p');
    q.unschedulable('ns/p');
    q.tick();
    expect(q.state('ns/p')).toBe('unschedulable');
    q.moveAllToActive();
    expect(q.state('ns/p')).toBe('backoff'); // 1 s backoff after the first attempt
    await clock.advance(1000);
    q.tick();
    expect(q.state('ns/p')).toBe('active');
    expect(await q.pop(signal)).toBe('ns/p');
    q.unschedulable('ns/p');
    await clock.advance(60_000);
    q.tick();
    expect(q.state('ns/p')).toBe('active'); // periodic flush
  });

  it('a change during an attempt retries the pod after its backoff instead of parking it', async () => {
    const clock = new FakeClock();
    const q = new SchedulingQueue(clock, { initialBackoffMs: 10 });
    q.add('ns/p', 0);
    await q.pop(signal);
    q.moveAllToActive();
    q.unschedulable('ns/p');
    expect(q.state('ns/p')).toBe('backoff');
    q.delete('ns/p');
    expect(q.size).toBe(0);
  });
});
