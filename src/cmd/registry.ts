import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { WharfError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { hashPassword, parseUsersFile } from '../registry/server/auth.js';
import { RegistryServer } from '../registry/server/server.js';
import { RegistryStorage } from '../registry/server/storage.js';

// `wharf registry --listen ADDR --data-root DIR`, `wharf registry gc`, `wharf registry passwd`.

export const DEFAULT_REGISTRY_ROOT = '/var/lib/wharf-registry';

function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new WharfError('InvalidArgument', `--listen ${addr}: want HOST:PORT (e.g. 127.0.0.1:5000)`);
  const port = Number(m[3]);
  if (port > 65535) throw new WharfError('InvalidArgument', `--listen ${addr}: bad port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function parseDuration(s: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new WharfError('InvalidArgument', `bad duration ${s} (e.g. 90s, 10m, 1h)`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

export function registerRegistry(program: Command): void {
  const reg = program
    .command('registry')
    .description("run Wharf's image registry (OCI distribution API)")
    .option('--listen <addr>', 'HOST:PORT to listen on', '127.0.0.1:5000')
    .option('--data-root <dir>', 'storage directory', DEFAULT_REGISTRY_ROOT)
    .option('--users <file>', 'users file (YAML): enables token and basic authentication')
    .option('--realm <url>', 'token realm URL announced to clients (default http://<Host>/token)')
    .option('--gc-grace <duration>', 'age under which unreferenced blobs survive GC', '1h')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, chain allowed)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .action(async (o: { listen: string; dataRoot: string; users?: string; realm?: string; gcGrace: string; tlsCert?: string; tlsKey?: string }) => {
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new WharfError('InvalidArgument', '--tls-cert and --tls-key go together');
      const log = createLogger({ name: 'registry' });
      const { host, port } = parseListen(o.listen);
      const server = new RegistryServer({
        dataRoot: o.dataRoot,
        logger: log,
        ...(o.users ? { auth: parseUsersFile(readFileSync(o.users, 'utf8')) } : {}),
        ...(o.realm ? { realm: o.realm } : {}),
        gcGraceMs: parseDuration(o.gcGrace),
        ...(o.tlsCert && o.tlsKey ? { tls: { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } } : {}),
      });
      const addr = await server.listen(host, port);
      log.info({ address: `${addr.address}:${addr.port}`, dataRoot: o.dataRoot, auth: Boolean(o.users) }, 'registry listening');
      process.stdout.write(`listening on ${addr.address}:${addr.port}${o.tlsCert ? ' (https)' : ''}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await server.close();
    });
  reg
    .command('gc')
    .description('delete blobs that no manifest references')
    .option('--data-root <dir>', 'storage directory', DEFAULT_REGISTRY_ROOT)
    .option('--grace <duration>', 'keep unreferenced blobs younger than this', '1h')
    .action((o: { dataRoot: string; grace: string }) => {
      const r = new RegistryStorage(o.dataRoot).gc({ graceMs: parseDuration(o.grace) });
      for (const d of r.removed) process.stdout.write(`deleted ${d}\n`);
      process.stdout.write(`${r.removed.length} blobs deleted, ${r.bytes} bytes freed, ${r.kept} kept\n`);
    });
  reg
    .command('passwd')
    .description('print a scrypt password hash for a users file (reads the password from stdin)')
    .action(async () => {
      let s = '';
      for await (const c of process.stdin) s += (c as Buffer).toString('utf8');
      const pw = s.replace(/\r?\n$/, '');
      if (!pw) throw new WharfError('InvalidArgument', 'empty password on stdin');
      process.stdout.write(`${hashPassword(pw)}\n`);
    });
}
