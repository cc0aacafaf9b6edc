import type { z } from 'zod';
import * as core from './core-v1.js';
import * as apps from './apps-v1.js';
import { cronJobSchema, jobSchema } from './batch-v1.js';
import { priorityClassSchema } from './scheduling-v1.js';
import { leaseSchema } from './coordination-v1.js';
import { storageClassSchema } from './storage-v1.js';
import { workflowSchema } from './wharf-v1.js';

// The resources the API server serves: one entry per kind, the single source of truth for
// URL layout, discovery, CLI kind aliases and validation.

export type Subresource = 'status' | 'scale' | 'binding' | 'finalize' | 'log' | 'exec' | 'attach' | 'portforward';

export interface ResourceInfo {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  schema: z.ZodType;
  subresources: Subresource[];
  /** Name rule for metadata.name. */
  nameRule: 'label' | 'subdomain';
  /** Field selectors accepted on list/watch beyond metadata.name and metadata.namespace. */
  fieldSelectors: string[];
  /** Whether spec changes bump metadata.generation. */
  hasSpec: boolean;
}

export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

const r = (x: Omit<ResourceInfo, 'subresources' | 'nameRule' | 'fieldSelectors' | 'hasSpec'> & Partial<ResourceInfo>): ResourceInfo => ({
  subresources: [],
  nameRule: 'subdomain',
  fieldSelectors: [],
  hasSpec: true,
  ...x,
});

export const RESOURCES: readonly ResourceInfo[] = [
  r({ group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', singular: 'namespace', shortNames: ['ns'], namespaced: false, schema: core.namespaceSchema, subresources: ['status', 'finalize'], nameRule: 'label', fieldSelectors: ['status.phase'] }),
  r({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', singular: 'node', shortNames: ['no'], namespaced: false, schema: core.nodeSchema, subresources: ['status'], fieldSelectors: ['spec.unschedulable'] }),
  r({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod', shortNames: ['po'], namespaced: true, schema: core.podSchema, subresources: ['status', 'binding', 'log', 'exec', 'attach', 'portforward'], fieldSelectors: ['spec.nodeName', 'status.phase', 'spec.schedulerName', 'spec.restartPolicy', 'status.podIP', 'status.nominatedNodeName'] }),
  r({ group: '', version: 'v1', kind: 'Service', plural: 'services', singular: 'service', shortNames: ['svc'], namespaced: true, schema: core.serviceSchema, subresources: ['status'], nameRule: 'label', fieldSelectors: ['spec.clusterIP', 'spec.type'] }),
  r({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap', shortNames: ['cm'], namespaced: true, schema: core.configMapSchema, hasSpec: false }),
  r({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', singular: 'secret', shortNames: [], namespaced: true, schema: core.secretSchema, fieldSelectors: ['type'], hasSpec: false }),
  r({ group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', shortNames: ['ev'], namespaced: true, schema: core.eventSchema, hasSpec: false, fieldSelectors: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'] }),
  r({ group: '', version: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', singular: 'persistentvolume', shortNames: ['pv'], namespaced: false, schema: core.persistentVolumeSchema, subresources: ['status'] }),
  r({ group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', singular: 'persistentvolumeclaim', shortNames: ['pvc'], namespaced: true, schema: core.persistentVolumeClaimSchema, subresources: ['status'] }),
  r({ group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment', shortNames: ['deploy'], namespaced: true, schema: apps.deploymentSchema, subresources: ['status', 'scale'] }),
  r({ group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset', shortNames: ['rs'], namespaced: true, schema: apps.replicaSetSchema, subresources: ['status', 'scale'] }),
  r({ group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', singular: 'daemonset', shortNames: ['ds'], namespaced: true, schema: apps.daemonSetSchema, subresources: ['status'] }),
  r({ group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', singular: 'statefulset', shortNames: ['sts'], namespaced: true, schema: apps.statefulSetSchema, subresources: ['status', 'scale'] }),
  r({ group: 'apps', version: 'v1', kind: 'ControllerRevision', plural: 'controllerrevisions', singular: 'controllerrevision', shortNames: [], namespaced: true, schema: apps.controllerRevisionSchema, hasSpec: false }),
  r({ group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', singular: 'job', shortNames: [], namespaced: true, schema: jobSchema, subresources: ['status'], fieldSelectors: ['status.successful'] }),
  r({ group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', singular: 'cronjob', shortNames: ['cj'], namespaced: true, schema: cronJobSchema, subresources: ['status'] }),
  r({ group: 'scheduling.k8s.io', version: 'v1', kind: 'PriorityClass', plural: 'priorityclasses', singular: 'priorityclass', shortNames: ['pc'], namespaced: false, schema: priorityClassSchema, hasSpec: false }),
  r({ group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', singular: 'storageclass', shortNames: ['sc'], namespaced: false, schema: storageClassSchema, hasSpec: false }),
  r({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease', shortNames: [], namespaced: true, schema: leaseSchema }),
  r({ group: 'wharf.dev', version: 'v1', kind: 'Workflow', plural: 'workflows', singular: 'workflow', shortNames: ['wf'], namespaced: true, schema: workflowSchema, subresources: ['status'] }),
];

/** Resource by URL parts (group '' for /api/v1). */
export function resourceByPath(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
}

export function resourceByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => apiVersionOf(x) === apiVersion && x.kind === kind);
}

/** Resource by what a user types: plural, singular, short name or kind, optionally `.group` (e.g. deployments.apps). */
export function resourceByAlias(alias: string): ResourceInfo | undefined {
  const a = alias.toLowerCase();
  const dot = a.indexOf('.');
  const [name, group] = dot > 0 ? [a.slice(0, dot), a.slice(dot + 1)] : [a, undefined];
  return RESOURCES.find(
    (x) =>
      (group === undefined || x.group === group) &&
      (x.plural === name || x.singular === name || x.kind.toLowerCase() === name || x.shortNames.includes(name)),
  );
}

export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const x of RESOURCES) if (x.group) seen.set(`${x.group}/${x.version}`, { group: x.group, version: x.version });
  return [...seen.values()];
}
