import type { BindMount, NamespaceMode } from '../runtime/spec.js';
import type { ContainerRecord } from './types.js';

// The seam between the containers engine and networking: the engine calls the hook at create
// (validate), at start (set up the sandbox: netns + /etc files) and whenever a run ends or the
// container is removed (tear down). The networks area implements it (ContainerNetworking); the
// engine knows nothing about bridges, IPAM or netfilter.

/** What a container asks of the network, in engine terms (the Docker API adapter converts). */
export interface ContainerNetworkRequest {
  /** `bridge` (default), `host`, `none`, `container:<name|id>`, or a user network's name or ID. */
  mode: string;
  /** Per-network endpoint settings (EndpointsConfig), including extra networks to join. */
  endpoints?: Record<string, { ipv4?: string; aliases?: string[] }>;
  /** Published ports: `-p` (PortBindings). */
  ports?: Array<{ hostIp: string; hostPort: number; hostPortEnd?: number; containerPort: number; proto: 'tcp' | 'udp' }>;
  /** `-P`: publish every exposed port (the image's EXPOSE and `--expose`) on an ephemeral host port. */
  publishAll?: boolean;
  /** Exposed ports ("80/tcp") from the create request (the image's come from imageConfig). */
  exposed?: string[];
  /** `--link name[:alias]`. */
  links?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** `--add-host name:ip`. */
  extraHosts?: string[];
}

export interface Sandbox {
  /** The network namespace for the OCI spec. */
  net: NamespaceMode;
  /** /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  mounts: BindMount[];
}

export interface ContainerNetworkHook {
  /** At create: checks the request (networks exist, ports are valid); changes nothing. */
  validate(req: ContainerNetworkRequest | undefined, ctx: { id: string; name: string }): void;
  /** At start, before the spec is built. On failure nothing is left behind. */
  setup(r: ContainerRecord): Promise<Sandbox>;
  /** When a run ends (exit, failed start) and at removal: frees addresses, veths, rules. Idempotent. */
  teardown(id: string): Promise<void>;
}
