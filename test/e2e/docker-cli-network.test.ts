import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { run } from '../../src/core/exec/run.js';
import { freeTestSubnet, startDaemon, type TestDaemon } from './daemon-harness.js';

// Networking through the real docker CLI 28 against `wharf daemon` with its own bridge, subnet
// and nft table: user networks with DNS, published ports (curl from the host, hairpin), isolation,
// internal networks, shared network namespaces, live restore after kill -9, cleanup, bad input.
// Traffic only goes to loopback and to addresses inside namespaces the test created.

const sfx = Math.random().toString(36).slice(2, 7);
let d: TestDaemon;
const bridges: string[] = [];

/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Polls until fn() is true (conditions, never fixed sleeps). */
async function until(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function curl(url: string): Promise<{ code: number; body: string }> {
  const r = await run(['curl', '-s', '-m', '5', url], { allowFailure: true, timeoutMs: 15_000 });
  return { code: r.code ?? -1, body: r.stdout };
}

async function ok(args: string[], timeoutMs?: number): Promise<string> {
  const r = await d.docker(args, timeoutMs ? { timeoutMs } : {});
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

async function newNetwork(name: string, extra: string[] = []): Promise<{ subnet: string; bridge: string }> {
  let subnet = '';
  for (let i = 0; ; i++) {
    subnet = await freeTestSubnet();
    const r = await d.docker(['network', 'create', '--subnet', subnet, ...extra, name]);
    if (r.code === 0) break;
    // Another test's daemon may have taken the subnet since we looked: try another.
    if (i >= 4 || !/overlaps/.test(r.stderr)) throw new Error(`network create ${name} failed: ${r.stderr}`);
  }
  const bridge = await ok(['network', 'inspect', '--format', '{{index .Options "com.docker.network.bridge.name"}}', name]);
  bridges.push(bridge);
  return { subnet, bridge };
}

const httpd = (text: string) => ['sh', '-c', `mkdir -p /w && echo ${text} > /w/index.html && exec httpd -f -p 80 -h /w`];

async function nftRules(): Promise<string> {
  return (await run(['nft', 'list', 'table', 'ip', `wharf-${d.bridge}`], { allowFailure: true })).stdout;
}

async function links(): Promise<string> {
  return (await run(['ip', '-o', 'link', 'show'])).stdout;
}

beforeAll(async () => {
  d = await startDaemon();
  bridges.push(d.bridge);
  const b = await d.wharf(['image', 'bootstrap'], { timeoutMs: 60_000 });
  if (b.code !== 0) throw new Error(`bootstrap failed: ${b.stderr}`);
}, 90_000);

afterAll(async () => {
  if (!d) return;
  const dir = d.dir;
  try {
    const ps = await d.docker(['ps', '-aq', '--no-trunc']);
    for (const id of ps.stdout.split('\n').filter(Boolean)) await d.docker(['rm', '-f', id]);
    await d.docker(['network', 'prune', '-f']);
  } finally {
    await d.stop();
  }
  // Nothing of this test is left in the kernel: links, nft table, namespaces, mounts.
  const l = await links();
  for (const b of bridges) expect(l).not.toContain(`${b}:`);
  expect((await run(['nft', 'list', 'table', 'ip', `wharf-${d.bridge}`], { allowFailure: true })).code).not.toBe(0);
  const ns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  expect(ns.filter((n) => n.startsWith(`wharf-${d.bridge}-`))).toEqual([]);
  expect((await readFile('/proc/mounts', 'utf8')).includes(dir)).toBe(false);
}, 90_000);

describe('docker networking against wharf daemon', () => {
  it('two containers on a user network reach each other by name and by alias; inspect shows the endpoint', async () => {
    const net = `n1-${sfx}`;
    const { subnet } = await newNetwork(net);
    await ok(['run', '-d', '--name', `srv-${sfx}`, '--network', net, '--network-alias', `web-${sfx}`, 'busybox', 'sh', '-c', 'while true; do echo hello | nc -l -p 80; done']);
    // The server may not listen yet on a loaded machine: poll until both names answer.
    let out = '';
    await until(
      async () => /^hello\nhello\n/.test((out = (await d.docker(['run', '--rm', '--network', net, 'busybox', 'sh', '-c', `nc srv-${sfx} 80; nc web-${sfx} 80; cat /etc/resolv.conf`])).stdout)),
      30_000,
      'srv answering by name and by alias',
    );
    expect(out).toContain(`nameserver ${subnet.replace(/0\/24$/, '1')}`);
    const ip = await ok(['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, `srv-${sfx}`]).catch(() => '');
    const ins = JSON.parse(await ok(['inspect', `srv-${sfx}`])) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string; Gateway: string; MacAddress: string; NetworkID: string; EndpointID: string; Aliases: string[] }>; SandboxKey: string } }>;
    const ep = ins[0]!.NetworkSettings.Networks[net]!;
    expect(ep.IPAddress.startsWith(subnet.replace(/0\/24$/, ''))).toBe(true);
    if (ip) expect(ip).toBe(ep.IPAddress);
    expect(ep.Gateway).toBe(subnet.replace(/0\/24$/, '1'));
    expect(ep.MacAddress).toMatch(/^02:42:/);
    expect(ep.Aliases).toEqual([`web-${sfx}`]);
    expect(ins[0]!.NetworkSettings.SandboxKey).toMatch(/^\/run\/netns\//);
    const netIns = JSON.parse(await ok(['network', 'inspect', net])) as Array<{ Id: string; Containers: Record<string, { Name: string; IPv4Address: string }> }>;
    expect(ep.NetworkID).toBe(netIns[0]!.Id);
    expect(Object.values(netIns[0]!.Containers).map((c) => c.Name)).toEqual([`srv-${sfx}`]);
    expect(Object.values(netIns[0]!.Containers)[0]!.IPv4Address).toBe(`${ep.IPAddress}/24`);
    // The wharf CLI sees the same network.
    const ls = await d.wharf(['network', 'ls', '--filter', `name=${net}`, '--format', '{{.Name}} {{.Driver}}']);
    expect(ls.stdout.trim()).toBe(`${net} bridge`);
    await ok(['rm', '-f', `srv-${sfx}`]);
    await ok(['network', 'rm', net]);
  }, 60_000);

  it('-p 127.0.0.1:PORT:80 answers curl on the host; docker port; hairpin from a container; removal frees rules and veth', async () => {
    const port = await freePort();
    const name = `web-${sfx}`;
    await ok(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:80`, 'busybox', ...httpd(`page-${sfx}`)]);
    await until(async () => (await curl(`http://127.0.0.1:${port}/`)).body === `page-${sfx}\n`, 20_000, 'httpd through the published port');
    expect(await ok(['port', name])).toBe(`80/tcp -> 127.0.0.1:${port}`);
    expect(await ok(['ps', '--filter', `name=${name}`, '--format', '{{.Ports}}'])).toBe(`127.0.0.1:${port}->80/tcp`);
    const sandbox = await ok(['inspect', '--format', '{{.NetworkSettings.SandboxKey}}', name]);
    const hostIfs = (await links()).split('\n').filter((l) => l.includes(`master ${d.bridge}`)).length;
    expect(await nftRules()).toContain(`dport ${port} dnat to`);
    // Hairpin: a container reaching a published port (on every address) through the host.
    const hp = await freePort();
    const gw = d.bip.split('/')[0]!;
    const hair = await ok(['run', '--rm', '-p', `${hp}:80`, 'busybox', 'sh', '-c', `mkdir /w; echo hair-${sfx} > /w/index.html; httpd -p 80 -h /w; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${gw} ${hp} | tail -1`]);
    expect(hair).toBe(`hair-${sfx}`);
    await ok(['rm', '-f', name]);
    // Teardown runs just after the removal (off the `run --rm` path): poll for it.
    await until(async () => !(await nftRules()).includes(`dport ${port} dnat`) && !existsSync(sandbox), 20_000, 'rules and netns of the removed container gone');
    const after = (await links()).split('\n').filter((l) => l.includes(`master ${d.bridge}`)).length;
    expect(after).toBeLessThan(hostIfs + 1);
    expect((await curl(`http://127.0.0.1:${port}/`)).body).toBe('');
  }, 60_000);

  it('-P with --expose publishes on an ephemeral host port', async () => {
    const name = `pa-${sfx}`;
    await ok(['run', '-d', '--name', name, '--expose', '80', '-P', 'busybox', ...httpd(`pa-${sfx}`)]);
    const mapping = await ok(['port', name, '80/tcp']);
    const m = /:(\d+)$/.exec(mapping.split('\n')[0]!);
    expect(m).not.toBeNull();
    await until(async () => (await curl(`http://127.0.0.1:${m![1]}/`)).body === `pa-${sfx}\n`, 20_000, 'httpd on the ephemeral port');
    await ok(['rm', '-f', name]);
  }, 60_000);

  it('two user networks are isolated; an internal network has no route out', async () => {
    const a = `ia-${sfx}`;
    const b = `ib-${sfx}`;
    const c = `ic-${sfx}`;
    await newNetwork(a);
    await newNetwork(b);
    await newNetwork(c, ['--internal']);
    await ok(['run', '-d', '--name', `isrv-${sfx}`, '--network', a, 'busybox', 'sh', '-c', 'while true; do echo iso | nc -l -p 80; done']);
    const ip = await ok(['inspect', '--format', `{{(index .NetworkSettings.Networks "${a}").IPAddress}}`, `isrv-${sfx}`]);
    await until(async () => (await d.docker(['run', '--rm', '--network', a, 'busybox', 'nc', '-w', '3', ip, '80'])).stdout.trim() === 'iso', 30_000, 'isrv answering on its own network');
    const other = await d.docker(['run', '--rm', '--network', b, 'busybox', 'nc', '-w', '2', ip, '80']);
    expect(other.stdout.trim()).toBe('');
    expect(other.code).not.toBe(0);
    const routes = await ok(['run', '--rm', '--network', c, 'busybox', 'ip', 'route']);
    expect(routes).not.toContain('default');
    expect(routes).toMatch(/dev eth0/);
    await ok(['rm', '-f', `isrv-${sfx}`]);
    for (const n of [a, b, c]) await ok(['network', 'rm', n]);
  }, 60_000);

  it('--network container:a shares localhost with a; --add-host, --dns, --hostname land in the /etc files', async () => {
    const a = `share-${sfx}`;
    await ok(['run', '-d', '--name', a, '--hostname', `h-${sfx}`, '--add-host', `db-${sfx}:10.1.2.3`, '--dns', '10.9.9.9', '--dns-search', 'example.test', 'busybox', 'sh', '-c', 'while true; do echo local | nc -l -p 7000; done']);
    // The listener in `a` may not be up yet: poll.
    await until(async () => (await d.docker(['run', '--rm', '--network', `container:${a}`, 'busybox', 'nc', '-w', '3', '127.0.0.1', '7000'])).stdout.trim() === 'local', 30_000, 'nc through the shared localhost');
    const out = await ok(['run', '--rm', '--network', `container:${a}`, 'busybox', 'sh', '-c', 'cat /etc/hosts /etc/resolv.conf']);
    expect(out).toMatch(new RegExp(`10\\.1\\.2\\.3\\s+db-${sfx}`));
    expect(out).toMatch(new RegExp(`\\s+h-${sfx}`));
    expect(out).toContain('nameserver 10.9.9.9');
    expect(out).toContain('search example.test');
    await ok(['rm', '-f', a]);
  }, 60_000);

  it('connect (with --ip and --alias) and disconnect on a running container', async () => {
    const net = `cn-${sfx}`;
    const { subnet } = await newNetwork(net);
    const want = subnet.replace(/0\/24$/, '77');
    const name = `cc-${sfx}`;
    await ok(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'while true; do echo conn | nc -l -p 80; done']);
    const c = await d.wharf(['network', 'connect', '--ip', want, '--alias', `al-${sfx}`, net, name]);
    expect(c.code, c.stderr).toBe(0);
    expect(await ok(['inspect', '--format', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])).toBe(want);
    await until(async () => (await d.docker(['run', '--rm', '--network', net, 'busybox', 'nc', '-w', '3', `al-${sfx}`, '80'])).stdout.trim() === 'conn', 30_000, 'the alias answering');
    // The address is taken now: another container asking for it is refused.
    const taken = await d.docker(['run', '--rm', '--network', net, '--ip', want, 'busybox', 'true']);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/already in use/);
    const rm = await d.docker(['network', 'rm', net]);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toMatch(/active endpoints/);
    const dc = await d.wharf(['network', 'disconnect', net, name]);
    expect(dc.code, dc.stderr).toBe(0);
    expect(await ok(['inspect', '--format', '{{json .NetworkSettings.Networks}}', name])).not.toContain(net);
    await ok(['rm', '-f', name]);
    const wr = await d.wharf(['network', 'rm', net]);
    expect(wr.code, wr.stderr).toBe(0);
  }, 60_000);

  it('bad input: overlapping subnet, gateway outside, unknown network, port out of range, port already published, bridge removal', async () => {
    const net = `bad-${sfx}`;
    const { subnet } = await newNetwork(net);
    const overlap = await d.docker(['network', 'create', '--subnet', subnet, `bad2-${sfx}`]);
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/overlaps/);
    const gw = await d.docker(['network', 'create', '--subnet', '10.199.77.0/24', '--gateway', '10.199.78.1', `bad3-${sfx}`]);
    expect(gw.code).not.toBe(0);
    expect(gw.stderr).toMatch(/no matching subnet for gateway|not inside subnet/); // the CLI checks it first
    const api = (path: string, body: unknown) =>
      run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', d.socket, '-H', 'Content-Type: application/json', '-d', JSON.stringify(body), `http://d/v1.47${path}`], { allowFailure: true });
    expect((await api('/networks/create', { Name: `bad4-${sfx}`, IPAM: { Config: [{ Subnet: '10.199.77.0/24', Gateway: '10.199.78.1' }] } })).stdout).toBe('400');
    const dup = await d.docker(['network', 'create', net]);
    expect(dup.stderr).toMatch(/already exists/);
    const unknown = await d.docker(['run', '--rm', '--network', `nope-${sfx}`, 'busybox', 'true']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/network nope-\w+ not found/);
    const predefined = await d.docker(['network', 'rm', 'bridge']);
    expect(predefined.stderr).toMatch(/pre-defined/);
    // The API refuses a host port out of range with 400 (the CLI checks it before sending).
    expect((await api('/containers/create', { Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '70000' }] } } })).stdout).toBe('400');
    const port = await freePort();
    await ok(['run', '-d', '--name', `p1-${sfx}`, '-p', `127.0.0.1:${port}:80`, 'busybox', ...httpd('one')]);
    const second = await d.docker(['run', '-d', '--name', `p2-${sfx}`, '-p', `127.0.0.1:${port}:80`, 'busybox', ...httpd('two')]);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/port is already allocated/);
    expect(await ok(['inspect', '--format', '{{.State.Status}}', `p2-${sfx}`])).toBe('created');
    expect((await nftRules()).split('\n').filter((l) => l.includes(`dport ${port} `)).length).toBe(1);
    await ok(['rm', '-f', `p1-${sfx}`, `p2-${sfx}`]);
    await ok(['network', 'rm', net]);
    expect((await ok(['network', 'ls', '--format', '{{.Name}}'])).split('\n').filter((n) => n.includes(sfx))).toEqual([]);
  }, 60_000);

  it('after kill -9 of the daemon a published port still answers; after restart rules and container are intact', async () => {
    const port = await freePort();
    const name = `live-${sfx}`;
    await ok(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:80`, 'busybox', ...httpd(`live-${sfx}`)]);
    await until(async () => (await curl(`http://127.0.0.1:${port}/`)).body === `live-${sfx}\n`, 20_000, 'httpd before the crash');
    const rulesBefore = await nftRules();
    await d.kill9();
    expect((await curl(`http://127.0.0.1:${port}/`)).body).toBe(`live-${sfx}\n`);
    await d.restart();
    expect(await nftRules()).toContain(`dport ${port} dnat to`);
    expect((await nftRules()).split('\n').filter((l) => l.includes('dnat')).sort()).toEqual(rulesBefore.split('\n').filter((l) => l.includes('dnat')).sort());
    expect((await curl(`http://127.0.0.1:${port}/`)).body).toBe(`live-${sfx}\n`);
    expect(await ok(['inspect', '--format', '{{.State.Status}}', name])).toBe('running');
    await ok(['rm', '-f', name]);
    await until(async () => !(await nftRules()).includes(`dport ${port} dnat`), 20_000, 'the removed container\'s rule gone');
  }, 90_000);
});
