import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { WharfError } from '../../core/errors.js';

// Client configuration: the admin.yaml (kubeconfig) format written by `wharf server`.
// Lookup: --config FILE, else $WHARF_CONFIG, else ~/.wharf/config; --server/--token/--certificate-authority override.

export interface ClientConfig {
  server: string;
  token?: string;
  /** PEM of the CA that signed the server certificate. */
  caPem?: string;
  insecureSkipTlsVerify?: boolean;
  namespace?: string;
}

type Obj = Record<string, any>;

export function parseConfig(text: string, source: string): ClientConfig {
  let doc: Obj;
  try {
    doc = parseYaml(text) as Obj;
  } catch (e) {
    throw new WharfError('InvalidArgument', `${source}: not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new WharfError('InvalidArgument', `${source}: not a config file`);
  const ctxName = doc['current-context'] as string | undefined;
  const ctx = ((doc.contexts as Obj[] | undefined) ?? []).find((c) => c.name === ctxName)?.context ?? (doc.contexts as Obj[] | undefined)?.[0]?.context ?? {};
  const cluster = ((doc.clusters as Obj[] | undefined) ?? []).find((c) => c.name === ctx.cluster)?.cluster ?? (doc.clusters as Obj[] | undefined)?.[0]?.cluster;
  const user = ((doc.users as Obj[] | undefined) ?? []).find((u) => u.name === ctx.user)?.user ?? (doc.users as Obj[] | undefined)?.[0]?.user ?? {};
  if (!cluster?.server) throw new WharfError('InvalidArgument', `${source}: no cluster server URL`);
  const cfg: ClientConfig = { server: String(cluster.server) };
  if (user.token) cfg.token = String(user.token);
  if (user.tokenFile) cfg.token = readFileSync(String(user.tokenFile), 'utf8').trim();
  if (cluster['certificate-authority-data']) cfg.caPem = Buffer.from(String(cluster['certificate-authority-data']), 'base64').toString('utf8');
  if (cluster['certificate-authority']) cfg.caPem = readFileSync(String(cluster['certificate-authority']), 'utf8');
  if (cluster['insecure-skip-tls-verify']) cfg.insecureSkipTlsVerify = true;
  if (ctx.namespace) cfg.namespace = String(ctx.namespace);
  return cfg;
}

export function loadClientConfig(opts: { config?: string; server?: string; token?: string; certificateAuthority?: string; env?: NodeJS.ProcessEnv } = {}): ClientConfig {
  const env = opts.env ?? process.env;
  const file = opts.config ?? env.WHARF_CONFIG ?? join(homedir(), '.wharf', 'config');
  let cfg: ClientConfig | undefined;
  if (existsSync(file)) cfg = parseConfig(readFileSync(file, 'utf8'), file);
  else if (opts.config !== undefined || env.WHARF_CONFIG) throw new WharfError('NotFound', `config file ${file} does not exist`);
  if (opts.server) cfg = { ...(cfg ?? {}), server: opts.server };
  if (opts.token) cfg = { ...(cfg ?? { server: '' }), token: opts.token };
  if (opts.certificateAuthority) {
    if (!existsSync(opts.certificateAuthority)) throw new WharfError('NotFound', `--certificate-authority ${opts.certificateAuthority}: no such file`);
    cfg = { ...(cfg ?? { server: '' }), caPem: readFileSync(opts.certificateAuthority, 'utf8') };
  }
  if (!cfg?.server) {
    throw new WharfError('InvalidArgument', `no cluster configured: pass --config FILE (the server's DATA_ROOT/admin.yaml), set WHARF_CONFIG, create ~/.wharf/config, or pass --server URL --token TOKEN`);
  }
  return cfg;
}
