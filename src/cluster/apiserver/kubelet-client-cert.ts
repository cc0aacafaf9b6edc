import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../core/exec/run.js';
import { KUBELET_CLIENT_CN } from '../apis/streaming.js';

// The API server's client certificate for nodes' streaming endpoints (the kubelet-client
// certificate of Kubernetes): issued once by the cluster CA under DATA_ROOT/pki/ (the CA is made
// here when the API is not served over TLS and so made none), keys mode 0600.

export interface KubeletClientCredentials {
  certPem: string;
  keyPem: string;
  /** The cluster CA: what nodes trust for the API server's client certificate. */
  caPem: string;
}

export async function ensureKubeletClientCert(dataRoot: string): Promise<KubeletClientCredentials> {
  const dir = join(dataRoot, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const key = join(dir, 'kubelet-client.key');
  const cert = join(dir, 'kubelet-client.crt');
  if (!existsSync(caCert) || !existsSync(caKey)) {
    await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '3650', '-subj', '/CN=wharf-ca'], { timeoutMs: 30_000 });
    chmodSync(caKey, 0o600);
  }
  if (!existsSync(cert) || !existsSync(key)) {
    const csr = join(dir, 'kubelet-client.csr');
    const ext = join(dir, 'kubelet-client.ext');
    writeFileSync(ext, 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n');
    await run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${KUBELET_CLIENT_CN}`], { timeoutMs: 30_000 });
    chmodSync(key, 0o600);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '825', '-extfile', ext], { timeoutMs: 30_000 });
    rmSync(csr, { force: true });
  }
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8'), caPem: readFileSync(caCert, 'utf8') };
}
