import { WharfError, type ErrorKind } from '../../core/errors.js';
import type { Status, StatusCause } from '../apis/meta.js';

// The one table from error kinds to Kubernetes Status reasons and HTTP codes. The cluster
// client (src/cluster/client/status-errors.ts) reads it backwards: one table, both ways.

export const STATUS_BY_KIND: Readonly<Record<ErrorKind, { code: number; reason: string }>> = {
  InvalidArgument: { code: 400, reason: 'BadRequest' },
  NotFound: { code: 404, reason: 'NotFound' },
  Conflict: { code: 409, reason: 'Conflict' },
  AlreadyExists: { code: 409, reason: 'AlreadyExists' },
  NotModified: { code: 409, reason: 'Conflict' },
  Unauthorized: { code: 401, reason: 'Unauthorized' },
  Forbidden: { code: 403, reason: 'Forbidden' },
  Gone: { code: 410, reason: 'Expired' },
  TooLarge: { code: 413, reason: 'RequestEntityTooLarge' },
  Unsupported: { code: 415, reason: 'UnsupportedMediaType' },
  Unavailable: { code: 503, reason: 'ServiceUnavailable' },
  Timeout: { code: 504, reason: 'Timeout' },
  Internal: { code: 500, reason: 'InternalError' },
};

/** Special reasons carried in WharfError.details.reason that change the code within a kind
 * (`kind`: the kind such errors are raised with, for clients reading the code back). */
export const STATUS_BY_REASON: Readonly<Record<string, { code: number; kind: ErrorKind }>> = {
  Invalid: { code: 422, kind: 'InvalidArgument' },
  MethodNotAllowed: { code: 405, kind: 'InvalidArgument' },
  NotAcceptable: { code: 406, kind: 'Unsupported' },
  NotImplemented: { code: 501, kind: 'Unsupported' },
};

export function statusFromError(err: unknown): Status {
  if (!(err instanceof WharfError)) {
    const msg = err instanceof Error ? err.message : String(err);
    return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message: `Internal error: ${msg}`, reason: 'InternalError', code: 500 };
  }
  const row = STATUS_BY_KIND[err.kind];
  const d = err.details ?? {};
  const special = typeof d.reason === 'string' ? STATUS_BY_REASON[d.reason]?.code : undefined;
  const details: Status['details'] = {};
  if (typeof d.name === 'string') details.name = d.name;
  if (typeof d.group === 'string') details.group = d.group;
  if (typeof d.kind === 'string') details.kind = d.kind;
  if (Array.isArray(d.causes)) details.causes = d.causes as StatusCause[];
  if (typeof d.retryAfterSeconds === 'number') details.retryAfterSeconds = d.retryAfterSeconds;
  return {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    message: err.message,
    reason: special !== undefined ? (d.reason as string) : row.reason,
    ...(Object.keys(details).length ? { details } : {}),
    code: special ?? row.code,
  };
}

export function successStatus(details?: Status['details']): Status {
  return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', ...(details ? { details } : {}), code: 200 };
}
