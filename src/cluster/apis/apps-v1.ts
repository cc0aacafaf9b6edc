import { z } from 'zod';
import { ob, po, str, int, nonNegInt, bool, intOrString } from './schema.js';
import { objectMetaSchema, labelSelectorSchema, conditionSchema } from './meta.js';
import { podTemplateSpecSchema, persistentVolumeClaimSpecSchema } from './core-v1.js';

// apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision.

const workloadStatus = {
  observedGeneration: int,
  replicas: nonNegInt,
  updatedReplicas: nonNegInt,
  readyReplicas: nonNegInt,
  availableReplicas: nonNegInt,
  unavailableReplicas: nonNegInt,
  fullyLabeledReplicas: nonNegInt,
  terminatingReplicas: nonNegInt,
  collisionCount: int,
  conditions: z.array(conditionSchema),
};

export const deploymentSchema = ob(
  {
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('Deployment'),
    metadata: objectMetaSchema,
    spec: ob(
      { selector: labelSelectorSchema, template: podTemplateSpecSchema },
      {
        replicas: nonNegInt,
        strategy: po({
          type: z.enum(['RollingUpdate', 'Recreate']),
          rollingUpdate: po({ maxSurge: intOrString, maxUnavailable: intOrString }),
        }),
        minReadySeconds: nonNegInt,
        revisionHistoryLimit: nonNegInt,
        progressDeadlineSeconds: z.number().int().min(1),
        paused: bool,
      },
    ),
  },
  { status: po(workloadStatus) },
);

export const replicaSetSchema = ob(
  {
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('ReplicaSet'),
    metadata: objectMetaSchema,
    spec: ob({ selector: labelSelectorSchema }, { template: podTemplateSpecSchema, replicas: nonNegInt, minReadySeconds: nonNegInt }),
  },
  { status: po(workloadStatus) },
);

export const daemonSetSchema = ob(
  {
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('DaemonSet'),
    metadata: objectMetaSchema,
    spec: ob(
      { selector: labelSelectorSchema, template: podTemplateSpecSchema },
      {
        updateStrategy: po({
          type: z.enum(['RollingUpdate', 'OnDelete']),
          rollingUpdate: po({ maxSurge: intOrString, maxUnavailable: intOrString }),
        }),
        minReadySeconds: nonNegInt,
        revisionHistoryLimit: nonNegInt,
      },
    ),
  },
  {
    status: po({
      currentNumberScheduled: nonNegInt,
      desiredNumberScheduled: nonNegInt,
      numberMisscheduled: nonNegInt,
      numberReady: nonNegInt,
      numberAvailable: nonNegInt,
      numberUnavailable: nonNegInt,
      updatedNumberScheduled: nonNegInt,
      observedGeneration: int,
      collisionCount: int,
      conditions: z.array(conditionSchema),
    }),
  },
);

const retention = z.enum(['Retain', 'Delete']);
export const statefulSetSchema = ob(
  {
    apiVersion: z.literal('apps/v1'),
    kind: z.literal('StatefulSet'),
    metadata: objectMetaSchema,
    spec: ob(
      { selector: labelSelectorSchema, template: podTemplateSpecSchema },
      {
        replicas: nonNegInt,
        serviceName: str,
        podManagementPolicy: z.enum(['OrderedReady', 'Parallel']),
        updateStrategy: po({
          type: z.enum(['RollingUpdate', 'OnDelete']),
          rollingUpdate: po({ partition: nonNegInt, maxUnavailable: intOrString }),
        }),
        volumeClaimTemplates: z.array(ob({ metadata: objectMetaSchema }, { apiVersion: str, kind: str, spec: persistentVolumeClaimSpecSchema })),
        revisionHistoryLimit: nonNegInt,
        minReadySeconds: nonNegInt,
        persistentVolumeClaimRetentionPolicy: po({ whenDeleted: retention, whenScaled: retention }),
        ordinals: po({ start: nonNegInt }),
      },
    ),
  },
  {
    status: po({
      observedGeneration: int,
      replicas: nonNegInt,
      readyReplicas: nonNegInt,
      currentReplicas: nonNegInt,
      updatedReplicas: nonNegInt,
      availableReplicas: nonNegInt,
      currentRevision: str,
      updateRevision: str,
      collisionCount: int,
      conditions: z.array(conditionSchema),
    }),
  },
);

/** A snapshot of a workload's template (StatefulSet revisions; `kubectl rollout history`). */
export const controllerRevisionSchema = ob(
  { apiVersion: z.literal('apps/v1'), kind: z.literal('ControllerRevision'), metadata: objectMetaSchema, revision: z.number().int() },
  { data: z.record(z.string(), z.unknown()) },
);

/** autoscaling/v1 Scale: the body of the scale subresource. */
export const scaleSchema = ob(
  { metadata: objectMetaSchema },
  {
    apiVersion: z.literal('autoscaling/v1'),
    kind: z.literal('Scale'),
    spec: po({ replicas: nonNegInt }),
    status: po({ replicas: nonNegInt, selector: str }),
  },
);

export type Deployment = z.infer<typeof deploymentSchema>;
export type ReplicaSet = z.infer<typeof replicaSetSchema>;
export type DaemonSet = z.infer<typeof daemonSetSchema>;
export type Scale = z.infer<typeof scaleSchema>;
export type StatefulSet = z.infer<typeof statefulSetSchema>;
export type ControllerRevision = z.infer<typeof controllerRevisionSchema>;
