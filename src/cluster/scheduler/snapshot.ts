// The scheduler's view of the cluster: normalised nodes and pods (integers, compiled
// selectors), with the indexes the plugins need. The loop keeps one ClusterSnapshot up to
// date from informer events and assumed placements; a scheduling cycle only reads it.
import { invalid } from '../../core/errors.js';
import type { Node, Pod, PriorityClass, Taint, Toleration } from './k8s-types.js';
import { milliValue, value } from './quantity.js';
import {
  compileLabelSelector,
  compileNodeSelectorTerm,
  compileNodeSelectorTerms,
  type Labels,
  type NodeFields,
  type Selector,
} from './selectors.js';

/** Integer resource amounts: milli-CPU, bytes, pod count, bytes; extended resources by name. */
export interface Resources {
  milliCpu: number;
  memory: number;
  ephemeralStorage: number;
  pods: number;
  extended: Map<string, number> | null;
}

export const emptyResources = (): Resources => ({ milliCpu: 0, memory: 0, ephemeralStorage: 0, pods: 0, extended: null });

export interface HostPort {
  protocol: string;
  ip: string;
  port: number;
}

export interface AffinityTerm {
  selector: Selector;
  namespaces: ReadonlySet<string>;
  topologyKey: string;
  weight: number; // 0 for required terms
}

export interface SpreadConstraint {
  maxSkew: number;
  topologyKey: string;
  hard: boolean; // DoNotSchedule
  selector: Selector;
  minDomains: number;
}

export interface PodInfo {
  readonly key: string; // namespace/name
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly labels: Labels;
  readonly requests: Resources; // effective requests, pods = 1
  /** Requests for scoring: unset CPU/memory count as 100m / 200Mi (Kubernetes' non-zero defaults). */
  readonly nonZeroMilliCpu: number;
  readonly nonZeroMemory: number;
  readonly ports: readonly HostPort[];
  readonly priority: number;
  readonly preemptionPolicy: 'PreemptLowerPriority' | 'Never';
  readonly nodeSelector: readonly (readonly [string, string])[];
  readonly requiredNodeAffinity: ((n: NodeFields) => boolean) | null;
  /** Canonical text of nodeSelector + required node affinity (same key, same eligible nodes). */
  readonly nodeAffinityKey: string;
  /**
   * Label pairs of which a feasible node must carry at least one (from nodeSelector or an In
   * expression in every required term), smallest first; null when the pod gives none. Lets the
   * core visit only indexed candidate nodes.
   */
  readonly nodeHints: readonly (readonly string[])[] | null;
  /** Inputs of the node-local filters only (resources, ports, node selection, tolerations). */
  readonly localKey: string;
  readonly preferredNodeAffinity: readonly { weight: number; matches: (n: NodeFields) => boolean }[];
  readonly tolerations: readonly Toleration[];
  readonly affinity: readonly AffinityTerm[]; // required pod affinity
  readonly antiAffinity: readonly AffinityTerm[]; // required pod anti-affinity
  readonly preferredAffinity: readonly AffinityTerm[];
  readonly preferredAntiAffinity: readonly AffinityTerm[];
  readonly spread: readonly SpreadConstraint[];
  readonly images: readonly string[];
  /** Scheduling-relevant content: pods with equal keys get equal answers from the same snapshot. */
  readonly eqKey: string;
  /** Node the pod is bound or assumed to, while it is in a snapshot. */
  nodeName: string | null;
}

export interface NodeInfo {
  readonly name: string;
  index: number;
  readonly labels: Labels;
  readonly taints: readonly Taint[];
  readonly unschedulable: boolean;
  readonly allocatable: Resources;
  readonly requested: Resources;
  nonZeroMilliCpu: number;
  nonZeroMemory: number;
  readonly pods: Map<string, PodInfo>;
  /** "TCP/80" -> host IPs in use. */
  readonly usedPorts: Map<string, string[]>;
  readonly images: ReadonlyMap<string, number>; // normalised name -> size
  /** Snapshot generation of this node's last change. */
  generation: number;
}

export const SYSTEM_PRIORITY_CLASSES: ReadonlyMap<string, number> = new Map([
  ['system-cluster-critical', 2_000_000_000],
  ['system-node-critical', 2_000_001_000],
]);

