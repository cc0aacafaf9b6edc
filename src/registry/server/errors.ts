import { WharfError, type ErrorKind } from '../../core/errors.js';

// The distribution spec's error codes: each maps to one WharfError kind and one HTTP status (the
// registry's single status table). Errors carry the code in `details.code`.

export const REGISTRY_CODES = {
  BLOB_UNKNOWN: { status: 404, kind: 'NotFound' },
  BLOB_UPLOAD_INVALID: { status: 400, kind: 'InvalidArgument' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, kind: 'NotFound' },
  DIGEST_INVALID: { status: 400, kind: 'InvalidArgument' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, kind: 'InvalidArgument' },
  MANIFEST_INVALID: { status: 400, kind: 'InvalidArgument' },
  MANIFEST_UNKNOWN: { status: 404, kind: 'NotFound' },
  NAME_INVALID: { status: 400, kind: 'InvalidArgument' },
  NAME_UNKNOWN: { status: 404, kind: 'NotFound' },
  SIZE_INVALID: { status: 400, kind: 'InvalidArgument' },
  UNAUTHORIZED: { status: 401, kind: 'Unauthorized' },
  DENIED: { status: 403, kind: 'Forbidden' },
  UNSUPPORTED: { status: 405, kind: 'Unsupported' },
  RANGE_INVALID: { status: 416, kind: 'InvalidArgument' },
  TOO_LARGE: { status: 413, kind: 'TooLarge' },
} as const satisfies Record<string, { status: number; kind: ErrorKind }>;

export type RegistryCode = keyof typeof REGISTRY_CODES;

export function regErr(code: RegistryCode, message: string, detail?: unknown): WharfError {
  return new WharfError(REGISTRY_CODES[code].kind, message, { details: { code, ...(detail === undefined ? {} : { detail }) } });
}

const KIND_FALLBACK: Partial<Record<ErrorKind, { status: number; code: string }>> = {
  InvalidArgument: { status: 400, code: 'UNSUPPORTED' },
  NotFound: { status: 404, code: 'NAME_UNKNOWN' },
  Unauthorized: { status: 401, code: 'UNAUTHORIZED' },
  Forbidden: { status: 403, code: 'DENIED' },
  TooLarge: { status: 413, code: 'SIZE_INVALID' },
  Unsupported: { status: 405, code: 'UNSUPPORTED' },
  Unavailable: { status: 503, code: 'UNAVAILABLE' },
};

/** HTTP status and spec code for any error. */
export function statusAndCode(err: unknown): { status: number; code: string; message: string; detail?: unknown } {
  if (err instanceof WharfError) {
    const code = err.details?.code;
    if (typeof code === 'string' && code in REGISTRY_CODES) {
      const c = REGISTRY_CODES[code as RegistryCode];
      return { status: c.status, code: code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : code === 'TOO_LARGE' ? 'SIZE_INVALID' : code, message: err.message, detail: err.details?.detail };
    }
    const f = KIND_FALLBACK[err.kind];
    if (f) return { ...f, message: err.message };
  }
  return { status: 500, code: 'UNKNOWN', message: err instanceof Error ? err.message : String(err) };
}
