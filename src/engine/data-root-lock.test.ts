import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { acquireDataRootLock } from './data-root-lock.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'wharf-lock-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('data-root lock', () => {
  it('is held with the PID, refused while its owner lives, and removed on release', async () => {
    const d = tmp();
    const lock = acquireDataRootLock(d);
    expect(readFileSync(join(d, 'wharf.lock'), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    expect(existsSync(join(d, 'wharf.lock'))).toBe(false);
    // A live node process owns it: refused, with its PID in the message.
    const owner = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => owner.once('spawn', r));
      writeFileSync(join(d, 'wharf.lock'), `${owner.pid}\n`);
      expect(() => acquireDataRootLock(d)).toThrow(`is in use by another wharf daemon (pid ${owner.pid}`);
      expect(readFileSync(join(d, 'wharf.lock'), 'utf8').trim()).toBe(String(owner.pid));
    } finally {
      owner.kill('SIGKILL');
    }
  });

  it('takes over a stale lock whose process is gone', async () => {
    const d = tmp();
    const child = spawn('true');
    const pid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    writeFileSync(join(d, 'wharf.lock'), `${pid}\n`);
    const lock = acquireDataRootLock(d);
    expect(readFileSync(join(d, 'wharf.lock'), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
  });

  it('takes over a lock with garbage in it, leaves no temp files', () => {
    const d = tmp();
    writeFileSync(join(d, 'wharf.lock'), 'garbage');
    const lock = acquireDataRootLock(d);
    lock.release();
    expect(existsSync(join(d, 'wharf.lock'))).toBe(false);
    expect(existsSync(join(d, `wharf.lock.${process.pid}.tmp`))).toBe(false);
  });

  it('refuses a second holder in the same process, and allows it again after release', () => {
    const d = tmp();
    const lock = acquireDataRootLock(d);
    expect(() => acquireDataRootLock(d)).toThrow(/in use by another wharf engine in this process/);
    lock.release();
    acquireDataRootLock(d).release();
  });
});