/** Resolves priorityClassName to a value; knows the built-in system classes. */
export class PriorityClassTable {
  private readonly values = new Map<string, { value: number; policy: 'PreemptLowerPriority' | 'Never' | undefined }>();
  private defaultValue = 0;
  constructor(classes: readonly PriorityClass[] = []) {
    for (const [name, v] of SYSTEM_PRIORITY_CLASSES) this.values.set(name, { value: v, policy: undefined });
    for (const c of classes) this.set(c);
  }
  set(c: PriorityClass): void {
    this.values.set(c.metadata.name ?? '', { value: c.value, policy: c.preemptionPolicy });
    if (c.globalDefault) this.defaultValue = c.value;
  }
  delete(name: string): void {
    this.values.delete(name);
  }
  resolve(name: string | undefined): { value: number; policy: 'PreemptLowerPriority' | 'Never' | undefined } | undefined {
    if (name === undefined || name === '') return { value: this.defaultValue, policy: undefined };
    return this.values.get(name);
  }
}

/** docker.io/library/nginx:latest for "nginx", the way the kubelet reports image names. */
export function normaliseImage(ref: string): string {
  let name = ref;
  const at = name.indexOf('@');
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (at < 0 && colon <= lastSlash) name += ':latest';
  const first = name.split('/')[0]!;
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) name = name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  return name;
}

