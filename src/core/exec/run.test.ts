import { describe, it, expect } from 'vitest';
import { run, processAlive } from './run.js';
import { isWharfError } from '../errors.js';

describe('run', () => {
  it('captures stdout and exit code, with stdin', async () => {
    const r = await run(['cat'], { input: 'hello' });
    expect(r.stdout).toBe('hello');
    expect(r.code).toBe(0);
  });
  it('throws on non-zero exit unless allowed', async () => {
    await expect(run(['sh', '-c', 'echo bad >&2; exit 3'])).rejects.toThrow(/bad/);
    const r = await run(['sh', '-c', 'exit 3'], { allowFailure: true });
    expect(r.code).toBe(3);
  });
  it('kills on timeout', async () => {
    const err = await run(['sleep', '5'], { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(isWharfError(err, 'Timeout')).toBe(true);
  });
  it('reports a missing binary', async () => {
    await expect(run(['/nonexistent/binary'])).rejects.toThrow(/ENOENT/);
  });
  it('knows whether a pid is alive', async () => {
    expect(await processAlive(process.pid)).toBe(true);
    expect(await processAlive(2 ** 22 + 1)).toBe(false);
  });
});
