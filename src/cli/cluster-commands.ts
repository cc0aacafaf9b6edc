import type { Command } from 'commander';

// Registers the Kubernetes-style client commands (apply, get, describe, delete, api-resources).
// The implementation (cluster-cli.ts: schemas, HTTP client) loads only when one of them runs,
// so other `wharf` commands start fast.

const impl = () => import('./cluster-cli.js');

interface Flags {
  [k: string]: unknown;
}

function addConnOptions(cmd: Command, namespaced = true): Command {
  cmd
    .option('--config <file>', 'client config (admin.yaml format); default $WHARF_CONFIG, then ~/.wharf/config')
    .option('--server <url>', 'API server URL (overrides the config)')
    .option('--token <token>', 'bearer token (overrides the config)')
    .option('--certificate-authority <file>', 'CA certificate (PEM) of the API server (overrides the config)');
  if (namespaced) cmd.option('-n, --namespace <ns>', 'namespace');
  return cmd;
}

export function registerClusterCommands(program: Command): void {
  // `wharf get … | head`: a closed pipe ends the command quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const collect = (v: string, prev: string[] = []) => [...prev, v];

  addConnOptions(program.command('apply').description('Create or update cluster objects from manifests (YAML or JSON, multi-document)'))
    .requiredOption('-f, --filename <path>', 'file, directory or - for stdin (repeatable)', collect)
    .option('--dry-run <mode>', 'server: validate and default on the server without storing')
    .action(async (f: Flags & { filename: string[]; dryRun?: string; namespace?: string }) => {
      const m = await impl();
      await m.withClient(f, async (c, defaultNs, io) => {
        if (f.dryRun !== undefined && f.dryRun !== 'server' && f.dryRun !== 'none') {
          io.err('error: --dry-run must be "server" or "none" (client-side dry run is not supported)\n');
          return false;
        }
        return m.applyManifests(c, f.filename, { ...(f.namespace ? { namespace: f.namespace } : {}), defaultNamespace: defaultNs, dryRun: f.dryRun === 'server' }, io);
      });
    });

  addConnOptions(program.command('get').description('List or show cluster objects (kubectl-like)'))
    .argument('<args...>', 'TYPE[,TYPE] [NAME...] or TYPE/NAME...')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('-l, --selector <sel>', 'label selector (=, ==, !=, in, notin, key, !key)')
    .option('--field-selector <sel>', 'field selector (metadata.name, metadata.namespace, spec.nodeName, status.phase, …)')
    .option('-o, --output <fmt>', 'wide | yaml | json | name | jsonpath=TEMPLATE')
    .option('-w, --watch', 'after listing, watch for changes')
    .action(async (args: string[], f: Flags) => {
      const m = await impl();
      await m.withClient(f, (c, ns, io) => m.getCommand(c, args, f, ns, io));
    });

  addConnOptions(program.command('describe').description('Show details of cluster objects and their events'))
    .argument('<args...>', 'TYPE [NAME...] or TYPE/NAME')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('-l, --selector <sel>', 'label selector')
    .action(async (args: string[], f: Flags) => {
      const m = await impl();
      await m.withClient(f, (c, ns, io) => m.describeCommand(c, args, f, ns, io));
    });

  addConnOptions(program.command('delete').description('Delete cluster objects by file, by name, or by label selector'))
    .argument('[args...]', 'TYPE NAME... or TYPE/NAME...')
    .option('-f, --filename <path>', 'file, directory or - (repeatable)', collect)
    .option('-l, --selector <sel>', 'label selector')
    .option('--all', 'every object of the type in the namespace')
    .option('-A, --all-namespaces', 'with -l/--all: in every namespace')
    .option('--cascade <mode>', 'background | foreground | orphan', 'background')
    .option('--grace-period <seconds>', 'seconds a pod gets to stop (0: immediately)')
    .option('--now', 'same as --grace-period=1')
    .option('--ignore-not-found', 'a missing object is not an error')
    .option('--dry-run <mode>', 'server: check without deleting')
    .action(async (args: string[], f: Flags) => {
      const m = await impl();
      await m.withClient(f, (c, ns, io) => m.deleteCommand(c, args, f, ns, io));
    });

  program
    .command('api-resources')
    .description('The resource types the cluster API serves')
    .action(async () => {
      const m = await impl();
      m.apiResources(m.stdio);
    });
}
