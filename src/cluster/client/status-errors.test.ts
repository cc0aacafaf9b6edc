import { describe, expect, it } from 'vitest';
import { ERROR_KINDS, WharfError } from '../../core/errors.js';
import { statusFromError } from '../apiserver/status.js';
import { errorFromStatus, kindOfStatus } from './status-errors.js';

describe('status-to-error table (the API server table read backwards)', () => {
  it('every error kind the server sends comes back as the same kind, message and reason', () => {
    for (const kind of ERROR_KINDS) {
      if (kind === 'NotModified') continue; // sent as 409 Conflict: a client cannot tell it apart
      const st = statusFromError(new WharfError(kind, `a ${kind} error`));
      const back = errorFromStatus(st.code, st);
      expect(back.kind, kind).toBe(kind);
      expect(back.message).toBe(`a ${kind} error`);
      expect(back.details?.reason).toBe(st.reason);
    }
  });

  it('special reasons keep their codes and kinds; causes survive', () => {
    const st = statusFromError(new WharfError('InvalidArgument', 'Pod "x" is invalid', { details: { reason: 'Invalid', causes: [{ field: 'spec.containers', message: 'Required value' }] } }));
    expect(st.code).toBe(422);
    const back = errorFromStatus(st.code, st);
    expect(back.kind).toBe('InvalidArgument');
    expect(back.details?.causes).toEqual([{ field: 'spec.containers', message: 'Required value' }]);
    expect(kindOfStatus(405, 'MethodNotAllowed')).toBe('InvalidArgument');
    expect(kindOfStatus(501)).toBe('Unsupported');
  });

  it('409 is AlreadyExists only with that reason; unknown codes are Internal; a body without a Status still errs', () => {
    expect(kindOfStatus(409, 'AlreadyExists')).toBe('AlreadyExists');
    expect(kindOfStatus(409, 'Conflict')).toBe('Conflict');
    expect(kindOfStatus(409)).toBe('Conflict');
    expect(kindOfStatus(410, 'Expired')).toBe('Gone');
    expect(kindOfStatus(418)).toBe('Internal');
    const e = errorFromStatus(502, { message: '' });
    expect(e.kind).toBe('Internal');
    expect(e.message).toBe('HTTP 502');
  });
});
