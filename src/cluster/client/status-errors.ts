import { ERROR_KINDS, WharfError, type ErrorKind } from '../../core/errors.js';
import { STATUS_BY_KIND, STATUS_BY_REASON } from '../apiserver/status.js';
import type { Status } from '../apis/meta.js';

// The API server's one status table (apiserver/status.ts: error kind -> code and reason), read
// backwards: a Status the server sent becomes the WharfError the server raised. Not a copy, so
// the two cannot disagree.

const BY_CODE_AND_REASON = new Map<string, ErrorKind>();
const BY_CODE = new Map<number, ErrorKind>();
for (const kind of ERROR_KINDS) {
  const row = STATUS_BY_KIND[kind];
  const both = `${row.code}/${row.reason}`;
  // The first kind listed wins a shared row (409 Conflict before NotModified).
  if (!BY_CODE_AND_REASON.has(both)) BY_CODE_AND_REASON.set(both, kind);
  if (!BY_CODE.has(row.code)) BY_CODE.set(row.code, kind);
}
for (const [reason, row] of Object.entries(STATUS_BY_REASON)) {
  BY_CODE_AND_REASON.set(`${row.code}/${reason}`, row.kind);
  if (!BY_CODE.has(row.code)) BY_CODE.set(row.code, row.kind);
}

/** The error kind of an HTTP status code and Status reason: exact (code, reason) first, then the code alone; unknown codes are Internal. */
export function kindOfStatus(code: number, reason?: string): ErrorKind {
  return (reason !== undefined ? BY_CODE_AND_REASON.get(`${code}/${reason}`) : undefined) ?? BY_CODE.get(code) ?? 'Internal';
}

/** A WharfError from a Kubernetes Status body (details keep code, reason, and the Status details such as causes). */
export function errorFromStatus(code: number, body: unknown): WharfError {
  const st = (body && typeof body === 'object' ? body : {}) as Partial<Status>;
  const c = typeof st.code === 'number' && st.code >= 400 ? st.code : code;
  const message = typeof st.message === 'string' && st.message !== '' ? st.message : `HTTP ${c}`;
  return new WharfError(kindOfStatus(c, st.reason), message, { details: { code: c, reason: st.reason, ...(st.details ?? {}) } });
}
