import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { WharfError } from '../core/errors.js';
import type { ApiRequest } from './router.js';

export const DEFAULT_JSON_LIMIT = 1024 * 1024;

/** Reads a whole body, refusing more than `limit` bytes (413) before buffering it. */
export async function readBody(body: Readable, limit: number, declaredLength?: string): Promise<Buffer> {
  if (declaredLength !== undefined && Number(declaredLength) > limit) {
    body.resume();
    throw new WharfError('TooLarge', `request body too large: ${declaredLength} bytes (limit ${limit})`);
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > limit) {
      body.resume();
      throw new WharfError('TooLarge', `request body too large (limit ${limit} bytes)`);
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * Reads and validates a JSON body. An empty body is `{}` (Docker clients often send none);
 * a non-JSON content type with a body, bad JSON, or a schema mismatch is a 400 naming the field.
 */
export async function readJson<S extends z.ZodType>(req: ApiRequest, schema: S, limit = DEFAULT_JSON_LIMIT): Promise<z.infer<S>> {
  const raw = await readBody(req.body, limit, req.headers['content-length']);
  let value: unknown = {};
  if (raw.length > 0) {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (ct !== '' && ct !== 'application/json' && !ct.endsWith('+json')) {
      throw new WharfError('InvalidArgument', `unsupported Content-Type header (${ct}): must be 'application/json'`);
    }
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new WharfError('InvalidArgument', `invalid JSON body: ${(e as Error).message}`);
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'body';
    throw new WharfError('InvalidArgument', `invalid request body: ${where}: ${issue.message}`, { details: { path: issue.path.map(String) } });
  }
  return r.data;
}
