import { z } from 'zod';
import { ob, po, str, int, nonNegInt, bool, time } from './schema.js';
import { objectMetaSchema, labelSelectorSchema, conditionSchema } from './meta.js';
import { podTemplateSpecSchema } from './core-v1.js';

// batch/v1: Job and CronJob.

export const jobSpecSchema = ob(
  { template: podTemplateSpecSchema },
  {
    parallelism: nonNegInt,
    completions: nonNegInt,
    backoffLimit: nonNegInt,
    activeDeadlineSeconds: z.number().int().min(1),
    ttlSecondsAfterFinished: nonNegInt,
    completionMode: z.enum(['NonIndexed', 'Indexed']),
    selector: labelSelectorSchema,
    manualSelector: bool,
    suspend: bool,
  },
);

export const jobSchema = ob(
  {
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('Job'),
    metadata: objectMetaSchema,
    spec: jobSpecSchema,
  },
  {
    status: po({
      active: nonNegInt,
      succeeded: nonNegInt,
      failed: nonNegInt,
      ready: nonNegInt,
      terminating: nonNegInt,
      startTime: time,
      completionTime: time,
      completedIndexes: str,
      failedIndexes: str,
      conditions: z.array(conditionSchema),
      observedGeneration: int,
    }),
  },
);

const objectReferenceSchema = po({ apiVersion: str, kind: str, namespace: str, name: str, uid: str, resourceVersion: str, fieldPath: str });

export const cronJobSchema = ob(
  {
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('CronJob'),
    metadata: objectMetaSchema,
    spec: ob(
      { schedule: str, jobTemplate: ob({ spec: jobSpecSchema }, { metadata: objectMetaSchema }) },
      {
        timeZone: str,
        startingDeadlineSeconds: nonNegInt,
        concurrencyPolicy: z.enum(['Allow', 'Forbid', 'Replace']),
        suspend: bool,
        successfulJobsHistoryLimit: nonNegInt,
        failedJobsHistoryLimit: nonNegInt,
      },
    ),
  },
  {
    status: po({
      active: z.array(objectReferenceSchema),
      lastScheduleTime: time,
      lastSuccessfulTime: time,
    }),
  },
);

export type Job = z.infer<typeof jobSchema>;
export type CronJob = z.infer<typeof cronJobSchema>;
