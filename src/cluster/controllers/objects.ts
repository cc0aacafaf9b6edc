// Structural views of the cluster objects the controllers read and write, with
// Kubernetes' field names. They are a subset of the API server's types
// (src/cluster/apis/): the controllers' pure cores only need these fields, and an
// object of the full type is assignable to them.

export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface Meta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerRef[];
  finalizers?: string[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
  lastHeartbeatTime?: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface EnvVar {
  name: string;
  value?: string;
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  [field: string]: unknown;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

export interface PodSpec {
  containers: Container[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  nodeName?: string;
  tolerations?: Toleration[];
  activeDeadlineSeconds?: number;
  [field: string]: unknown;
}

export interface PodTemplate {
  metadata?: Meta;
  spec?: PodSpec;
}

export interface ContainerStatus {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: { terminated?: { exitCode: number; message?: string; reason?: string }; running?: object; waiting?: object };
  [field: string]: unknown;
}

export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  conditions?: Condition[];
  reason?: string;
  message?: string;
  startTime?: string;
  containerStatuses?: ContainerStatus[];
  [field: string]: unknown;
}

export interface Pod extends Obj {
  spec: PodSpec;
  status?: PodStatus;
}

export interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  fullyLabeledReplicas?: number;
  conditions?: Condition[];
  collisionCount?: number;
}

export interface ReplicaSet extends Obj {
  spec: { selector: LabelSelector; template?: PodTemplate; replicas?: number; minReadySeconds?: number };
  status?: WorkloadStatus;
}

export interface Deployment extends Obj {
  spec: {
    selector: LabelSelector;
    template: PodTemplate;
    replicas?: number;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    progressDeadlineSeconds?: number;
    paused?: boolean;
  };
  status?: WorkloadStatus;
}

export interface JobStatus {
  active?: number;
  succeeded?: number;
  failed?: number;
  ready?: number;
  startTime?: string;
  completionTime?: string;
  completedIndexes?: string;
  conditions?: Condition[];
  observedGeneration?: number;
}

export interface Job extends Obj {
  spec: {
    template: PodTemplate;
    parallelism?: number;
    completions?: number;
    backoffLimit?: number;
    activeDeadlineSeconds?: number;
    ttlSecondsAfterFinished?: number;
    completionMode?: 'NonIndexed' | 'Indexed';
    selector?: LabelSelector;
    suspend?: boolean;
  };
  status?: JobStatus;
}

export interface CronJob extends Obj {
  spec: {
    schedule: string;
    timeZone?: string;
    startingDeadlineSeconds?: number;
    concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
    suspend?: boolean;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
    jobTemplate: { metadata?: Meta; spec: Job['spec'] };
  };
  status?: { active?: ObjectReference[]; lastScheduleTime?: string; lastSuccessfulTime?: string };
}

export interface DaemonSet extends Obj {
  spec: {
    selector: LabelSelector;
    template: PodTemplate;
    updateStrategy?: { type?: 'RollingUpdate' | 'OnDelete'; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
  };
  status?: {
    currentNumberScheduled?: number;
    desiredNumberScheduled?: number;
    numberMisscheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    numberUnavailable?: number;
    updatedNumberScheduled?: number;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

export interface WorkflowTask {
  name: string;
  template: PodTemplate;
  dependencies?: string[];
  retries?: number;
  timeoutSeconds?: number;
}

export type TaskPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped';

export interface WorkflowTaskStatus {
  phase?: TaskPhase;
  attempts?: number;
  podName?: string;
  startTime?: string;
  completionTime?: string;
  message?: string;
  outputs?: Record<string, string>;
}

export interface Workflow extends Obj {
  spec: {
    tasks: WorkflowTask[];
    onFailure?: 'stop' | 'continue';
    parameters?: { name: string; value?: string; description?: string }[];
  };
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
    startTime?: string;
    completionTime?: string;
    message?: string;
    observedGeneration?: number;
    tasks?: Record<string, WorkflowTaskStatus>;
    conditions?: Condition[];
  };
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  timeAdded?: string;
}

export interface Node extends Obj {
  spec?: { unschedulable?: boolean; taints?: Taint[]; [field: string]: unknown };
  status?: { conditions?: Condition[]; [field: string]: unknown };
}

export interface Lease extends Obj {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  uid?: string;
}

export interface KEvent extends Obj {
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  type?: 'Normal' | 'Warning';
  source?: { component?: string; host?: string };
  firstTimestamp?: string;
  lastTimestamp?: string;
  count?: number;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the workqueue key. */
export function keyOf(o: { metadata: Meta }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata.name ?? '');
}

export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

export function controllerRef(o: { metadata: Meta }): OwnerRef | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function ownerRefTo(owner: Obj): OwnerRef {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function matchesSelector(sel: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return false; // a workload without a selector selects nothing (Kubernetes: nil selector matches nothing)
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const vals = e.values ?? [];
    if (e.operator === 'In' && !(has && vals.includes(l[e.key]!))) return false;
    if (e.operator === 'NotIn' && has && vals.includes(l[e.key]!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

export function getCondition(conds: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

/**
 * Sets a condition and returns a new array. An unchanged condition (same status, reason
 * and message) is kept as it was unless `touch` is set (then only lastUpdateTime moves);
 * lastTransitionTime changes only when the status changes.
 */
export function setCondition(conds: readonly Condition[] | undefined, c: Condition, nowIso: string, touch = false): Condition[] {
  const out = [...(conds ?? [])];
  const i = out.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? out[i] : undefined;
  if (prev && prev.status === c.status && prev.reason === c.reason && prev.message === c.message && !touch) return out;
  const next: Condition = {
    ...c,
    lastTransitionTime: prev && prev.status === c.status ? (prev.lastTransitionTime ?? nowIso) : nowIso,
  };
  if (i >= 0) out[i] = next;
  else out.push(next);
  return out;
}

export function isTerminating(o: { metadata: Meta }): boolean {
  return o.metadata.deletionTimestamp !== undefined;
}

export function clone<T>(o: T): T {
  return structuredClone(o);
}
