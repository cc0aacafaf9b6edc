import type { PortMapping } from './ports.js';

// Domain types of the networks engine (not wire types: the Docker API adapter converts).

export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge';
  bridge: string;
  subnet: string;
  gateway: string;
  ipRange?: string;
  internal: boolean;
  mtu: number;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** The daemon's default `bridge` network: no name resolution, cannot be removed. */
  isDefault: boolean;
  /** Creation time, ms since the epoch. */
  created: number;
}

export interface PublishedPort extends PortMapping {
  /** The host port actually used (ephemeral ones resolved). */
  hostPort: number;
}

export interface Link {
  /** Name of the linked container. */
  name: string;
  /** Alias under which it resolves inside the linking container. */
  alias: string;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  containerId: string;
  containerName: string;
  netnsPath: string;
  /** Interface name inside the container (eth0, eth1, …). */
  ifName: string;
  hostIf: string;
  ip: string;
  mac: string;
  aliases: string[];
  links: Link[];
  ports: PublishedPort[];
  created: number;
}

/** What the containers engine gets back from an attach. */
export interface Endpoint {
  endpointId: string;
  networkId: string;
  networkName: string;
  ifName: string;
  ip: string;
  prefixLen: number;
  mac: string;
  /** Empty on internal networks (no default route). */
  gateway: string;
  ports: PublishedPort[];
}
