import { resolve } from 'node:path';

// `wharf --config FILE apply …`: the client config given before the subcommand, as kubectl takes
// `--kubeconfig` anywhere. Every cluster command reads $WHARF_CONFIG when it has no --config of its own,
// so a leading --config becomes that variable (a --config after the subcommand still wins).

export function hoistGlobalOptions(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const rest = argv.slice(2);
  let config: string | undefined;
  while (rest.length > 0) {
    const a = rest[0]!;
    if (a.startsWith('--config=')) {
      config = a.slice('--config='.length);
      rest.shift();
    } else if (a === '--config' && rest.length >= 2) {
      config = rest[1];
      rest.splice(0, 2);
    } else break;
  }
  if (config === undefined || rest.length === 0) return [...argv];
  env.WHARF_CONFIG = resolve(config);
  return [...argv.slice(0, 2), ...rest];
}
