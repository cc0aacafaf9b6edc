import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { run } from '../../src/core/exec/run.js';
import { mountsUnder } from '../helpers/daemon-leftovers.js';
import { pollUntil } from '../helpers/poll-until.js';
import { freeTestSubnet, startTestDaemon, useTestDaemon, type TestDaemon } from '../helpers/test-daemon.js';

// The test harness itself: cleanup() of a daemon that was killed with containers running (what a
// failed test leaves) removes its conmons, mounts, cgroups, veths, bridges, nft table and
// namespaces, and nothing of another daemon running beside it.

const sfx = Math.random().toString(36).slice(2, 8);
const other = useTestDaemon({ bootstrap: true });
let victim: TestDaemon | undefined;

afterAll(async () => {
  await victim?.cleanup();
}, 240_000);

async function ok(d: TestDaemon, args: string[]): Promise<string> {
  const r = await d.docker(args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

const linkExists = async (name: string) => (await run(['ip', 'link', 'show', 'dev', name], { allowFailure: true })).code === 0;
const tableExists = async (bridge: string) => (await run(['nft', 'list', 'table', 'ip', `wharf-${bridge}`], { allowFailure: true })).code === 0;

describe('useTestDaemon / cleanup()', () => {
  it('after kill -9 with containers running, cleanup removes everything of that daemon and nothing of another', async () => {
    const d = (victim = await startTestDaemon({ bootstrap: true }));
    await ok(d, ['network', 'create', '--subnet', await freeTestSubnet(), `net-${sfx}`]);
    const userBridge = await ok(d, ['network', 'inspect', '--format', '{{index .Options "com.docker.network.bridge.name"}}', `net-${sfx}`]);
    const onBridge = await ok(d, ['run', '-d', 'busybox', 'sleep', '600']);
    const onNet = await ok(d, ['run', '-d', '--network', `net-${sfx}`, '-v', `vol-${sfx}:/v`, '--tmpfs', '/scratch', 'busybox', 'sleep', '600']);
    const theirs = await ok(other, ['run', '-d', 'busybox', 'sleep', '600']);
    await d.kill9();

    // What a failed test leaves: the daemon is gone, its containers, networking and mounts are not.
    const before = await d.leftovers();
    expect(before.processes.length, 'conmons of the two containers').toBeGreaterThanOrEqual(2);
    expect(before.runc.sort()).toEqual([onBridge, onNet].sort());
    expect(before.mounts.length).toBeGreaterThan(0);
    expect(before.cgroups.length).toBeGreaterThan(0);
    expect(before.links).toEqual(expect.arrayContaining([d.bridge, userBridge]));
    expect(before.nftTables).toEqual([`ip wharf-${d.bridge}`]);
    expect(before.netns.length).toBeGreaterThan(0);

    await d.cleanup();
    expect(await d.leftovers()).toEqual({ processes: [], runc: [], mounts: [], cgroups: [], links: [], nftTables: [], netns: [], files: [] });
    expect(await linkExists(d.bridge)).toBe(false);
    expect(await linkExists(userBridge)).toBe(false);
    expect(await tableExists(d.bridge)).toBe(false);
    expect(mountsUnder(d.dir)).toEqual([]);
    expect(existsSync(d.dir)).toBe(false);
    for (const id of [onBridge, onNet]) expect(before.cgroups.filter((c) => c.endsWith(id)).some((c) => existsSync(c))).toBe(false);

    // The other daemon is untouched: its container runs, its bridge and table are there.
    expect(await ok(other, ['inspect', '-f', '{{.State.Status}}', theirs])).toBe('running');
    expect(await linkExists(other.bridge)).toBe(true);
    expect(await tableExists(other.bridge)).toBe(true);
    expect((await other.leftovers()).runc).toEqual([theirs]);
    // A second cleanup is a no-op.
    await d.cleanup();
  }, 180_000);

  it('restart() after kill9() serves again on the same roots', async () => {
    const id = await ok(other, ['run', '-d', '--network', 'none', 'busybox', 'sleep', '600']);
    await other.kill9();
    await other.restart();
    await pollUntil('the container seen after restart', async () => (await ok(other, ['inspect', '-f', '{{.State.Status}}', id])) === 'running', { timeoutMs: 20_000 });
    const r = await other.api('GET', `/containers/${id}/json`);
    expect(r.status).toBe(200);
    expect(r.json<{ Id: string }>().Id).toBe(id);
  }, 120_000);
});
