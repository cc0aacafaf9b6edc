import type { ContainerRecord } from '../types.js';
import { checkResources, type HostResources } from '../resources.js';
import type { Isolator, IsolatorDraft, Launch } from '../isolator.js';

// cgroups and resources: limits are checked against what the host offers at create (warnings
// for what it cannot honour, errors for what is invalid), and every run gets its cgroup under
// the engine's parent (runc creates it from the spec and removes it when the container goes).

export class CgroupsIsolator implements Isolator {
  readonly name = 'cgroups';

  constructor(
    private readonly o: {
      /** The container's cgroup path (under the engine's cgroup parent). */
      pathOf: (id: string) => string;
      /** 1 or 2, read lazily. */
      version: () => Promise<1 | 2>;
      hostResources: () => HostResources;
    },
  ) {}

  validate(d: IsolatorDraft): void {
    const checked = checkResources(d.options.resources ?? {}, this.o.hostResources());
    if (Object.keys(checked.resources).length) d.options.resources = checked.resources;
    else delete d.options.resources;
    d.warnings.push(...checked.warnings);
  }

  async start(c: ContainerRecord, launch: Launch): Promise<void> {
    launch.spec.cgroupsPath = this.o.pathOf(c.id);
    launch.spec.cgroupV2 = (await this.o.version()) === 2;
  }
}
