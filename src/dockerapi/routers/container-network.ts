import type { ContainerRecord } from '../../engine/containers/types.js';
import type { EndpointRecord, NetworkRecord } from '../../engine/networks/types.js';

// Docker's network fields of a container (inspect NetworkSettings, HostConfig network fields,
// the Ports of `docker ps`) from the container's request and its live endpoints.

/** What the container routes need to show a container's networking (ContainerNetworking satisfies it). */
export interface ContainerNetworkView {
  endpointsOf(id: string): Array<{ network: NetworkRecord; endpoint: EndpointRecord; prefixLen: number }>;
  findNetwork(ref: string): NetworkRecord | undefined;
}

function modeOf(r: ContainerRecord): string {
  const m = r.request.network?.mode;
  return !m || m === 'default' ? 'bridge' : m;
}

export function hostConfigNetwork(r: ContainerRecord): Record<string, unknown> {
  const n = r.request.network;
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of n?.ports ?? []) {
    const key = `${p.containerPort}/${p.proto}`;
    (bindings[key] ??= []).push({ HostIp: p.hostIp, HostPort: p.hostPort ? (p.hostPortEnd ? `${p.hostPort}-${p.hostPortEnd}` : String(p.hostPort)) : '' });
  }
  return {
    NetworkMode: modeOf(r),
    PortBindings: bindings,
    PublishAllPorts: n?.publishAll === true,
    Links: n?.links?.length ? n.links : null,
    Dns: n?.dns ?? [],
    DnsSearch: n?.dnsSearch ?? [],
    DnsOptions: n?.dnsOptions ?? [],
    ExtraHosts: n?.extraHosts?.length ? n.extraHosts : null,
  };
}

const EMPTY_EP = { IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', DriverOpts: null, GwPriority: 0, NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null };

export function containerNetworkSettings(r: ContainerRecord, view?: ContainerNetworkView): Record<string, unknown> {
  const mode = modeOf(r);
  const req = r.request.network;
  const eps = view?.endpointsOf(r.id) ?? [];
  const networks: Record<string, unknown> = {};
  const special = mode === 'host' || mode === 'none' || mode.startsWith('container:');
  const configured = special ? (mode.startsWith('container:') ? [] : [mode]) : [mode, ...Object.keys(req?.endpoints ?? {}).filter((k) => k !== mode)];
  for (const name of configured) {
    const rec = special ? undefined : view?.findNetwork(name);
    const key = rec?.name ?? name;
    const cfg = req?.endpoints?.[name] ?? (rec ? req?.endpoints?.[rec.name] : undefined);
    const ep = rec ? eps.find((e) => e.network.id === rec.id) : undefined;
    const aliases = cfg?.aliases?.length ? cfg.aliases : null;
    networks[key] = {
      ...EMPTY_EP,
      IPAMConfig: cfg?.ipv4 ? { IPv4Address: cfg.ipv4 } : null,
      Links: req?.links?.length && rec && !rec.isDefault ? req.links : null,
      Aliases: aliases,
      NetworkID: rec?.id ?? '',
      ...(ep
        ? {
            MacAddress: ep.endpoint.mac,
            EndpointID: ep.endpoint.id,
            Gateway: ep.network.internal ? '' : ep.network.gateway,
            IPAddress: ep.endpoint.ip,
            IPPrefixLen: ep.prefixLen,
            DNSNames: ep.network.isDefault ? null : [r.name, r.id.slice(0, 12), ...(aliases ?? [])],
          }
        : {}),
    };
  }
  // Endpoints attached meanwhile (connect on a running container) but not yet in the request.
  for (const ep of eps) {
    if (ep.network.name in networks) continue;
    networks[ep.network.name] = { ...EMPTY_EP, NetworkID: ep.network.id, MacAddress: ep.endpoint.mac, EndpointID: ep.endpoint.id, Gateway: ep.network.gateway, IPAddress: ep.endpoint.ip, IPPrefixLen: ep.prefixLen };
  }
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  const running = r.state.status === 'running' || r.state.status === 'paused';
  if (running && !special) {
    for (const p of [...(r.imageConfig.exposedPorts ?? []), ...(req?.exposed ?? [])]) ports[p.includes('/') ? p : `${p}/tcp`] = null;
    for (const ep of eps) {
      for (const p of ep.endpoint.ports) {
        const key = `${p.containerPort}/${p.proto}`;
        const list = ports[key] ?? [];
        list.push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
        ports[key] = list;
      }
    }
  }
  const def = eps.find((e) => e.network.isDefault);
  const sandbox = eps[0]?.endpoint.netnsPath ?? '';
  return {
    Bridge: '',
    SandboxID: sandbox ? sandbox.split('/').pop()! : '',
    SandboxKey: sandbox,
    Ports: ports,
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: def?.endpoint.id ?? '',
    Gateway: def?.network.gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: def?.endpoint.ip ?? '',
    IPPrefixLen: def?.prefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: def?.endpoint.mac ?? '',
    Networks: networks,
  };
}

/** The Ports column of `docker ps` (GET /containers/json). */
export function containerPortsSummary(r: ContainerRecord, view?: ContainerNetworkView): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  if (!view) return out;
  const seen = new Set<string>();
  for (const ep of view.endpointsOf(r.id)) {
    for (const p of ep.endpoint.ports) {
      out.push({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.proto });
      seen.add(`${p.containerPort}/${p.proto}`);
    }
  }
  if (r.state.status === 'running') {
    for (const p of [...(r.imageConfig.exposedPorts ?? []), ...(r.request.network?.exposed ?? [])]) {
      const [port, proto = 'tcp'] = p.split('/') as [string, string | undefined];
      if (!seen.has(`${port}/${proto}`)) out.push({ PrivatePort: Number(port), Type: proto });
    }
  }
  return out;
}
