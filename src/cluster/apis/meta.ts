import { z } from 'zod';
import { ob, po, str, int, bool, strMap, strList, time } from './schema.js';

// metav1 types shared by every kind.

export const ownerReferenceSchema = ob(
  { apiVersion: str, kind: str, name: str, uid: str },
  { controller: bool, blockOwnerDeletion: bool },
);

export const objectMetaSchema = po({
  name: str,
  generateName: str,
  namespace: str,
  uid: str,
  resourceVersion: str,
  generation: int,
  labels: strMap,
  annotations: strMap,
  ownerReferences: z.array(ownerReferenceSchema),
  finalizers: strList,
  creationTimestamp: time,
  deletionTimestamp: time,
  deletionGracePeriodSeconds: int,
  managedFields: z.array(z.unknown()),
  selfLink: str,
});

export const labelSelectorRequirementSchema = ob(
  { key: str, operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']) },
  { values: strList },
);

export const labelSelectorSchema = po({
  matchLabels: strMap,
  matchExpressions: z.array(labelSelectorRequirementSchema),
});

export const conditionSchema = ob(
  { type: str, status: z.enum(['True', 'False', 'Unknown']) },
  {
    reason: str,
    message: str,
    lastTransitionTime: time,
    lastUpdateTime: time,
    lastProbeTime: time,
    lastHeartbeatTime: time,
    observedGeneration: int,
  },
);

export type ObjectMeta = z.infer<typeof objectMetaSchema>;
export type OwnerReference = z.infer<typeof ownerReferenceSchema>;
export type LabelSelector = z.infer<typeof labelSelectorSchema>;
export type LabelSelectorRequirement = z.infer<typeof labelSelectorRequirementSchema>;
export type Condition = z.infer<typeof conditionSchema>;

/** Every stored object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** A Kubernetes `Status` object: the body of every error response. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface Status {
  apiVersion: 'v1';
  kind: 'Status';
  metadata: Record<string, never> | { resourceVersion?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

export interface WatchEventObject<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}
