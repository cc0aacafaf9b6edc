import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { isIP, type AddressInfo } from 'node:net';
import { stringify as toYaml } from 'yaml';
import { WharfError, isWharfError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { Store } from '../../store/store.js';
import { ApiServer } from './api-server.js';
import { TokenFileStore } from './tokens.js';
import { ensureServerPki } from './pki.js';
import { ensureKubeletClientCert } from './kubelet-client-cert.js';
import { resourceByKind } from '../apis/registry.js';

// Runs the API server: data root files (tokens, admin.token, admin.yaml, node-join.token, pki/),
// the built-in namespaces, and the HTTPS listener. Every listener is HTTPS, loopback too (as k3s):
// kubectl sends a bearer token only over TLS, so admin.yaml must name an https URL and the CA.

export interface ServeOptions {
  dataRoot: string;
  /** HOST:PORT; PORT 0 picks a free port. */
  listen: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  version: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  maxBodyBytes?: number;
  bookmarkIntervalMs?: number;
  /** Range of Service ClusterIPs. Default 10.96.0.0/16. */
  serviceCidr?: string;
}

export interface RunningApiServer {
  url: string;
  api: ApiServer;
  server: Server;
  /** PEM of the CA clients must trust (the generated DATA_ROOT/pki/ca.crt, or --tls-cert-file). */
  caPem: string;
  /** File holding caPem. */
  caFile: string;
  /** The cluster CA (DATA_ROOT/pki/ca.crt): nodes' streaming endpoints trust the API server's client certificate by it. */
  clusterCaPem: string;
  adminToken: string;
  close(): Promise<void>;
}

export const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new WharfError('InvalidArgument', `--listen ${JSON.stringify(listen)}: expected HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

function writeSecret(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

export async function serveApi(opts: ServeOptions): Promise<RunningApiServer> {
  const { host, port } = parseListen(opts.listen);
  mkdirSync(opts.dataRoot, { recursive: true, mode: 0o700 });
  const tokens = new TokenFileStore(join(opts.dataRoot, 'tokens.json'), opts.clock);
  const adminTokenPath = join(opts.dataRoot, 'admin.token');
  let adminToken: string;
  if (existsSync(adminTokenPath)) adminToken = readFileSync(adminTokenPath, 'utf8').trim();
  else {
    adminToken = tokens.create(`admin-${Date.now().toString(36)}`, 'admin').token;
    writeSecret(adminTokenPath, `${adminToken}\n`);
  }
  const joinPath = join(opts.dataRoot, 'node-join.token');
  if (!existsSync(joinPath)) writeSecret(joinPath, `${tokens.create(`node-join-${Date.now().toString(36)}`, 'node').token}\n`);

  // The serving PKI first (it makes the CA), then the kubelet-client certificate from the same CA.
  const servingPki = opts.tlsCertFile === undefined && opts.tlsKeyFile === undefined ? await ensureServerPki(opts.dataRoot, host) : undefined;
  const kubeletClient = await ensureKubeletClientCert(opts.dataRoot);
  const api = new ApiServer({
    kubeletClient,
    store: opts.store,
    auth: tokens,
    clock: opts.clock,
    logger: opts.logger,
    version: opts.version,
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
    ...(opts.serviceCidr ? { serviceCidr: opts.serviceCidr } : {}),
  });
  for (const ns of BUILTIN_NAMESPACES) {
    try {
      await api.storage.create(resourceByKind('v1', 'Namespace')!, undefined, { metadata: { name: ns } });
    } catch (e) {
      if (!isWharfError(e, 'AlreadyExists')) throw e;
    }
  }
  let certFile = opts.tlsCertFile;
  let keyFile = opts.tlsKeyFile;
  let caFile: string;
  if (certFile === undefined || keyFile === undefined) {
    if (certFile !== undefined || keyFile !== undefined) throw new WharfError('InvalidArgument', '--tls-cert-file and --tls-key-file go together');
    const pki = servingPki ?? (await ensureServerPki(opts.dataRoot, host));
    certFile = pki.cert;
    keyFile = pki.key;
    caFile = pki.caCert;
  } else {
    caFile = certFile;
  }
  const caPem = readFileSync(caFile, 'utf8');
  const server: Server = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, api.handler);
  server.on('upgrade', api.upgrade);
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : isIP(host) === 6 ? `[${host}]` : host;
  const url = `https://${urlHost}:${addr.port}`;
  writeSecret(join(opts.dataRoot, 'admin.yaml'), adminConfigYaml(url, adminToken, caPem));
  return {
    url,
    api,
    server,
    caPem,
    caFile,
    clusterCaPem: kubeletClient.caPem,
    adminToken,
    close: async () => {
      api.closeStreams();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** admin.yaml: a kubeconfig (so kubectl and @kubernetes/client-node can load it too). */
export function adminConfigYaml(url: string, token: string, caPem: string): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'wharf',
        cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: 'wharf-admin', user: { token } }],
    contexts: [{ name: 'wharf', context: { cluster: 'wharf', user: 'wharf-admin', namespace: 'default' } }],
    'current-context': 'wharf',
  });
}
