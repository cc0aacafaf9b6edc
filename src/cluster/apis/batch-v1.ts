import { z } from 'zod';
import { ob, po, str, int, nonNegInt, bool, time } from './schema.js';
import { objectMetaSchema, labelSelectorSchema, conditionSchema } from './meta.js';
import { podTemplateSpecSchema } from './core-v1.js';

// batch/v1 Job.

export const jobSchema = ob(
  {
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('Job'),
    metadata: objectMetaSchema,
    spec: ob(
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
    ),
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

export type Job = z.infer<typeof jobSchema>;
