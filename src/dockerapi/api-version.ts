import { WharfError } from '../core/errors.js';

export const API_VERSION = '1.47';
export const MIN_API_VERSION = '1.24';

/** Compares two "X.Y" API versions: negative, zero or positive like a sort comparator. */
export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Splits `/v1.47/images/json` into version and path; unversioned paths get the server's version. */
export function splitVersion(path: string): { version: string; path: string; explicit: boolean } {
  const m = /^\/v(\d+\.\d+)(\/.*)?$/.exec(path);
  if (!m) return { version: API_VERSION, path, explicit: false };
  return { version: m[1]!, path: m[2] ?? '/', explicit: true };
}

/** Docker's checks (moby server/middleware/version.go): too old is refused, too new is refused. */
export function checkVersion(version: string): void {
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw new WharfError(
      'InvalidArgument',
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  if (compareVersions(version, API_VERSION) > 0) {
    throw new WharfError('InvalidArgument', `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
}
