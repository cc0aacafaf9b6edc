import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import { registerScheduler } from './scheduler.js';
import { registerServer } from './server.js';
import { registerClusterCommands } from '../cli/cluster-commands.js';
import { registerImageCommands } from '../cli/images.js';
import { registerBuildCommand } from '../cli/build.js';
import { registerDaemon } from './daemon.js';
import { registerRolloutCommands } from '../cli/rollout.js';
import { registerRegistry } from './registry.js';
import { registerRegistryCommands } from '../cli/registry-commands.js';
import { registerVolumeCommands } from '../cli/volumes.js';
import { registerContainerCommands } from '../cli/containers.js';
import { registerNetworkCommands } from '../cli/networks.js';
import { hoistGlobalOptions } from './global-options.js';

// The one `wharf` program. Each area adds its subcommands with a register function;
// this file only wires them (composition root of the CLI).

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('wharf')
    .description('Wharf: a Docker-compatible container engine and a Kubernetes-style cluster manager')
    .version(pkg.version, '-v, --version')
    .showHelpAfterError()
    .enablePositionalOptions();
  registerServer(program);
  registerClusterCommands(program);
  registerImageCommands(program);
  registerBuildCommand(program);
  registerDaemon(program);
  registerScheduler(program);
  registerRolloutCommands(program);
  registerRegistry(program);
  registerRegistryCommands(program);
  registerVolumeCommands(program);
  registerContainerCommands(program);
  registerNetworkCommands(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  await program.parseAsync(hoistGlobalOptions(process.argv, process.env));
}

main().catch((err: unknown) => {
  process.stderr.write(`wharf: ${errorMessage(err)}\n`);
  process.exitCode = 1;
});
