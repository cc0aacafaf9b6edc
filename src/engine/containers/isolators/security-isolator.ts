import type { Isolator, Launch } from '../isolator.js';

// seccomp and capabilities: the host's bounding set (what "all capabilities" means for a
// privileged container) and its hard rlimits (ulimits are clamped to them) join the spec; the
// default seccomp profile, cap-add/drop and no-new-privileges are applied by buildSpec from them.

export class SecurityIsolator implements Isolator {
  readonly name = 'security';

  constructor(
    private readonly host: {
      capabilities: readonly string[];
      limits: Record<string, { soft: number; hard: number }>;
    },
  ) {}

  async start(_c: unknown, launch: Launch): Promise<void> {
    launch.spec.hostCapabilities = this.host.capabilities;
    launch.spec.hostLimits = this.host.limits;
  }
}
