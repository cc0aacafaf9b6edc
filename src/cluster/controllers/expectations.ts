import type { Clock } from '../../core/clock.js';

// Controller expectations (client-go's ControllerExpectations): after a controller
// creates or deletes pods it expects to see those adds/deletes in its informer before
// it trusts the cache again; otherwise a quick second reconcile would create the same
// pods twice. Expectations expire after a timeout so a lost event cannot wedge a key.

interface Exp {
  adds: number;
  dels: number;
  at: number;
}

export class Expectations {
  private readonly m = new Map<string, Exp>();
  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = 60_000,
  ) {}

  expect(key: string, adds: number, dels: number): void {
    this.m.set(key, { adds, dels, at: this.clock.now() });
  }

  observedAdd(key: string): void {
    const e = this.m.get(key);
    if (e) e.adds--;
  }

  observedDelete(key: string): void {
    const e = this.m.get(key);
    if (e) e.dels--;
  }

  /** Reduce after a write that failed: it will never be observed. */
  lower(key: string, adds: number, dels: number): void {
    const e = this.m.get(key);
    if (!e) return;
    e.adds -= adds;
    e.dels -= dels;
  }

  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.dels <= 0) || this.clock.now() - e.at > this.ttlMs) {
      this.m.delete(key);
      return true;
    }
    return false;
  }

  delete(key: string): void {
    this.m.delete(key);
  }
}
