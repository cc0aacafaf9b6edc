import { isWharfError, type ErrorKind } from '../core/errors.js';

// The ONE table that turns error kinds into Docker Engine API statuses (moby's httpstatus/status.go).
export const STATUS_BY_KIND: Readonly<Record<ErrorKind, number>> = {
  InvalidArgument: 400,
  NotFound: 404,
  Conflict: 409,
  AlreadyExists: 409,
  NotModified: 304,
  Unauthorized: 401,
  Forbidden: 403,
  Gone: 410,
  TooLarge: 413,
  Unsupported: 501,
  Unavailable: 503,
  Timeout: 500,
  Internal: 500,
};

/** HTTP status for any thrown value: WharfError kinds by the table, everything else 500. */
export function statusForError(err: unknown): number {
  return isWharfError(err) ? STATUS_BY_KIND[err.kind] : 500;
}
