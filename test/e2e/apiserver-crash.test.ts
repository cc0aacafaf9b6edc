import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Pool } from 'undici';
import { ensureBuilt, startServerProcess, stopProcess } from '../helpers/server-process.js';

// kill -9 of `wharf server` during 1,000 concurrent writes: after a restart every acknowledged
// write is there, no write answered with an error is, and no valid write was refused before the kill.

const dataRoot = mkdtempSync('/var/tmp/wharf-test-crash-');
let proc: ChildProcess | undefined;

afterAll(async () => {
  await stopProcess(proc, 'SIGKILL');
  rmSync(dataRoot, { recursive: true, force: true });
});

type Outcome = { kind: 'acked' } | { kind: 'refused'; code: number } | { kind: 'unknown' };

describe('crash safety of acknowledged writes', () => {
  it('keeps every acknowledged write across kill -9', async () => {
    await ensureBuilt();
    let s = await startServerProcess(dataRoot, ['--disable-scheduler', '--no-controllers']);
    proc = s.proc;
    const token = readFileSync(join(dataRoot, 'admin.token'), 'utf8').trim();
    let pool = new Pool(s.url, { connections: 64, connect: { ca: s.caPem } });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const cm = (name: string, i: number) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { i: String(i) } });
    const pre = await pool.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers, body: cm('dup', -1) });
    expect(pre.statusCode).toBe(201);
    await pre.body.dump();

    const N = 1000;
    const outcomes = new Map<number, Outcome>();
    let acked = 0;
    let killedAt = -1;
    const killAfter = 300;
    const nameOf = (i: number) => (i % 10 === 0 ? `Bad_${i}` : i % 10 === 1 ? 'dup' : `cm-${i}`);
    const writes = Array.from({ length: N }, async (_, i) => {
      try {
        const res = await pool.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers, body: cm(nameOf(i), i), headersTimeout: 60_000 });
        await res.body.dump();
        if (res.statusCode === 201) {
          outcomes.set(i, { kind: 'acked' });
          if (++acked === killAfter) {
            killedAt = acked;
            proc!.kill('SIGKILL');
          }
        } else outcomes.set(i, { kind: 'refused', code: res.statusCode });
      } catch {
        outcomes.set(i, { kind: 'unknown' });
      }
    });
    await Promise.all(writes);
    await pool.close().catch(() => undefined);
    await new Promise<void>((r) => (proc!.exitCode !== null || proc!.signalCode !== null ? r() : proc!.once('exit', () => r())));
    expect(killedAt).toBe(killAfter);
    // The kill landed in the middle: some writes never got an answer.
    expect([...outcomes.values()].filter((o) => o.kind === 'unknown').length).toBeGreaterThan(0);

    // Refusals must be exactly the intended bad writes: invalid names (422) and duplicates (409).
    for (const [i, o] of outcomes) {
      if (o.kind !== 'refused') continue;
      if (i % 10 === 0) expect(o.code, `write ${i}`).toBe(422);
      else expect([409], `write ${i} refused with ${o.code}`).toContain(o.code);
    }

    s = await startServerProcess(dataRoot, ['--disable-scheduler', '--no-controllers']);
    proc = s.proc;
    pool = new Pool(s.url, { connections: 4, connect: { ca: s.caPem } });
    const res = await pool.request({ method: 'GET', path: '/api/v1/namespaces/default/configmaps', headers });
    const list = (await res.body.json()) as { items: { metadata: { name: string }; data: { i: string } }[] };
    await pool.close();
    const stored = new Map(list.items.map((x) => [x.metadata.name, x.data.i]));
    let ackedValid = 0;
    for (const [i, o] of outcomes) {
      const name = nameOf(i);
      if (o.kind === 'acked') {
        ackedValid++;
        expect(stored.get(name), `acknowledged write ${name}`).toBe(String(i));
      }
      if (o.kind === 'refused' && name !== 'dup') expect(stored.has(name), `refused write ${name}`).toBe(false);
    }
    // The duplicate name kept the value of its one successful create.
    expect(stored.get('dup')).toBe('-1');
    expect(ackedValid).toBeGreaterThanOrEqual(killAfter);
    // Nothing beyond what was attempted.
    for (const name of stored.keys()) expect(name === 'dup' || /^cm-\d+$/.test(name)).toBe(true);
  });
});
