import type { KubeObject } from './meta.js';
import { VOLUME_SOURCES } from './core-v1.js';

// Defaulting, as Kubernetes does for the fields Wharf supports. Mutates the object in place.
// Runs after schema validation (so shapes are known) and before semantic validation.

type Obj = Record<string, any>;

function defaultContainer(c: Obj): void {
  if (c.imagePullPolicy === undefined) {
    const img = String(c.image ?? '');
    const lastSeg = img.split('/').pop() ?? '';
    const tagged = lastSeg.includes(':') || img.includes('@');
    c.imagePullPolicy = !tagged || img.endsWith(':latest') ? 'Always' : 'IfNotPresent';
  }
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  for (const p of (c.ports as Obj[] | undefined) ?? []) p.protocol ??= 'TCP';
  const res = c.resources as Obj | undefined;
  if (res?.limits) {
    res.requests ??= {};
    for (const [k, v] of Object.entries(res.limits as Obj)) res.requests[k] ??= v;
  }
  for (const pr of [c.livenessProbe, c.readinessProbe, c.startupProbe] as (Obj | undefined)[]) {
    if (!pr) continue;
    pr.timeoutSeconds ??= 1;
    pr.periodSeconds ??= 10;
    pr.successThreshold ??= 1;
    pr.failureThreshold ??= 3;
    if (pr.httpGet) {
      pr.httpGet.path ??= '/';
      pr.httpGet.scheme ??= 'HTTP';
    }
  }
}

/** Pod spec defaults (also applied to every pod template). */
export function defaultPodSpec(spec: Obj, restartPolicy = 'Always'): void {
  spec.restartPolicy ??= restartPolicy;
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.enableServiceLinks ??= true;
  spec.securityContext ??= {};
  for (const c of (spec.containers as Obj[] | undefined) ?? []) defaultContainer(c);
  for (const c of (spec.initContainers as Obj[] | undefined) ?? []) defaultContainer(c);
  for (const v of (spec.volumes as Obj[] | undefined) ?? []) {
    // Like Kubernetes: a volume that names no source is an emptyDir.
    if (!VOLUME_SOURCES.some((k) => v[k] !== undefined)) v.emptyDir = {};
    if (v.configMap) v.configMap.defaultMode ??= 0o644;
    if (v.secret) v.secret.defaultMode ??= 0o644;
    if (v.downwardAPI) v.downwardAPI.defaultMode ??= 0o644;
    if (v.projected) v.projected.defaultMode ??= 0o644;
    if (v.hostPath) v.hostPath.type ??= '';
    if (v.persistentVolumeClaim) v.persistentVolumeClaim.readOnly ??= false;
  }
}

