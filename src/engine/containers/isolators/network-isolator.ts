import { errorMessage } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import type { CreateOptions } from '../../runtime/spec.js';
import type { ContainerRecord } from '../types.js';
import type { ContainerNetworkHook, Sandbox } from '../network-hook.js';
import type { Isolator, IsolatorDraft, Launch } from '../isolator.js';

// Network: the request is checked at create; at every start the sandbox (netns, addresses,
// ports, /etc files) is set up and joins the spec; when a run ends or the container goes, its
// networking is freed (a failure there is logged, never thrown: the container's exit stands).

export class NetworkIsolator implements Isolator {
  readonly name = 'network';

  constructor(
    private readonly hook: ContainerNetworkHook,
    private readonly log: Logger,
  ) {}

  validate(d: IsolatorDraft): void {
    this.hook.validate(d.network, { id: d.id, name: d.name });
  }

  async start(c: ContainerRecord, launch: Launch): Promise<void> {
    const taken = (launch.spec.mounts ?? []).map((m) => m.destination);
    launch.options = withSandbox(launch.options, await this.hook.setup(c), taken);
  }

  async cleanup(c: ContainerRecord): Promise<void> {
    await this.hook.teardown(c.id).catch((e: unknown) => this.log.warn({ container: c.id, err: errorMessage(e) }, 'network teardown failed'));
  }
}

/** The sandbox's netns joins the options; its /etc files are mounted unless the user mounts those paths. */
export function withSandbox(o: CreateOptions, sb: Sandbox, otherDests: readonly string[]): CreateOptions {
  const taken = new Set([...(o.mounts ?? []).map((m) => m.destination), ...Object.keys(o.tmpfs ?? {}), ...otherDests].map((d) => d.replace(/\/+$/, '')));
  return { ...o, namespaces: { ...o.namespaces, net: sb.net }, mounts: [...(o.mounts ?? []), ...sb.mounts.filter((m) => !taken.has(m.destination))] };
}
