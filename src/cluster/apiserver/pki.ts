import { existsSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { networkInterfaces, hostname } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { run } from '../../core/exec/run.js';

// A CA and a server certificate for the API server, generated once with Debian's openssl
// (argv arrays through core/exec) under DATA_ROOT/pki/, mode 0600 for keys.

export interface ServerPki {
  caCert: string;
  cert: string;
  key: string;
}

/** Pure: the subjectAltName list for a listen host. */
export function subjectAltNames(listenHost: string, extra: readonly string[] = []): string[] {
  const names = new Set<string>(['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', `DNS:${hostname()}`]);
  const add = (h: string) => names.add(isIP(h) ? `IP:${h}` : `DNS:${h}`);
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address.split('%')[0]!);
  } else add(listenHost);
  for (const e of extra) add(e);
  return [...names];
}

export async function ensureServerPki(dataRoot: string, listenHost: string): Promise<ServerPki> {
  const dir = join(dataRoot, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  if (!existsSync(caCert) || !existsSync(caKey)) {
    await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '3650', '-subj', '/CN=wharf-ca'], { timeoutMs: 30_000 });
    chmodSync(caKey, 0o600);
  }
  if (!existsSync(cert) || !existsSync(key)) {
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    writeFileSync(ext, `subjectAltName=${subjectAltNames(listenHost).join(',')}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n`);
    await run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=wharf-apiserver'], { timeoutMs: 30_000 });
    chmodSync(key, 0o600);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '825', '-extfile', ext], { timeoutMs: 30_000 });
  }
  return { caCert, cert, key };
}
