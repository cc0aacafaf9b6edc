import { z } from 'zod';
import { ob, po, str, nonNegInt, time } from './schema.js';
import { objectMetaSchema } from './meta.js';

// coordination.k8s.io/v1 Lease: node heartbeats and leader election.

export const leaseSchema = ob(
  { apiVersion: z.literal('coordination.k8s.io/v1'), kind: z.literal('Lease'), metadata: objectMetaSchema },
  {
    spec: po({
      holderIdentity: str,
      leaseDurationSeconds: z.number().int().min(1),
      acquireTime: time,
      renewTime: time,
      leaseTransitions: nonNegInt,
      preferredHolder: str,
      strategy: str,
    }),
  },
);

export type Lease = z.infer<typeof leaseSchema>;
