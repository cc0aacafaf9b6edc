// A throw-away "daemon" for the re-adoption test: creates and starts the containers
// described in argv[2] (JSON), prints READY, and waits to be killed with SIGKILL.
import { ConmonRuntime } from '../../src/engine/runtime/conmon-runtime.js';
import { silentLogger } from '../../src/core/log.js';
import type { OciSpec } from '../../src/engine/runtime/spec.js';

const job = JSON.parse(process.argv[2] ?? '{}') as { root: string; runtimeRoot: string; containers: { id: string; spec: OciSpec; start: boolean }[] };
const rt = new ConmonRuntime({ root: job.root, runtimeRoot: job.runtimeRoot, logger: silentLogger() });
for (const c of job.containers) {
  await rt.create(c.id, c.spec);
  if (c.start) await rt.start(c.id);
}
process.stdout.write('READY\n');
setInterval(() => undefined, 1000);
