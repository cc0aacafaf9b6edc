import type { Clock } from '../../src/core/clock.js';

// A real-time clock that a test can move forward ("warp"): now() is Date.now() plus an offset;
// sleeps end when the warped time reaches their deadline, re-checked at every warp. Lets
// controllers that talk to a real API server over real I/O see minutes pass in a moment.

export class WarpClock implements Clock {
  private offset = 0;
  private readonly sleepers = new Set<{ at: number; wake: () => void }>();

  now(): number {
    return Date.now() + this.offset;
  }

  /** Jumps so that now() is `t` (never backwards). */
  warpTo(t: number): void {
    this.offset = Math.max(this.offset, t - Date.now());
    for (const s of [...this.sleepers]) if (s.at <= this.now()) s.wake();
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      let timer: NodeJS.Timeout;
      const entry = {
        at: this.now() + Math.max(0, ms),
        wake: () => {
          clearTimeout(timer);
          this.sleepers.delete(entry);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.sleepers.delete(entry);
        reject(signal!.reason as Error);
      };
      const arm = () => {
        timer = setTimeout(() => (this.now() >= entry.at ? entry.wake() : arm()), Math.max(1, Math.min(entry.at - this.now(), 2_147_000_000)));
      };
      this.sleepers.add(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      arm();
    });
  }
}