/** QoS class from requests/limits, as Kubernetes computes it. */
export function qosClass(spec: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...((spec.containers as Obj[] | undefined) ?? []), ...((spec.initContainers as Obj[] | undefined) ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req = (c.resources?.requests ?? {}) as Obj;
    const lim = (c.resources?.limits ?? {}) as Obj;
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || String(req[r] ?? lim[r]) !== String(lim[r])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** Tolerations the DefaultTolerationSeconds admission plugin adds: evict 300 s after a node goes NotReady/unreachable. */
function defaultTolerations(spec: Obj): void {
  const tol = ((spec.tolerations as Obj[] | undefined) ?? []).slice();
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    const has = tol.some((t) => (t.key === key || (t.key === undefined && t.operator === 'Exists')) && (t.effect ?? 'NoExecute') === 'NoExecute');
    if (!has) tol.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  spec.tolerations = tol;
}

function defaultTemplate(tpl: Obj | undefined, restartPolicy = 'Always'): void {
  if (!tpl) return;
  tpl.metadata ??= {};
  if (tpl.spec) defaultPodSpec(tpl.spec, restartPolicy);
}

function defaultJobSpec(s: Obj): void {
  if (s.parallelism === undefined && s.completions === undefined) s.completions = 1;
  s.parallelism ??= 1;
  s.backoffLimit ??= 6;
  s.completionMode ??= 'NonIndexed';
  s.suspend ??= false;
  // Wharf nicety: a Job's pods must not restart in place, so an unset restartPolicy means Never.
  defaultTemplate(s.template, 'Never');
}

export function applyDefaults(obj: KubeObject): void {
  const o = obj as Obj;
  switch (`${o.apiVersion}/${o.kind}`) {
    case 'v1/Pod':
      defaultPodSpec(o.spec);
      defaultTolerations(o.spec);
      // spec.priority comes from the Priority admission (the API server's pod create).
      break;
    case 'v1/Namespace':
      o.spec ??= {};
      o.spec.finalizers ??= ['kubernetes'];
      break;
    case 'v1/Service': {
      o.spec ??= {};
      o.spec.type ??= 'ClusterIP';
      o.spec.sessionAffinity ??= 'None';
      o.spec.internalTrafficPolicy ??= 'Cluster';
      for (const p of (o.spec.ports as Obj[] | undefined) ?? []) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      if (o.spec.type === 'NodePort' || o.spec.type === 'LoadBalancer') o.spec.externalTrafficPolicy ??= 'Cluster';
      break;
    }
    case 'v1/Secret':
      o.type ??= 'Opaque';
      if (o.stringData) {
        o.data ??= {};
        for (const [k, v] of Object.entries(o.stringData as Record<string, string>)) o.data[k] = Buffer.from(v, 'utf8').toString('base64');
        delete o.stringData;
      }
      break;
    case 'v1/Event':
      o.type ??= 'Normal';
      o.count ??= 1;
      break;
    case 'apps/v1/Deployment': {
      const s = o.spec;
      s.replicas ??= 1;
      s.strategy ??= {};
      s.strategy.type ??= 'RollingUpdate';
      if (s.strategy.type === 'RollingUpdate') {
        s.strategy.rollingUpdate ??= {};
        s.strategy.rollingUpdate.maxSurge ??= '25%';
        s.strategy.rollingUpdate.maxUnavailable ??= '25%';
      }
      s.revisionHistoryLimit ??= 10;
      s.progressDeadlineSeconds ??= 600;
      s.minReadySeconds ??= 0;
      defaultTemplate(s.template);
      break;
    }
    case 'apps/v1/ReplicaSet':
      o.spec.replicas ??= 1;
      o.spec.minReadySeconds ??= 0;
      defaultTemplate(o.spec.template);
      break;
    case 'apps/v1/DaemonSet': {
      const s = o.spec;
      s.updateStrategy ??= {};
      s.updateStrategy.type ??= 'RollingUpdate';
      if (s.updateStrategy.type === 'RollingUpdate') {
        s.updateStrategy.rollingUpdate ??= {};
        s.updateStrategy.rollingUpdate.maxUnavailable ??= 1;
        s.updateStrategy.rollingUpdate.maxSurge ??= 0;
      }
      s.revisionHistoryLimit ??= 10;
      s.minReadySeconds ??= 0;
      defaultTemplate(s.template);
      break;
    }
    case 'apps/v1/StatefulSet': {
      const s = o.spec;
      s.replicas ??= 1;
      s.podManagementPolicy ??= 'OrderedReady';
      s.updateStrategy ??= {};
      s.updateStrategy.type ??= 'RollingUpdate';
      if (s.updateStrategy.type === 'RollingUpdate') {
        s.updateStrategy.rollingUpdate ??= {};
        s.updateStrategy.rollingUpdate.partition ??= 0;
      }
      s.revisionHistoryLimit ??= 10;
      s.minReadySeconds ??= 0;
      s.persistentVolumeClaimRetentionPolicy ??= {};
      s.persistentVolumeClaimRetentionPolicy.whenDeleted ??= 'Retain';
      s.persistentVolumeClaimRetentionPolicy.whenScaled ??= 'Retain';
      for (const t of (s.volumeClaimTemplates as Obj[] | undefined) ?? []) {
        t.apiVersion ??= 'v1';
        t.kind ??= 'PersistentVolumeClaim';
        t.spec ??= {};
        t.spec.volumeMode ??= 'Filesystem';
      }
      defaultTemplate(s.template);
      break;
    }
    case 'v1/PersistentVolume':
      o.spec ??= {};
      o.spec.persistentVolumeReclaimPolicy ??= 'Retain';
      o.spec.volumeMode ??= 'Filesystem';
      if (o.spec.hostPath) o.spec.hostPath.type ??= '';
      break;
    case 'v1/PersistentVolumeClaim':
      o.spec ??= {};
      o.spec.volumeMode ??= 'Filesystem';
      break;
    case 'storage.k8s.io/v1/StorageClass':
      o.reclaimPolicy ??= 'Delete';
      o.volumeBindingMode ??= 'Immediate';
      break;
    case 'batch/v1/CronJob': {
      const s = o.spec;
      s.concurrencyPolicy ??= 'Allow';
      s.suspend ??= false;
      s.successfulJobsHistoryLimit ??= 3;
      s.failedJobsHistoryLimit ??= 1;
      defaultJobSpec(s.jobTemplate.spec);
      break;
    }
    case 'batch/v1/Job': {
      defaultJobSpec(o.spec);
      break;
    }
    case 'wharf.dev/v1/Workflow': {
      const s = o.spec;
      s.onFailure ??= 'stop';
      for (const t of (s.tasks as Obj[] | undefined) ?? []) {
        t.dependencies ??= [];
        t.retries ??= 0;
        defaultTemplate(t.template, 'Never');
      }
      break;
    }
  }
}
