import { z } from 'zod';
import { ob, str, bool } from './schema.js';
import { objectMetaSchema } from './meta.js';

// scheduling.k8s.io/v1 PriorityClass: a name for a pod priority (spec.priorityClassName → spec.priority).

export const priorityClassSchema = ob(
  { apiVersion: z.literal('scheduling.k8s.io/v1'), kind: z.literal('PriorityClass'), metadata: objectMetaSchema, value: z.number().int() },
  { globalDefault: bool, description: str, preemptionPolicy: z.enum(['PreemptLowerPriority', 'Never']) },
);

export type PriorityClassObject = z.infer<typeof priorityClassSchema>;

/** The built-in classes every cluster has (Kubernetes' system classes). */
export const SYSTEM_PRIORITY_CLASSES: Readonly<Record<string, number>> = {
  'system-cluster-critical': 2_000_000_000,
  'system-node-critical': 2_000_001_000,
};

/** The largest value a user-defined PriorityClass may have (larger ones are reserved for system classes). */
export const HIGHEST_USER_PRIORITY = 1_000_000_000;
