import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { run } from '../../src/core/exec/run.js';
import { silentLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { EngineDb } from '../../src/engine/db.js';
import { SqliteNetworkStore } from '../../src/engine/networks/network-store.js';
import { NetworkManager } from '../../src/engine/networks/network-manager.js';
import { NetnsPool } from '../../src/engine/networks/netns-pool.js';
import { Netns, freeSubnets, leftovers, suffix, until } from './net-helpers.js';

// Networking on real kernel objects: netns stand in for containers (a container's netns is
// exactly that). Every name carries a random suffix, subnets are checked unused, and afterAll
// removes everything even on failure, then checks nothing is left.

const sfx = suffix(6);
const prefix = `wht${sfx}`; // bridges: wht<sfx><x> (≤ 10 chars)
const vethPrefix = `wv${sfx.slice(0, 3)}`;
const daemon = `t${sfx}`;
const nsPrefix = `whtns${sfx}`;
let dataRoot = '';
let db: EngineDb;
let mgr: NetworkManager;
const spaces: Netns[] = [];
let subnets: string[] = [];
let www = '';

async function ns(tag: string): Promise<Netns> {
  const n = await Netns.create(`${nsPrefix}${tag}`);
  spaces.push(n);
  return n;
}

function newManager(): NetworkManager {
  return new NetworkManager({
    runner: run,
    logger: silentLogger(),
    clock: systemClock,
    store: new SqliteNetworkStore(db),
    daemonName: daemon,
    bridgeName: `${prefix}0`,
    bip: subnets[0]!.replace(/0\/24$/, '1/24'),
    vethPrefix,
    dnsUpstreams: [],
    ipForward: false,
  });
}

async function nc(from: Netns, host: string, port: number): Promise<string> {
  const r = await from.exec(['busybox', 'nc', '-w', '2', host, String(port)], { timeoutMs: 5000 });
  return r.stdout;
}

async function curl(url: string, from?: Netns): Promise<string> {
  const argv = ['curl', '-s', '--max-time', '3', url];
  const r = from ? await from.exec(argv) : await run(argv, { allowFailure: true });
  return r.code === 0 ? r.stdout : `curl failed (${r.code})`;
}

beforeAll(async () => {
  dataRoot = mkdtempSync('/var/tmp/wharf-test-net-');
  db = EngineDb.open({ dataRoot });
  subnets = await freeSubnets(5);
  mgr = newManager();
  await mgr.restore(() => true);
});

afterAll(async () => {
  try {
    await mgr?.destroyAll();
    await mgr?.close();
  } finally {
    for (const s of spaces) await s.destroy();
    // Belt and braces: anything with our names goes, even if the manager failed.
    const left = await leftovers({ linkPrefixes: [prefix, vethPrefix], table: `wharf-${daemon}`, netnsPrefix: nsPrefix });
    for (const l of left) {
      const [kind, name] = l.split(' ');
      if (kind === 'link') await run(['ip', 'link', 'del', name!], { allowFailure: true });
      if (kind === 'nft') await run(['nft', 'delete', 'table', 'ip', `wharf-${daemon}`], { allowFailure: true });
      if (kind === 'netns') await run(['ip', 'netns', 'del', name!], { allowFailure: true });
    }
    db?.close();
    rmSync(dataRoot, { recursive: true, force: true });
    if (www) rmSync(www, { recursive: true, force: true });
  }
});

describe('networks on real namespaces', () => {
  let a: Netns;
  let b: Netns;
  let c: Netns;
  let aIp = '';
  let webPort = 0;
  let net1Gw = '';

  it('two namespaces on one user network reach each other by address and by DNS name', async () => {
    const net = await mgr.createNetwork({ name: `n1-${sfx}`, subnet: subnets[1]!, options: { 'com.docker.network.bridge.name': `${prefix}1` } });
    net1Gw = net.gateway;
    a = await ns('a');
    b = await ns('b');
    const ea = await mgr.attach(`ctr-a-${sfx}`, a.path, { network: net.name, containerName: 'alpha', aliases: ['web'] });
    const eb = await mgr.attach(`ctr-b-${sfx}`, b.path, { network: net.name, containerName: 'bravo' });
    aIp = ea.ip;
    expect(ea.gateway).toBe(net.gateway);
    expect(ea.ip).not.toBe(eb.ip);
    a.spawn(['busybox', 'nc', '-ll', '-p', '7000', '-e', 'busybox', 'echo', 'hello-from-a']);
    await until(async () => (await nc(b, ea.ip, 7000)).includes('hello-from-a'), 5000, 'nc from b to a');
    // DNS: the embedded server on the gateway answers names and aliases for the asking netns.
    const look = await b.exec(['busybox', 'nslookup', 'alpha', net.gateway]);
    expect(look.stdout).toContain(ea.ip);
    const alias = await b.exec(['busybox', 'nslookup', 'web', net.gateway]);
    expect(alias.stdout).toContain(ea.ip);
    const missing = await b.exec(['busybox', 'nslookup', 'nosuch', net.gateway]);
    expect(missing.stdout).not.toContain(ea.ip);
  });

  it('publishes busybox httpd on 127.0.0.1 and host addresses; hairpin works', async () => {
    www = mkdtempSync('/var/tmp/wharf-test-www-');
    writeFileSync(`${www}/index.html`, `hello ${sfx}\n`);
    mkdirSync(`${www}/cgi-bin`, { recursive: true });
    c = await ns('c');
    const ep = await mgr.attach(`ctr-c-${sfx}`, c.path, {
      network: `n1-${sfx}`,
      containerName: 'charlie',
      ports: [{ hostIp: '', hostPort: 0, containerPort: 80, proto: 'tcp' }],
    });
    webPort = ep.ports[0]!.hostPort;
    expect(webPort).toBeGreaterThan(1024);
    c.spawn(['busybox', 'httpd', '-f', '-p', '80', '-h', www]);
    await until(async () => (await curl(`http://127.0.0.1:${webPort}/`)).includes(`hello ${sfx}`), 5000, 'curl 127.0.0.1');
    // A host address (what another host would use) and the bridge gateway.
    const hostIps = (JSON.parse((await run(['ip', '-json', '-4', 'addr', 'show', 'scope', 'global'])).stdout) as Array<{ addr_info: Array<{ local: string }> }>).flatMap(
      (x) => x.addr_info.map((i) => i.local),
    );
    const ext = hostIps.find((x) => !x.startsWith('10.2')) ?? net1Gw;
    expect(await curl(`http://${ext}:${webPort}/`), ext).toContain(`hello ${sfx}`);
    // Hairpin: the container reaches its own published port through the host.
    expect(await curl(`http://${net1Gw}:${webPort}/`, c)).toContain(`hello ${sfx}`);
    // Another container on the same network through the published port.
    expect(await curl(`http://${net1Gw}:${webPort}/`, b)).toContain(`hello ${sfx}`);
  });

  it('refuses a host port already in use with a Conflict, changing nothing', async () => {
    const d = await ns('d');
    const before = mgr.endpoints().length;
    await expect(
      mgr.attach(`ctr-d-${sfx}`, d.path, { network: `n1-${sfx}`, containerName: 'delta', ports: [{ hostIp: '', hostPort: webPort, containerPort: 80, proto: 'tcp' }] }),
    ).rejects.toMatchObject({ kind: 'Conflict' });
    expect(mgr.endpoints().length).toBe(before);
    const links = (await run(['ip', 'link', 'show'])).stdout;
    expect(links).not.toContain(`ctr-d`);
  });

  it('isolates two networks; an internal network has no route out', async () => {
    await mgr.createNetwork({ name: `n2-${sfx}`, subnet: subnets[2]!, options: { 'com.docker.network.bridge.name': `${prefix}2` } });
    await mgr.createNetwork({ name: `n3-${sfx}`, subnet: subnets[3]!, internal: true, options: { 'com.docker.network.bridge.name': `${prefix}3` } });
    const e = await ns('e');
    const f = await ns('f');
    await mgr.attach(`ctr-e-${sfx}`, e.path, { network: `n2-${sfx}`, containerName: 'echo' });
    const ef = await mgr.attach(`ctr-f-${sfx}`, f.path, { network: `n3-${sfx}`, containerName: 'fox' });
    expect(ef.gateway).toBe('');
    // e (network 2) cannot reach a (network 1) directly...
    expect(await nc(e, aIp, 7000)).not.toContain('hello-from-a');
    // ...while b on network 1 still can.
    expect(await nc(b, aIp, 7000)).toContain('hello-from-a');
    // The internal network: no default route, and no path to another network's container.
    const routes = (await f.exec(['ip', '-json', 'route', 'show'])).stdout;
    expect(routes).not.toContain('default');
    expect(await nc(f, aIp, 7000)).not.toContain('hello-from-a');
  });

  it('a warm pool hands out prepared namespaces that work at once, and cleans up', async () => {
    const pool = new NetnsPool({ manager: mgr, runner: run, logger: silentLogger(), size: 2, network: `n1-${sfx}`, prefix: `${nsPrefix}p` });
    let p: Netns | undefined;
    try {
      await pool.fill();
      expect(pool.available).toBe(2);
      const spawnsBefore = mgr.ip.spawns + mgr.nft.spawns;
      const t = await pool.take(`ctr-p-${sfx}`, { network: `n1-${sfx}`, containerName: 'papa', aliases: ['poolalias'] });
      expect(t).toBeDefined();
      expect(mgr.ip.spawns + mgr.nft.spawns).toBe(spawnsBefore); // no process on the start path
      p = new Netns(t!.netnsName);
      p.spawn(['busybox', 'nc', '-ll', '-p', '7001', '-e', 'busybox', 'echo', 'hello-from-pool']);
      await until(async () => (await nc(b, t!.endpoint.ip, 7001)).includes('hello-from-pool'), 5000, 'nc to pooled netns');
      expect((await b.exec(['busybox', 'nslookup', 'poolalias', net1Gw])).stdout).toContain(t!.endpoint.ip);
      // A request the pool cannot serve falls back to the caller.
      expect(await pool.take(`ctr-q-${sfx}`, { network: `n1-${sfx}`, containerName: 'q', ip: '10.0.0.9' })).toBeUndefined();
      await pool.release(`ctr-p-${sfx}`, t!.netnsName);
      await p.destroy();
      expect(existsSync(t!.netnsPath)).toBe(false);
    } finally {
      await pool.drain();
      await mgr.detach(`ctr-p-${sfx}`).catch(() => undefined);
      await p?.destroy(); // kills its processes, even when an assertion failed
    }
    expect((await run(['ip', 'netns', 'list'])).stdout).not.toContain(`${nsPrefix}p`);
    expect(mgr.endpoints().filter((e) => e.containerId.startsWith('pool:'))).toEqual([]);
  });

  it('restart rebuilds the nft table from state and drops endpoints of vanished containers', async () => {
    await mgr.close();
    await run(['nft', 'delete', 'table', 'ip', `wharf-${daemon}`]);
    expect(await curl(`http://127.0.0.1:${webPort}/`)).not.toContain(`hello ${sfx}`);
    // Container "e" vanished while the daemon was down.
    const e = spaces.find((s) => s.name.endsWith('e'))!;
    await e.destroy();
    mgr = newManager();
    const r = await mgr.restore((id) => id !== `ctr-e-${sfx}`);
    expect(r.removed).toBeGreaterThanOrEqual(1);
    expect(mgr.endpoints(`ctr-e-${sfx}`)).toEqual([]);
    expect(await curl(`http://127.0.0.1:${webPort}/`)).toContain(`hello ${sfx}`);
    // Running containers kept their interfaces and addresses.
    expect(await nc(b, aIp, 7000)).toContain('hello-from-a');
  });

  it('refuses to remove a network in use, then detach and remove leave nothing behind', async () => {
    await expect(mgr.removeNetwork(`n1-${sfx}`)).rejects.toMatchObject({ kind: 'Conflict' });
    for (const id of ['a', 'b', 'c', 'f']) await mgr.detach(`ctr-${id}-${sfx}`);
    expect(await curl(`http://127.0.0.1:${webPort}/`)).not.toContain(`hello ${sfx}`);
    await mgr.removeNetwork(`n1-${sfx}`);
    expect(await mgr.prune()).toEqual(expect.arrayContaining([`n2-${sfx}`, `n3-${sfx}`]));
    await mgr.destroyAll();
    for (const s of spaces) await s.destroy();
    expect(await leftovers({ linkPrefixes: [prefix, vethPrefix], table: `wharf-${daemon}`, netnsPrefix: nsPrefix })).toEqual([]);
  });
});
