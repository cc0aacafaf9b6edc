import { inspect } from 'node:util';

// The one way tests wait for a condition: poll, never a fixed sleep. `f` is called until its
// result is truthy (that result is returned); a throw counts as "not yet" (so an `expect(...)`
// inside `f` works: end it with `return true`). At the deadline the error says what was awaited
// and carries the last error as its `cause` (vitest prints it), or shows the last value.
//
//   const id = await pollUntil('the container id', async () => (await d.docker(['ps', '-q'])).stdout.trim());
//   await pollUntil('the log line', async () => { expect(await logs()).toContain('ready'); return true; }, { timeoutMs: 20_000 });

export interface PollOptions {
  /** How long to keep trying. Default 30 s. */
  timeoutMs?: number;
  /** Pause between tries. Default 100 ms. */
  intervalMs?: number;
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export class PollTimeoutError extends Error {
  override name = 'PollTimeoutError';
}

export async function pollUntil<T>(what: string, f: () => T | Promise<T>, opts: PollOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const end = Date.now() + timeoutMs;
  let tries = 0;
  let lastErr: unknown;
  let lastValue: T | undefined;
  for (;;) {
    tries++;
    try {
      const v = await f();
      if (v) return v as Truthy<T>;
      lastValue = v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= end) break;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, end - Date.now()))));
  }
  const base = `timed out after ${timeoutMs} ms (${tries} tries) waiting for ${what}`;
  if (lastErr !== undefined) {
    throw new PollTimeoutError(`${base}: ${lastErr instanceof Error ? lastErr.message : inspect(lastErr)}`, { cause: lastErr });
  }
  throw new PollTimeoutError(`${base} (last result: ${inspect(lastValue, { depth: 3, breakLength: Infinity })})`);
}
