import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../core/clock.js';
import { invalid } from '../core/errors.js';
import type { Role } from '../cluster/apiserver/tokens.js';

// `wharf server` (the control plane) and `wharf token list|create|revoke` (its bearer tokens).
// Heavy modules (store backends, API server, scheduler, controllers) load only when the command runs.

const pkgVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface ServerFlags {
  dataRoot: string;
  listen: string;
  datastore?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  serviceCidr?: string;
  disableScheduler?: boolean;
  controllers: boolean;
  schedulerConfig?: string;
  leaderElect: boolean;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  controllerList?: string;
}

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('Run the cluster control plane (API server) on SQLite (default) or etcd')
    .option('--data-root <dir>', 'state directory (tokens, admin.yaml, pki/, cluster.db)', '/var/lib/wharf')
    .option('--listen <host:port>', 'address of the API (HTTPS; the CA is DATA_ROOT/pki/ca.crt, also in admin.yaml)', '127.0.0.1:6443')
    .option('--datastore <url>', 'sqlite:///path/cluster.db (default: DATA_ROOT/cluster.db) or etcd://h1:p1,h2:p2')
    .option('--tls-cert-file <file>', 'serving certificate (PEM) instead of a generated one')
    .option('--tls-key-file <file>', 'key of --tls-cert-file (PEM)')
    .option('--service-cidr <cidr>', 'range of Service ClusterIPs', '10.96.0.0/16')
    .option('--disable-scheduler', 'do not run the scheduler in this process (run `wharf scheduler` elsewhere)')
    .option('--no-controllers', 'do not run the controller manager (Deployments, Jobs, Workflows, GC, node lifecycle)')
    .option('--controller-list <list>', 'controllers to run, e.g. "*,-cronjob" (names: replicaset, deployment, job, workflow, cronjob, daemonset, node-lifecycle, garbage-collector, namespace)')
    .option('--scheduler-config <file>', 'KubeSchedulerConfiguration YAML for the scheduler in this process')
    .option('--no-leader-elect', 'run the scheduler and controllers without leader election (only with a single server)')
    .option('--leader-elect-lease-duration <d>', 'leader election: how long a leader holds the Lease without renewing', '15s')
    .option('--leader-elect-renew-deadline <d>', 'leader election: a leader that cannot renew for this long stops acting', '10s')
    .option('--leader-elect-retry-period <d>', 'leader election: interval of renewals and attempts', '2s')
    .action(async (flags: ServerFlags) => {
      const { parseDuration } = await import('../cluster/scheduler/config.js');
      const { CONTROLLER_NAMES } = await import('../cluster/controllers/manager.js');
      const { loadSchedulerConfig } = await import('./scheduler.js');
      const lease = {
        leaseDurationMs: parseDuration(flags.leaderElectLeaseDuration, '--leader-elect-lease-duration'),
        renewDeadlineMs: parseDuration(flags.leaderElectRenewDeadline, '--leader-elect-renew-deadline'),
        retryPeriodMs: parseDuration(flags.leaderElectRetryPeriod, '--leader-elect-retry-period'),
      };
      if (!(lease.renewDeadlineMs < lease.leaseDurationMs) || !(lease.retryPeriodMs < lease.renewDeadlineMs)) {
        throw invalid('leader election: need retry period < renew deadline < lease duration');
      }
      const controllerList = flags.controllerList?.split(',').map((x) => x.trim()).filter(Boolean);
      for (const c of controllerList ?? []) {
        const n = c.replace(/^-/, '');
        if (n !== '*' && !(CONTROLLER_NAMES as readonly string[]).includes(n)) throw invalid(`--controller-list: unknown controller ${JSON.stringify(n)} (known: ${CONTROLLER_NAMES.join(', ')})`);
      }
      const schedulerConfig = flags.schedulerConfig ? loadSchedulerConfig(flags.schedulerConfig) : undefined;
      const { createLogger } = await import('../core/log.js');
      const { openStore } = await import('../store/open-store.js');
      const { serveApi } = await import('../cluster/apiserver/serve.js');
      const { startInProcessScheduler } = await import('./scheduler.js');
      const { startControllerManagerHttp } = await import('../cluster/controllers/manager.js');
      const logger = createLogger({ name: 'wharf-server' });
      const datastore = flags.datastore ?? `sqlite://${join(flags.dataRoot, 'cluster.db')}`;
      const store = await openStore(datastore, { logger, clock: systemClock });
      const running = await serveApi({
        dataRoot: flags.dataRoot,
        listen: flags.listen,
        store,
        clock: systemClock,
        logger,
        version: pkgVersion(),
        ...(flags.tlsCertFile ? { tlsCertFile: flags.tlsCertFile } : {}),
        ...(flags.tlsKeyFile ? { tlsKeyFile: flags.tlsKeyFile } : {}),
        ...(flags.serviceCidr ? { serviceCidr: flags.serviceCidr } : {}),
      });
      const scheduler =
        flags.disableScheduler === true
          ? null
          : startInProcessScheduler({
              url: running.url,
              token: running.adminToken,
              caPem: running.caPem,
              logger,
              ...(schedulerConfig ? { config: schedulerConfig } : {}),
              ...(flags.leaderElect ? { leaderElection: lease } : {}),
            });
      const controllers = flags.controllers
        ? startControllerManagerHttp(
            { server: running.url, token: running.adminToken, caPem: running.caPem },
            { clock: systemClock, log: logger, leaderElection: flags.leaderElect, ...lease, ...(controllerList ? { controllers: controllerList } : {}) },
          )
        : undefined;
      process.stdout.write(`wharf server: listening on ${running.url} (datastore ${datastore.replace(/\/\/[^@/]*@/, '//')}; config ${join(flags.dataRoot, 'admin.yaml')})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      logger.info('shutting down');
      await scheduler?.stop();
      await controllers?.stop();
      await running.close();
      await store.close();
    });

  const token = program.command('token').description('Manage the API server bearer tokens (DATA_ROOT/tokens.json; the server reloads it)');
  const file = async (dataRoot: string) => new (await import('../cluster/apiserver/tokens.js')).TokenFileStore(join(dataRoot, 'tokens.json'), systemClock);
  token
    .command('list')
    .option('--data-root <dir>', 'state directory of the server', '/var/lib/wharf')
    .action(async (f: { dataRoot: string }) => {
      const rows = (await file(f.dataRoot)).list();
      process.stdout.write(`${'ID'.padEnd(10)}${'NAME'.padEnd(32)}${'ROLE'.padEnd(8)}CREATED\n`);
      for (const t of rows) process.stdout.write(`${t.id.padEnd(10)}${t.name.padEnd(32)}${t.role.padEnd(8)}${t.created}\n`);
    });
  token
    .command('create')
    .argument('<name>', 'a name for the token')
    .option('--role <role>', 'admin | node (node: what an agent needs)', 'admin')
    .option('--data-root <dir>', 'state directory of the server', '/var/lib/wharf')
    .action(async (name: string, f: { dataRoot: string; role: string }) => {
      const { token: t } = (await file(f.dataRoot)).create(name, f.role as Role);
      process.stdout.write(`${t}\n`);
    });
  token
    .command('revoke')
    .argument('<id-or-name>')
    .option('--data-root <dir>', 'state directory of the server', '/var/lib/wharf')
    .action(async (idOrName: string, f: { dataRoot: string }) => {
      const t = (await file(f.dataRoot)).revoke(idOrName);
      process.stdout.write(`revoked ${t.id} (${t.name})\n`);
    });
}
