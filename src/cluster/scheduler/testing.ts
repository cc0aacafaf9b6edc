// Builders of Kubernetes-shaped nodes and pods for tests and benchmarks.
import type { Node, Pod, PodSpec, Taint } from './k8s-types.js';

export interface NodeShape {
  cpu?: string | number;
  memory?: string;
  pods?: number;
  ephemeralStorage?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
  images?: { names: string[]; sizeBytes: number }[];
  extended?: Record<string, string | number>;
}

export function makeNode(name: string, s: NodeShape = {}): Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(s.labels ?? {}) } },
    spec: { ...(s.taints ? { taints: s.taints } : {}), ...(s.unschedulable ? { unschedulable: true } : {}) },
    status: {
      allocatable: {
        cpu: s.cpu ?? '4',
        memory: s.memory ?? '8Gi',
        pods: s.pods ?? 110,
        'ephemeral-storage': s.ephemeralStorage ?? '100Gi',
        ...(s.extended ?? {}),
      },
      ...(s.images ? { images: s.images } : {}),
    },
  };
}

export interface PodShape extends Partial<Omit<PodSpec, 'containers'>> {
  cpu?: string;
  memory?: string;
  ephemeralStorage?: string;
  labels?: Record<string, string>;
  namespace?: string;
  hostPorts?: (number | { hostPort: number; hostIP?: string; protocol?: 'TCP' | 'UDP' })[];
  image?: string;
  extended?: Record<string, string | number>;
}

export function makePod(name: string, s: PodShape = {}): Pod {
  const { cpu, memory, ephemeralStorage, labels, namespace, hostPorts, image, extended, ...spec } = s;
  const requests: Record<string, string | number> = { ...(extended ?? {}) };
  if (cpu !== undefined) requests.cpu = cpu;
  if (memory !== undefined) requests.memory = memory;
  if (ephemeralStorage !== undefined) requests['ephemeral-storage'] = ephemeralStorage;
  return {
    metadata: { name, namespace: namespace ?? 'default', uid: `uid-${name}`, labels: labels ?? {} },
    spec: {
      ...spec,
      containers: [
        {
          name: 'c',
          image: image ?? 'busybox',
          resources: { requests },
          ports: (hostPorts ?? []).map((p) => (typeof p === 'number' ? { containerPort: p, hostPort: p } : { containerPort: p.hostPort, ...p })),
        },
      ],
    },
  };
}
