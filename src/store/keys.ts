import { invalid } from '../core/errors.js';

// Key rules and list continuation tokens shared by the store backends.

export const MAX_KEY_LENGTH = 1024;

/** Keys are non-empty, at most 1 KiB, without NUL (both backends order keys bytewise). */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw invalid('key must be a non-empty string');
  if (key.length > MAX_KEY_LENGTH) throw invalid(`key longer than ${MAX_KEY_LENGTH} characters`);
  if (key.includes('\0')) throw invalid('key must not contain NUL');
}

/** The smallest string greater than every string starting with prefix (prefix must be non-empty). */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

interface ContinueToken {
  /** Last key returned. */
  k: string;
  /** Revision the list is read at. */
  r: number;
}

export function encodeContinue(lastKey: string, revision: number): string {
  const t: ContinueToken = { k: lastKey, r: revision };
  return Buffer.from(JSON.stringify(t), 'utf8').toString('base64url');
}

export function decodeContinue(token: string, prefix: string): { key: string; revision: number } {
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid('malformed continue token');
  }
  const c = t as Partial<ContinueToken> | null;
  if (!c || typeof c.k !== 'string' || typeof c.r !== 'number' || !Number.isInteger(c.r) || c.r < 1) {
    throw invalid('malformed continue token');
  }
  if (!c.k.startsWith(prefix)) throw invalid('continue token does not belong to this list');
  return { key: c.k, revision: c.r };
}
