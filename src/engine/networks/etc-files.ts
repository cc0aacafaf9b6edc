import ipaddr from 'ipaddr.js';
import { invalid } from '../../core/errors.js';

// Pure generators of a container's /etc/hosts and /etc/resolv.conf (Docker's layout).

export interface ExtraHost {
  name: string;
  ip: string;
}

/** Parses `--add-host name:ip` (also `name=ip`); `host-gateway` becomes hostGateway. */
export function parseAddHost(spec: string, hostGateway?: string): ExtraHost {
  const i = spec.search(/[:=]/);
  if (i <= 0) throw invalid(`invalid --add-host ${JSON.stringify(spec)}: expected name:ip`);
  const name = spec.slice(0, i);
  let ip = spec.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
  if (ip === 'host-gateway') {
    if (!hostGateway) throw invalid('--add-host host-gateway: no host gateway address is known');
    ip = hostGateway;
  }
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) throw invalid(`invalid host name ${JSON.stringify(name)} in --add-host`);
  if (!ipaddr.isValid(ip)) throw invalid(`invalid IP address ${JSON.stringify(ip)} in --add-host ${spec}`);
  return { name, ip };
}

export interface HostsInput {
  hostname: string;
  domainname?: string;
  /** The container's address on its first network; absent for --network none/host. */
  ip?: string;
  /** Extra names for the container's own address (e.g. its name and aliases). */
  selfNames?: string[];
  extraHosts?: ExtraHost[];
  /** Legacy links: alias → address. */
  links?: Array<{ ip: string; names: string[] }>;
}

export function renderHosts(h: HostsInput): string {
  const L = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of h.extraHosts ?? []) L.push(`${e.ip}\t${e.name}`);
  for (const l of h.links ?? []) L.push(`${l.ip}\t${[...new Set(l.names)].join(' ')}`);
  const fqdn = h.domainname ? `${h.hostname}.${h.domainname}` : '';
  const names = [...new Set([...(fqdn ? [fqdn] : []), h.hostname, ...(h.selfNames ?? [])])].filter(Boolean);
  if (h.ip) L.push(`${h.ip}\t${names.join(' ')}`);
  return L.join('\n') + '\n';
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Parses resolv.conf text (nameserver, search/domain, options lines). */
export function parseResolvConf(text: string): ResolvConf {
  const r: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [k, ...v] = line.split(/\s+/);
    if (k === 'nameserver' && v[0]) r.nameservers.push(v[0]);
    else if (k === 'search' || k === 'domain') r.search = v;
    else if (k === 'options') r.options.push(...v);
  }
  return r;
}

export interface ResolvInput {
  /** The host's resolv.conf content. */
  host: string;
  /** Address of the embedded DNS for this container (network gateway), if it uses it. */
  embeddedDns?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/**
 * Docker's rules: --dns replaces the nameservers; otherwise the embedded DNS if any (it forwards
 * to the host's resolvers); otherwise the host's nameservers minus loopback ones (unreachable from
 * a container's netns), falling back to none. Search and options come from flags or the host.
 */
export function renderResolvConf(r: ResolvInput): string {
  const host = parseResolvConf(r.host);
  for (const d of r.dns ?? []) if (!ipaddr.isValid(d)) throw invalid(`invalid --dns address ${JSON.stringify(d)}`);
  let ns: string[];
  if (r.dns && r.dns.length > 0) ns = r.dns;
  else if (r.embeddedDns) ns = [r.embeddedDns];
  else ns = host.nameservers.filter((n) => !n.startsWith('127.') && n !== '::1');
  const search = r.dnsSearch && r.dnsSearch.length > 0 ? r.dnsSearch.filter((s) => s !== '.') : host.search;
  const options = r.dnsOptions && r.dnsOptions.length > 0 ? r.dnsOptions : host.options;
  const L: string[] = [];
  if (search.length > 0) L.push(`search ${search.join(' ')}`);
  for (const n of ns) L.push(`nameserver ${n}`);
  if (options.length > 0) L.push(`options ${options.join(' ')}`);
  return L.join('\n') + '\n';
}
