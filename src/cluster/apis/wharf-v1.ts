import { z } from 'zod';
import { ob, po, str, int, nonNegInt, time, strMap } from './schema.js';
import { objectMetaSchema, conditionSchema } from './meta.js';
import { podTemplateSpecSchema } from './core-v1.js';

// wharf.dev/v1 Workflow: tasks with dependencies (a DAG), each task a pod template.

export const workflowTaskSchema = ob(
  { name: str, template: podTemplateSpecSchema },
  { dependencies: z.array(str), retries: nonNegInt, timeoutSeconds: z.number().int().min(1) },
);

export const workflowTaskStatusSchema = po({
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Skipped']),
  attempts: nonNegInt,
  podName: str,
  startTime: time,
  completionTime: time,
  message: str,
  outputs: strMap,
});

export const workflowSchema = ob(
  {
    apiVersion: z.literal('wharf.dev/v1'),
    kind: z.literal('Workflow'),
    metadata: objectMetaSchema,
    spec: ob(
      { tasks: z.array(workflowTaskSchema).min(1, 'must have at least one task') },
      {
        onFailure: z.enum(['stop', 'continue']),
        parameters: z.array(ob({ name: str }, { value: str, description: str })),
      },
    ),
  },
  {
    status: po({
      phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed']),
      startTime: time,
      completionTime: time,
      message: str,
      observedGeneration: int,
      tasks: z.record(z.string(), workflowTaskStatusSchema),
      conditions: z.array(conditionSchema),
    }),
  },
);

export type Workflow = z.infer<typeof workflowSchema>;
export type WorkflowTask = z.infer<typeof workflowTaskSchema>;
export type WorkflowTaskStatus = z.infer<typeof workflowTaskStatusSchema>;
