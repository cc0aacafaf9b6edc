import { randomBytes, createHash } from 'node:crypto';

/** A 64-hex random ID, like Docker's container IDs. */
export function randomId(): string {
  return randomBytes(32).toString('hex');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
