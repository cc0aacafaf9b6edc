import { describe, expect, it } from 'vitest';
import { PollTimeoutError, pollUntil } from './poll-until.js';

describe('pollUntil', () => {
  it('returns the first truthy result, trying again on falsy results and throws', async () => {
    let n = 0;
    const v = await pollUntil('the third try', () => {
      n++;
      if (n === 1) throw new Error('not yet');
      return n >= 3 ? `done at ${n}` : false;
    }, { intervalMs: 1 });
    expect(v).toBe('done at 3');
  });

  it('at the deadline rethrows the last error as the cause, naming what was awaited', async () => {
    const last = new Error('expected 1 to be 2');
    const err = await pollUntil('the answer', () => {
      throw last;
    }, { timeoutMs: 50, intervalMs: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PollTimeoutError);
    expect((err as Error).message).toMatch(/^timed out after 50 ms \(\d+ tries\) waiting for the answer: expected 1 to be 2$/);
    expect((err as Error).cause).toBe(last);
  });

  it('at the deadline without an error shows the last result', async () => {
    const err = (await pollUntil('a non-empty list', () => '', { timeoutMs: 20, intervalMs: 5 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/waiting for a non-empty list \(last result: ''\)$/);
    expect(err.cause).toBeUndefined();
  });

  it('a try that ends after the deadline still counts', async () => {
    const v = await pollUntil('slow', async () => {
      await new Promise((r) => setTimeout(r, 30));
      return 'late but there';
    }, { timeoutMs: 10, intervalMs: 1 });
    expect(v).toBe('late but there');
  });
});
