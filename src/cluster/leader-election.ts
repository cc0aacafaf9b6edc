import type { Clock } from '../core/clock.js';
import { isWharfError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ResourceApi } from './client/resource-api.js';
import type { Lease } from './controllers/objects.js';

// Leader election through a coordination.k8s.io/v1 Lease, with client-go's rules
// (tools/leaderelection): a candidate takes the lease when it is free or when its holder
// has not renewed it for leaseDuration, measured on the candidate's own clock from the
// moment it last saw the lease change (so clock skew between servers does not matter);
// every write is a compare-and-swap on resourceVersion. The leader renews every
// retryPeriod; if it cannot renew for renewDeadline (< leaseDuration) it stops acting at
// once — the signal given to onStartedLeading aborts — before anyone else may take over.
// Used by the controller manager and the scheduler.

export interface LeaderElectionOptions {
  leases: ResourceApi<Lease>;
  namespace?: string;
  name: string;
  identity: string;
  clock: Clock;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Runs while leading; its signal aborts the moment leadership is lost or run() ends. */
  onStartedLeading(signal: AbortSignal): Promise<void> | void;
  onStoppedLeading?(): void;
  onNewLeader?(identity: string): void;
  /** On a clean stop, give the lease up so another candidate need not wait. Default true. */
  releaseOnCancel?: boolean;
}

const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export class LeaderElector {
  private leading = false;
  private observedRv: string | undefined;
  private observedAt = 0;
  private observedHolder: string | undefined;
  private readonly ns: string;
  private readonly duration: number;
  private readonly renewDeadline: number;
  private readonly retry: number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.ns = o.namespace ?? 'kube-system';
    this.duration = o.leaseDurationMs ?? 15_000;
    this.renewDeadline = o.renewDeadlineMs ?? 10_000;
    this.retry = o.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadline < this.duration)) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (!(this.retry < this.renewDeadline)) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns, leads, and campaigns again after a loss, until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // acquire
      while (!signal.aborted && !(await this.tryAcquireOrRenew())) await this.sleep(this.retry, signal);
      if (signal.aborted) break;
      this.leading = true;
      this.o.log.info({ lease: `${this.ns}/${this.o.name}`, identity: this.o.identity }, 'became leader');
      const lead = new AbortController();
      const stopLead = () => lead.abort(new Error('leadership lost'));
      signal.addEventListener('abort', stopLead, { once: true });
      const work = Promise.resolve()
        .then(() => this.o.onStartedLeading(lead.signal))
        .catch((err: unknown) => {
          if (!lead.signal.aborted) this.o.log.error({ err }, 'leader work failed');
        });
      // renew
      let lastRenew = this.o.clock.now();
      while (!signal.aborted) {
        await this.sleep(this.retry, signal);
        if (signal.aborted) break;
        if (await this.tryAcquireOrRenew(lastRenew + this.renewDeadline)) {
          lastRenew = this.o.clock.now();
          continue;
        }
        if (this.o.clock.now() >= lastRenew + this.renewDeadline || this.observedHolder !== this.o.identity) break;
      }
      this.leading = false;
      stopLead();
      signal.removeEventListener('abort', stopLead);
      this.o.log.warn({ lease: `${this.ns}/${this.o.name}`, identity: this.o.identity }, signal.aborted ? 'stopped leading' : 'leadership lost');
      this.o.onStoppedLeading?.();
      await work;
      if (signal.aborted && (this.o.releaseOnCancel ?? true)) await this.release();
    }
  }

  private async sleep(ms: number, signal: AbortSignal): Promise<void> {
    await this.o.clock.sleep(ms, signal).catch(() => undefined);
  }

  /** One attempt; true when this candidate holds the lease afterwards. */
  async tryAcquireOrRenew(deadline?: number): Promise<boolean> {
    const now = this.o.clock.now();
    const me = this.o.identity;
    let cur: Lease | undefined;
    try {
      cur = await this.o.leases.get(this.ns, this.o.name);
    } catch (err) {
      if (!isWharfError(err, 'NotFound')) {
        this.o.log.debug({ err }, 'leader election: get lease failed');
        return false;
      }
    }
    if (deadline !== undefined && this.o.clock.now() > deadline) return false;
    if (!cur) {
      try {
        const created = await this.o.leases.create({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.ns },
          spec: { holderIdentity: me, leaseDurationSeconds: Math.ceil(this.duration / 1000), acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 0 },
        });
        this.observe(created, this.o.clock.now());
        return true;
      } catch (err) {
        this.o.log.debug({ err }, 'leader election: create lease failed');
        return false;
      }
    }
    if (cur.metadata.resourceVersion !== this.observedRv) this.observe(cur, now);
    const holder = cur.spec?.holderIdentity ?? '';
    const durMs = (cur.spec?.leaseDurationSeconds ?? Math.ceil(this.duration / 1000)) * 1000;
    if (holder !== '' && holder !== me && this.observedAt + durMs > now) return false; // held by someone alive
    const spec = { ...(cur.spec ?? {}) };
    if (holder !== me) {
      spec.acquireTime = micro(now);
      spec.leaseTransitions = (spec.leaseTransitions ?? 0) + (holder !== '' ? 1 : 0);
    }
    spec.holderIdentity = me;
    spec.renewTime = micro(now);
    spec.leaseDurationSeconds = Math.ceil(this.duration / 1000);
    try {
      const updated = await this.o.leases.update({ ...cur, spec });
      this.observe(updated, this.o.clock.now());
      return true;
    } catch (err) {
      this.o.log.debug({ err }, 'leader election: update lease failed');
      return false;
    }
  }

  private observe(l: Lease, at: number): void {
    this.observedRv = l.metadata.resourceVersion;
    this.observedAt = at;
    const h = l.spec?.holderIdentity;
    if (h !== this.observedHolder) {
      this.observedHolder = h;
      if (h) this.o.onNewLeader?.(h);
    }
  }

  private async release(): Promise<void> {
    try {
      const cur = await this.o.leases.get(this.ns, this.o.name);
      if (cur.spec?.holderIdentity !== this.o.identity) return;
      await this.o.leases.update({ ...cur, spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(this.o.clock.now()) } });
    } catch {
      // best effort
    }
  }
}
