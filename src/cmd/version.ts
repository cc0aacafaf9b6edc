import { readFileSync } from 'node:fs';

/** Wharf's version, from package.json (shown by /version and the `Server` header). */
export const WHARF_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
