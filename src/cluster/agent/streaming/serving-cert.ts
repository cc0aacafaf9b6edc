import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../core/exec/run.js';

// The streaming endpoint's serving certificate: self-signed, made once with openssl (argv
// through core/exec) under DIR (key mode 0600). The API server trusts it by its SHA-256
// fingerprint, which the agent publishes on its Node (STREAMING_CERT_ANNOTATION).

export { STREAMING_CERT_ANNOTATION } from '../../apis/streaming.js';

export interface ServingCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** Colon-separated upper-case hex, as node:crypto prints it. */
  fingerprint256: string;
}

export async function ensureServingCert(dir: string, nodeName: string): Promise<ServingCert> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'streaming.crt');
  const keyFile = join(dir, 'streaming.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const cn = `wharf-streaming-${nodeName}`.slice(0, 64);
    await run(
      ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '3650', '-subj', `/CN=${cn}`],
      { timeoutMs: 30_000 },
    );
    chmodSync(keyFile, 0o600);
  }
  const certPem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, certPem, keyPem: readFileSync(keyFile, 'utf8'), fingerprint256: new X509Certificate(certPem).fingerprint256 };
}
