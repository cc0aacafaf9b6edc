import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

// The built `wharf server` as a child process (tests of the program as users run it).

export const WHARF_BIN = join(import.meta.dirname, '../../bin/wharf');

export async function ensureBuilt(): Promise<void> {
  if (!existsSync(join(import.meta.dirname, '../../dist/cmd/main.js'))) {
    await promisify(execFile)('npm', ['run', 'build'], { cwd: join(import.meta.dirname, '../..') });
  }
}

/** Starts `wharf server` on ROOT; the URL is https, caPem the CA of ROOT/pki (or of --tls-cert-file). */
export async function startServerProcess(root: string, extra: string[] = []): Promise<{ proc: ChildProcess; url: string; caPem: string; configPath: string }> {
  const proc = spawn('node', [WHARF_BIN, 'server', '--data-root', root, '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errOut = '';
  proc.stderr!.on('data', (b: Buffer) => (errOut += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`wharf server did not start: ${errOut}`));
    }, 30_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`wharf server exited ${c}: ${errOut}`));
    });
  });
  const certFlag = extra.indexOf('--tls-cert-file');
  const caPem = readFileSync(certFlag >= 0 ? extra[certFlag + 1]! : join(root, 'pki', 'ca.crt'), 'utf8');
  return { proc, url, caPem, configPath: join(root, 'admin.yaml') };
}

export async function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}
