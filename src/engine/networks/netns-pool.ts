import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import type { Runner } from './ip-driver.js';
import type { AttachRequest, NetworkManager } from './network-manager.js';
import type { Endpoint } from './types.js';

// A warm pool of network namespaces already attached to one network (the default bridge): a
// container start takes one (no process spawned unless it publishes ports, then one nft run) and
// the pool refills in the background. The OCI spec then joins the netns by path. Pool entries are
// endpoints owned by `pool:<name>`, so restore() keeps them like any live container's.

export interface NetnsPoolOptions {
  manager: NetworkManager;
  runner: Runner;
  logger: Logger;
  /** How many prepared namespaces to keep. */
  size: number;
  /** Network the pool's namespaces are attached to. */
  network: string;
  /** Name prefix in /run/netns (per daemon, so daemons never share entries). */
  prefix: string;
}

export interface Taken {
  netnsPath: string;
  netnsName: string;
  endpoint: Endpoint;
}

export class NetnsPool {
  private readonly ready: string[] = [];
  private filling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: NetnsPoolOptions) {}

  /** Names of namespaces ready to be taken. */
  get available(): number {
    return this.ready.length;
  }

  /** Re-adopts prepared namespaces left by a previous daemon run (their endpoints survive restore). */
  adopt(): void {
    for (const e of this.o.manager.endpoints()) {
      if (e.containerId.startsWith(`pool:${this.o.prefix}`) && existsSync(e.netnsPath)) {
        const name = e.containerId.slice('pool:'.length);
        if (!this.ready.includes(name)) this.ready.push(name);
      }
    }
  }

  /** Fills the pool up to its size (one fill at a time). */
  fill(): Promise<void> {
    if (!this.filling) {
      this.filling = this.fillLoop().finally(() => {
        this.filling = undefined;
      });
    }
    return this.filling;
  }

  private async fillLoop(): Promise<void> {
    while (!this.closed && this.ready.length < this.o.size) {
      const name = `${this.o.prefix}${randomBytes(6).toString('hex')}`;
      await this.o.runner(['ip', 'netns', 'add', name], { timeoutMs: 10_000 });
      try {
        await this.o.manager.attach(`pool:${name}`, `/run/netns/${name}`, { network: this.o.network, containerName: `pool-${name}` });
      } catch (err) {
        await this.o.runner(['ip', 'netns', 'del', name], { allowFailure: true });
        throw err;
      }
      this.ready.push(name);
    }
  }

  /**
   * Takes a prepared namespace for a container when the request fits (the pool's network, no
   * fixed address); undefined otherwise (the caller attaches the usual way). Refill starts in the
   * background.
   */
  async take(containerId: string, req: AttachRequest): Promise<Taken | undefined> {
    if (req.network !== this.o.network || req.ip) return undefined;
    const name = this.ready.shift();
    if (!name) {
      this.refillSoon();
      return undefined;
    }
    try {
      const endpoint = await this.o.manager.reassign(`pool:${name}`, containerId, req);
      return { netnsPath: `/run/netns/${name}`, netnsName: name, endpoint };
    } catch (err) {
      this.ready.unshift(name);
      throw err;
    } finally {
      this.refillSoon();
    }
  }

  /** Refill after the caller's continuation ran: spawning blocks the event loop for a moment. */
  private refillSoon(): void {
    setImmediate(() => {
      if (this.closed) return;
      this.fill().catch((err: unknown) => this.o.logger.warn({ err }, 'netns pool refill failed'));
    });
  }

  /** Frees a namespace taken from the pool once its container is gone: detach, delete the netns. */
  async release(containerId: string, netnsName: string): Promise<void> {
    await this.o.manager.detach(containerId);
    await this.o.runner(['ip', 'netns', 'del', netnsName], { allowFailure: true });
  }

  /** Stops refilling and removes the namespaces still waiting in the pool. */
  async drain(): Promise<void> {
    this.closed = true;
    await this.filling?.catch(() => undefined);
    for (const name of this.ready.splice(0)) {
      await this.o.manager.detach(`pool:${name}`).catch(() => undefined);
      await this.o.runner(['ip', 'netns', 'del', name], { allowFailure: true });
    }
  }
}