function addResourceList(into: Resources, list: Record<string, string | number> | undefined, field: string): void {
  if (!list) return;
  for (const [name, q] of Object.entries(list)) {
    const f = `${field}.${name}`;
    switch (name) {
      case 'cpu':
        into.milliCpu += milliValue(q, f);
        break;
      case 'memory':
        into.memory += value(q, f);
        break;
      case 'ephemeral-storage':
        into.ephemeralStorage += value(q, f);
        break;
      case 'pods':
        into.pods += value(q, f);
        break;
      default:
        if (!/^[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(name) && !name.startsWith('hugepages-')) {
          throw invalid(`${f}: unknown resource name ${JSON.stringify(name)}`, { field: f });
        }
        into.extended ??= new Map();
        into.extended.set(name, (into.extended.get(name) ?? 0) + value(q, f));
    }
  }
}

function maxInto(into: Resources, other: Resources): void {
  into.milliCpu = Math.max(into.milliCpu, other.milliCpu);
  into.memory = Math.max(into.memory, other.memory);
  into.ephemeralStorage = Math.max(into.ephemeralStorage, other.ephemeralStorage);
  if (other.extended) {
    into.extended ??= new Map();
    for (const [k, v] of other.extended) into.extended.set(k, Math.max(into.extended.get(k) ?? 0, v));
  }
}

function compileAffinityTerms(
  terms: unknown,
  podNs: string,
  field: string,
  weighted: boolean,
): AffinityTerm[] {
  if (terms === undefined) return [];
  if (!Array.isArray(terms)) throw invalid(`${field}: must be a list`, { field });
  return terms.map((raw: any, i: number) => {
    const f = `${field}[${i}]`;
    const t = weighted ? raw?.podAffinityTerm : raw;
    const weight = weighted ? raw?.weight : 0;
    if (weighted && (!Number.isInteger(weight) || weight < 1 || weight > 100)) {
      throw invalid(`${f}.weight: must be an integer from 1 to 100`, { field: `${f}.weight` });
    }
    const tf = weighted ? `${f}.podAffinityTerm` : f;
    if (!t || typeof t.topologyKey !== 'string' || t.topologyKey === '') {
      throw invalid(`${tf}.topologyKey: required`, { field: `${tf}.topologyKey` });
    }
    const ns: string[] = Array.isArray(t.namespaces) && t.namespaces.length > 0 ? t.namespaces : [podNs];
    return {
      selector: compileLabelSelector(t.labelSelector, `${tf}.labelSelector`),
      namespaces: new Set(ns),
      topologyKey: t.topologyKey,
      weight: weighted ? weight : 0,
    };
  });
}

const termCanon = (t: AffinityTerm) => `${t.topologyKey}|${[...t.namespaces].sort().join(',')}|${t.selector.canonical}|${t.weight}`;

export interface ConvertOptions {
  priorityClasses?: PriorityClassTable;
}

/** Kubernetes-shaped Pod -> PodInfo. Throws InvalidArgument naming the field on bad input. */
export function podInfoFromPod(pod: Pod, opts: ConvertOptions = {}): PodInfo {
  const meta = pod.metadata;
  if (!meta || typeof meta.name !== 'string' || meta.name === '') throw invalid('metadata.name: required', { field: 'metadata.name' });
  const spec = pod.spec;
  if (!spec || !Array.isArray(spec.containers)) throw invalid('spec.containers: required', { field: 'spec.containers' });
  const namespace = meta.namespace ?? 'default';
  const labels = new Map(Object.entries(meta.labels ?? {}));

  const requests = emptyResources();
  const ports: HostPort[] = [];
  const images: string[] = [];
  spec.containers.forEach((c, i) => {
    addResourceList(requests, c.resources?.requests, `spec.containers[${i}].resources.requests`);
    if (c.image) images.push(normaliseImage(c.image));
    (c.ports ?? []).forEach((p, j) => {
      if (p.hostPort === undefined || p.hostPort === 0) return;
      if (!Number.isInteger(p.hostPort) || p.hostPort < 1 || p.hostPort > 65535) {
        const f = `spec.containers[${i}].ports[${j}].hostPort`;
        throw invalid(`${f}: must be from 1 to 65535`, { field: f });
      }
      ports.push({ protocol: p.protocol ?? 'TCP', ip: p.hostIP && p.hostIP !== '' ? p.hostIP : '0.0.0.0', port: p.hostPort });
    });
  });
  (spec.initContainers ?? []).forEach((c, i) => {
    const r = emptyResources();
    addResourceList(r, c.resources?.requests, `spec.initContainers[${i}].resources.requests`);
    maxInto(requests, r);
  });
  addResourceList(requests, spec.overhead, 'spec.overhead');
  requests.pods = 1;
  const hasCpu = spec.containers.some((c) => c.resources?.requests?.cpu !== undefined);
  const hasMem = spec.containers.some((c) => c.resources?.requests?.memory !== undefined);

  // Priority.
  let priority: number;
  let policy: 'PreemptLowerPriority' | 'Never' = spec.preemptionPolicy ?? 'PreemptLowerPriority';
  if (spec.priority !== undefined) {
    if (!Number.isInteger(spec.priority)) throw invalid('spec.priority: must be an integer', { field: 'spec.priority' });
    priority = spec.priority;
  } else {
    const table = opts.priorityClasses ?? new PriorityClassTable();
    const pc = table.resolve(spec.priorityClassName);
    if (!pc) {
      throw invalid(`spec.priorityClassName: no PriorityClass with name ${spec.priorityClassName} was found`, {
        field: 'spec.priorityClassName',
      });
    }
    priority = pc.value;
    if (spec.preemptionPolicy === undefined && pc.policy) policy = pc.policy;
  }

  // Node selection.
  const nodeSelector = Object.entries(spec.nodeSelector ?? {}) as [string, string][];
  const na = spec.affinity?.nodeAffinity;
  const req = na?.requiredDuringSchedulingIgnoredDuringExecution;
  const requiredNodeAffinity = req
    ? compileNodeSelectorTerms(req.nodeSelectorTerms, 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms')
    : null;
  const preferredNodeAffinity = (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p, i) => {
    const f = `spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
    if (!Number.isInteger(p.weight) || p.weight < 1 || p.weight > 100) {
      throw invalid(`${f}.weight: must be an integer from 1 to 100`, { field: `${f}.weight` });
    }
    return { weight: p.weight, matches: compileNodeSelectorTerm(p.preference ?? {}, `${f}.preference`) };
  });

  const tolerations = (spec.tolerations ?? []).map((t, i) => {
    const f = `spec.tolerations[${i}]`;
    const op = t.operator ?? 'Equal';
    if (op !== 'Equal' && op !== 'Exists') throw invalid(`${f}.operator: must be Equal or Exists`, { field: `${f}.operator` });
    if (op === 'Exists' && t.value !== undefined && t.value !== '') {
      throw invalid(`${f}.value: must be empty when operator is Exists`, { field: `${f}.value` });
    }
    if ((t.key === undefined || t.key === '') && op !== 'Exists') {
      throw invalid(`${f}.operator: must be Exists when key is empty`, { field: `${f}.operator` });
    }
    return { ...t, operator: op };
  });

  const pa = spec.affinity?.podAffinity;
  const paa = spec.affinity?.podAntiAffinity;
  const base = 'spec.affinity';
  const affinity = compileAffinityTerms(pa?.requiredDuringSchedulingIgnoredDuringExecution, namespace, `${base}.podAffinity.requiredDuringSchedulingIgnoredDuringExecution`, false);
  const antiAffinity = compileAffinityTerms(paa?.requiredDuringSchedulingIgnoredDuringExecution, namespace, `${base}.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`, false);
  const preferredAffinity = compileAffinityTerms(pa?.preferredDuringSchedulingIgnoredDuringExecution, namespace, `${base}.podAffinity.preferredDuringSchedulingIgnoredDuringExecution`, true);
  const preferredAntiAffinity = compileAffinityTerms(paa?.preferredDuringSchedulingIgnoredDuringExecution, namespace, `${base}.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution`, true);

  const spread = (spec.topologySpreadConstraints ?? []).map((c, i): SpreadConstraint => {
    const f = `spec.topologySpreadConstraints[${i}]`;
    if (!Number.isInteger(c.maxSkew) || c.maxSkew < 1) throw invalid(`${f}.maxSkew: must be an integer of at least 1`, { field: `${f}.maxSkew` });
    if (typeof c.topologyKey !== 'string' || c.topologyKey === '') throw invalid(`${f}.topologyKey: required`, { field: `${f}.topologyKey` });
    if (c.whenUnsatisfiable !== 'DoNotSchedule' && c.whenUnsatisfiable !== 'ScheduleAnyway') {
      throw invalid(`${f}.whenUnsatisfiable: must be DoNotSchedule or ScheduleAnyway`, { field: `${f}.whenUnsatisfiable` });
    }
    const minDomains = c.minDomains ?? 1;
    if (!Number.isInteger(minDomains) || minDomains < 1) throw invalid(`${f}.minDomains: must be at least 1`, { field: `${f}.minDomains` });
    return {
      maxSkew: c.maxSkew,
      topologyKey: c.topologyKey,
      hard: c.whenUnsatisfiable === 'DoNotSchedule',
      selector: compileLabelSelector(c.labelSelector, `${f}.labelSelector`),
      minDomains,
    };
  });

  // Node hints: each alternative is a union of label pairs covering every node the pod may use.
  const hints: string[][] = nodeSelector.map(([k, v]) => [`${k}=${v}`]);
  const terms = req?.nodeSelectorTerms;
  if (terms && terms.length > 0) {
    const union: string[] = [];
    let ok = true;
    for (const t of terms) {
      const inExpr = (t.matchExpressions ?? []).find((e) => e.operator === 'In');
      if (!inExpr) {
        ok = false;
        break;
      }
      for (const v of inExpr.values ?? []) union.push(`${inExpr.key}=${v}`);
    }
    if (ok) hints.push(union);
  }

  // Equivalence keys: every input the plugins read, canonicalised.
  const r = requests;
  const localKey = [
    `${r.milliCpu}/${r.memory}/${r.ephemeralStorage}/${r.extended ? [...r.extended].sort().join(',') : ''}`,
    ports.map((p) => `${p.protocol}:${p.ip}:${p.port}`).join(','),
    JSON.stringify(nodeSelector.slice().sort()),
    JSON.stringify(na?.requiredDuringSchedulingIgnoredDuringExecution ?? null),
    JSON.stringify(tolerations),
  ].join('#');
  const eqKey = [
    localKey,
    namespace,
    [...labels].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(','),
    `${hasCpu ? 1 : 0}${hasMem ? 1 : 0}`,
    priority,
    policy,
    JSON.stringify(na?.preferredDuringSchedulingIgnoredDuringExecution ?? null),
    [...affinity, ...antiAffinity, ...preferredAffinity, ...preferredAntiAffinity].map(termCanon).join('&'),
    spread.map((c) => `${c.maxSkew}|${c.topologyKey}|${c.hard}|${c.minDomains}|${c.selector.canonical}`).join('&'),
    images.join(','),
  ].join('#');

  return {
    key: `${namespace}/${meta.name}`,
    name: meta.name,
    namespace,
    uid: meta.uid ?? '',
    labels,
    requests,
    nonZeroMilliCpu: hasCpu ? requests.milliCpu : Math.max(requests.milliCpu, 100),
    nonZeroMemory: hasMem ? requests.memory : Math.max(requests.memory, 200 * 1024 * 1024),
    ports,
    priority,
    preemptionPolicy: policy,
    nodeSelector,
    requiredNodeAffinity,
    nodeAffinityKey: JSON.stringify([nodeSelector.slice().sort(), req ?? null]),
    nodeHints: hints.length > 0 ? hints : null,
    localKey,
    preferredNodeAffinity,
    tolerations,
    affinity,
    antiAffinity,
    preferredAffinity,
    preferredAntiAffinity,
    spread,
    images,
    eqKey,
    nodeName: spec.nodeName && spec.nodeName !== '' ? spec.nodeName : null,
  };
}

/** Kubernetes-shaped Node -> NodeInfo (no pods yet). */
export function nodeInfoFromNode(node: Node): NodeInfo {
  const name = node.metadata?.name;
  if (typeof name !== 'string' || name === '') throw invalid('metadata.name: required', { field: 'metadata.name' });
  const allocatable = emptyResources();
  addResourceList(allocatable, node.status?.allocatable ?? node.status?.capacity, 'status.allocatable');
  if (node.status?.allocatable?.pods === undefined && node.status?.capacity?.pods === undefined) allocatable.pods = 110;
  const images = new Map<string, number>();
  for (const img of node.status?.images ?? []) {
    for (const n of img.names ?? []) images.set(normaliseImage(n), img.sizeBytes ?? 0);
  }
  return {
    name,
    index: -1,
    labels: new Map(Object.entries(node.metadata.labels ?? {})),
    taints: node.spec?.taints ?? [],
    unschedulable: node.spec?.unschedulable === true,
    allocatable,
    requested: emptyResources(),
    nonZeroMilliCpu: 0,
    nonZeroMemory: 0,
    pods: new Map(),
    usedPorts: new Map(),
    images,
    generation: 0,
  };
}

export interface TermRef {
  readonly pod: PodInfo;
  readonly term: AffinityTerm;
  readonly sign: number;
}

/**
 * Affinity terms of placed pods, indexed by one label pair their selector requires, so finding
 * the terms that match an incoming pod costs O(its labels), not O(pods with terms).
 */
export class TermIndex {
  private readonly byPair = new Map<string, Set<TermRef>>();
  private readonly unindexed = new Set<TermRef>();
  private readonly byPod = new Map<PodInfo, TermRef[]>();
  get size(): number {
    return this.byPod.size;
  }
  add(pod: PodInfo, terms: readonly AffinityTerm[], sign: number): void {
    let refs = this.byPod.get(pod);
    if (!refs) this.byPod.set(pod, (refs = []));
    for (const term of terms) {
      if (term.selector.matchesNothing) continue;
      const ref = { pod, term, sign };
      refs.push(ref);
      const pair = term.selector.requiredPairs[0];
      if (pair === undefined) this.unindexed.add(ref);
      else {
        let set = this.byPair.get(pair);
        if (!set) this.byPair.set(pair, (set = new Set()));
        set.add(ref);
      }
    }
  }
  remove(pod: PodInfo): void {
    const refs = this.byPod.get(pod);
    if (!refs) return;
    this.byPod.delete(pod);
    for (const ref of refs) {
      const pair = ref.term.selector.requiredPairs[0];
      if (pair === undefined) this.unindexed.delete(ref);
      else {
        const set = this.byPair.get(pair);
        set?.delete(ref);
        if (set?.size === 0) this.byPair.delete(pair);
      }
    }
  }
  /** Terms (of pods other than `pod`) whose namespaces and selector match `pod`. */
  *matching(pod: PodInfo): Iterable<TermRef> {
    if (this.byPod.size === 0) return;
    const check = (r: TermRef) => r.pod.key !== pod.key && r.term.namespaces.has(pod.namespace) && r.term.selector.matches(pod.labels);
    for (const r of this.unindexed) if (check(r)) yield r;
    for (const [k, v] of pod.labels) {
      const set = this.byPair.get(`${k}=${v}`);
      if (set) for (const r of set) if (check(r)) yield r;
    }
  }
}

const portKey = (p: HostPort) => `${p.protocol}/${p.port}`;

/**
 * Mutable cluster state with incremental indexes. Every change bumps `generation`; a node's
 * own `generation` records the snapshot generation of its last change, so caches can tell
 * which entries are stale. `nodeSetGeneration` changes only when nodes come, go or change.
 */
export class ClusterSnapshot {
  generation = 0;
  nodeSetGeneration = 0;
  private nodeList: NodeInfo[] = [];
  private readonly byName = new Map<string, NodeInfo>();
  private readonly podsByKey = new Map<string, PodInfo>();
  /** Pods bound to names of nodes the snapshot does not (yet) know. */
  private readonly orphans = new Map<string, PodInfo>();
  /** "key=value" -> placed pods carrying that label. */
  private readonly labelIndex = new Map<string, Set<PodInfo>>();
  /** Required anti-affinity terms of placed pods (they constrain every incoming pod they match). */
  readonly antiAffinityTerms = new TermIndex();
  /** Preferred affinity (+1) and anti-affinity (-1) terms of placed pods, for symmetric scoring. */
  readonly preferredTerms = new TermIndex();
  /** Normalised image name -> number of nodes that have it. */
  readonly imageNodeCount = new Map<string, number>();

  private nodeLabelIndex = new Map<string, NodeInfo[]>();
  private nodeLabelIndexGen = -1;

  get nodes(): readonly NodeInfo[] {
    return this.nodeList;
  }
  /** Nodes carrying label pair "k=v", in index order (rebuilt lazily when the node set changes). */
  nodesWithLabel(pair: string): readonly NodeInfo[] {
    if (this.nodeLabelIndexGen !== this.nodeSetGeneration) {
      this.nodeLabelIndex = new Map();
      for (const n of this.nodeList) {
        for (const [k, v] of n.labels) {
          const p = `${k}=${v}`;
          let l = this.nodeLabelIndex.get(p);
          if (!l) this.nodeLabelIndex.set(p, (l = []));
          l.push(n);
        }
      }
      this.nodeLabelIndexGen = this.nodeSetGeneration;
    }
    return this.nodeLabelIndex.get(pair) ?? [];
  }
  /** The smallest candidate node list the pod's hints allow (index order), or null for all nodes. */
  private unionCache = new Map<string, readonly NodeInfo[]>();
  private unionCacheGen = -1;
  candidateNodes(pod: PodInfo): readonly NodeInfo[] | null {
    if (pod.nodeHints === null) return null;
    if (this.unionCacheGen !== this.nodeSetGeneration || this.unionCache.size > 1000) {
      this.unionCache = new Map();
      this.unionCacheGen = this.nodeSetGeneration;
    }
    let best: readonly NodeInfo[] | null = null;
    for (const alt of pod.nodeHints) {
      let list: readonly NodeInfo[];
      if (alt.length === 1) list = this.nodesWithLabel(alt[0]!);
      else {
        const key = alt.join('\u0000');
        const hit = this.unionCache.get(key);
        if (hit) list = hit;
        else {
          const seen = new Set<NodeInfo>();
          for (const pair of alt) for (const n of this.nodesWithLabel(pair)) seen.add(n);
          list = [...seen].sort((a, b) => a.index - b.index);
          this.unionCache.set(key, list);
        }
      }
      if (best === null || list.length < best.length) best = list;
    }
    return best;
  }
  get podCount(): number {
    return this.podsByKey.size;
  }
  node(name: string): NodeInfo | undefined {
    return this.byName.get(name);
  }
  pod(key: string): PodInfo | undefined {
    return this.podsByKey.get(key) ?? this.orphans.get(key);
  }
  *allPods(): Iterable<PodInfo> {
    yield* this.podsByKey.values();
  }
  /** Placed pods carrying label pair "k=v". */
  podsWithLabel(pair: string): ReadonlySet<PodInfo> | undefined {
    return this.labelIndex.get(pair);
  }
  /** Placed pods that may match `sel`: the smallest indexed candidate set, or all pods. */
  candidates(sel: Selector): Iterable<PodInfo> {
    if (sel.matchesNothing) return [];
    let best: ReadonlySet<PodInfo> | undefined;
    for (const pair of sel.requiredPairs) {
      const s = this.labelIndex.get(pair);
      if (!s) return [];
      if (!best || s.size < best.size) best = s;
    }
    return best ?? this.podsByKey.values();
  }

  /** Adds or replaces a node, keeping its placed pods. */
  upsertNode(node: NodeInfo): void {
    const old = this.byName.get(node.name);
    this.generation++;
    this.nodeSetGeneration++;
    if (old) {
      for (const img of old.images.keys()) this.decImage(img);
      node.index = old.index;
      this.nodeList[old.index] = node;
      for (const p of old.pods.values()) this.accountPod(node, p, +1);
    } else {
      node.index = this.nodeList.length;
      this.nodeList.push(node);
    }
    this.byName.set(node.name, node);
    for (const img of node.images.keys()) this.imageNodeCount.set(img, (this.imageNodeCount.get(img) ?? 0) + 1);
    node.generation = this.generation;
    for (const [k, p] of this.orphans) {
      if (p.nodeName === node.name) {
        this.orphans.delete(k);
        this.placePod(node, p);
      }
    }
  }

  removeNode(name: string): void {
    const node = this.byName.get(name);
    if (!node) return;
    this.generation++;
    this.nodeSetGeneration++;
    for (const p of node.pods.values()) {
      this.unindexPod(p);
      this.podsByKey.delete(p.key);
      this.orphans.set(p.key, p);
    }
    for (const img of node.images.keys()) this.decImage(img);
    this.byName.delete(name);
    this.nodeList.splice(node.index, 1);
    this.nodeList.forEach((n, i) => (n.index = i));
  }

  /** Records a pod as placed on `nodeName` (bound, or assumed by the scheduler). */
  addPod(pod: PodInfo, nodeName: string): void {
    if (this.podsByKey.has(pod.key) || this.orphans.has(pod.key)) this.removePod(pod.key);
    pod.nodeName = nodeName;
    this.generation++;
    const node = this.byName.get(nodeName);
    if (!node) {
      this.orphans.set(pod.key, pod);
      return;
    }
    this.placePod(node, pod);
  }

  removePod(key: string): PodInfo | undefined {
    const orphan = this.orphans.get(key);
    if (orphan) {
      this.orphans.delete(key);
      this.generation++;
      return orphan;
    }
    const pod = this.podsByKey.get(key);
    if (!pod) return undefined;
    this.generation++;
    const node = this.byName.get(pod.nodeName!)!;
    node.pods.delete(key);
    this.accountPod(node, pod, -1);
    node.generation = this.generation;
    this.podsByKey.delete(key);
    this.unindexPod(pod);
    return pod;
  }

  private placePod(node: NodeInfo, pod: PodInfo): void {
    node.pods.set(pod.key, pod);
    this.accountPod(node, pod, +1);
    node.generation = this.generation;
    this.podsByKey.set(pod.key, pod);
    for (const [k, v] of pod.labels) {
      const pair = `${k}=${v}`;
      let s = this.labelIndex.get(pair);
      if (!s) this.labelIndex.set(pair, (s = new Set()));
      s.add(pod);
    }
    if (pod.antiAffinity.length > 0) this.antiAffinityTerms.add(pod, pod.antiAffinity, 1);
    if (pod.preferredAffinity.length > 0) this.preferredTerms.add(pod, pod.preferredAffinity, 1);
    if (pod.preferredAntiAffinity.length > 0) this.preferredTerms.add(pod, pod.preferredAntiAffinity, -1);
  }

  private unindexPod(pod: PodInfo): void {
    for (const [k, v] of pod.labels) {
      const pair = `${k}=${v}`;
      const s = this.labelIndex.get(pair);
      if (s) {
        s.delete(pod);
        if (s.size === 0) this.labelIndex.delete(pair);
      }
    }
    this.antiAffinityTerms.remove(pod);
    this.preferredTerms.remove(pod);
  }

  private accountPod(node: NodeInfo, pod: PodInfo, sign: 1 | -1): void {
    const r = node.requested;
    const q = pod.requests;
    r.milliCpu += sign * q.milliCpu;
    r.memory += sign * q.memory;
    r.ephemeralStorage += sign * q.ephemeralStorage;
    r.pods += sign;
    if (q.extended) {
      r.extended ??= new Map();
      for (const [k, v] of q.extended) r.extended.set(k, (r.extended.get(k) ?? 0) + sign * v);
    }
    node.nonZeroMilliCpu += sign * pod.nonZeroMilliCpu;
    node.nonZeroMemory += sign * pod.nonZeroMemory;
    for (const p of pod.ports) {
      const k = portKey(p);
      if (sign > 0) {
        const ips = node.usedPorts.get(k);
        if (ips) ips.push(p.ip);
        else node.usedPorts.set(k, [p.ip]);
      } else {
        const ips = node.usedPorts.get(k);
        if (ips) {
          const i = ips.indexOf(p.ip);
          if (i >= 0) ips.splice(i, 1);
          if (ips.length === 0) node.usedPorts.delete(k);
        }
      }
    }
  }

  private decImage(img: string): void {
    const n = (this.imageNodeCount.get(img) ?? 1) - 1;
    if (n <= 0) this.imageNodeCount.delete(img);
    else this.imageNodeCount.set(img, n);
  }
}

export { portKey };
