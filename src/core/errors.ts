// One closed set of error kinds with stable codes. Each API turns kinds into
// HTTP statuses in exactly one table (dockerapi/status.ts, cluster/apiserver/status.ts).
// Never branch on message text: branch on `kind`.

export const ERROR_KINDS = [
  'InvalidArgument', // bad input from a caller: 400
  'NotFound', // 404
  'Conflict', // name taken, resource in use, stale revision: 409
  'AlreadyExists', // create of something present: 409
  'NotModified', // already started / already stopped: 304
  'Unauthorized', // no or bad credentials: 401
  'Forbidden', // credentials lack permission: 403
  'Gone', // compacted revision, expired resource: 410
  'TooLarge', // body or archive over a limit: 413
  'Unsupported', // a feature Wharf does not implement: 501 or 400 by API
  'Unavailable', // a dependency is down or the server is shutting down: 503
  'Timeout', // a wait ran out: 504 or 500 by API
  'Internal', // a bug or an unexpected system failure: 500
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export class WharfError extends Error {
  readonly kind: ErrorKind;
  /** Extra machine-readable detail (e.g. the field path of a validation error). */
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WharfError';
    this.kind = kind;
    this.details = opts.details;
  }
}

export const invalid = (msg: string, details?: Record<string, unknown>) =>
  new WharfError('InvalidArgument', msg, details ? { details } : {});
export const notFound = (msg: string) => new WharfError('NotFound', msg);
export const conflict = (msg: string) => new WharfError('Conflict', msg);
export const alreadyExists = (msg: string) => new WharfError('AlreadyExists', msg);
export const internal = (msg: string, cause?: unknown) => new WharfError('Internal', msg, { cause });

export function isWharfError(err: unknown, kind?: ErrorKind): err is WharfError {
  return err instanceof WharfError && (kind === undefined || err.kind === kind);
}

/** Adds context to an error while keeping its kind (unknown errors become Internal). */
export function wrap(err: unknown, context: string): WharfError {
  if (err instanceof WharfError) {
    return new WharfError(err.kind, `${context}: ${err.message}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new WharfError('Internal', `${context}: ${msg}`, { cause: err });
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
