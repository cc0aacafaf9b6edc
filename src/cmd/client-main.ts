import { Command } from 'commander';
import { errorMessage } from '../core/errors.js';
import { CONTAINER_COMMANDS, registerContainerCommands, startNamesContainers } from '../cli/containers.js';

// The entry point of bin/wharf. Docker-style container commands (`wharf ps`, `wharf run`, …)
// are parsed by a small program that loads only the client code, so they start fast; every
// other command (and `wharf start` without container names: the daemon) goes to main.ts,
// the full program.

const args = process.argv.slice(2);
const first = args[0];
const fast = first !== undefined && (CONTAINER_COMMANDS as readonly string[]).includes(first) && (first !== 'start' || startNamesContainers(args.slice(1)));

if (fast) {
  const program = new Command('wharf').description('Wharf container commands').enablePositionalOptions();
  registerContainerCommands(program);
  program.parseAsync(process.argv).catch((err: unknown) => {
    process.stderr.write(`wharf: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
} else {
  await import('./main.js');
}
