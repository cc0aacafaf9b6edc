import { Agent, request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../../core/clock.js';
import { WharfError } from '../../core/errors.js';
import type { ClientConfig } from './config.js';
import { errorFromStatus } from './status-errors.js';

// The one HTTP transport of the cluster client stack: HTTPS with the cluster CA (or plain
// http for tests that ask for it), a bearer token, keep-alive connections, and retries with
// exponential backoff where a retry cannot do harm:
// - a connection that was never made (ECONNREFUSED, DNS, connect timeout): any method;
// - a reset connection, 429, 503 and 504: only GET (reads), since a write may have landed.
// Errors are WharfErrors from the API server's own status table (status-errors.ts).

export interface RetryPolicy {
  /** Attempts in all (1: no retry). Default 3. */
  attempts: number;
  /** First backoff; doubles per attempt up to maxDelayMs. Default 100 ms. */
  baseDelayMs: number;
  /** Default 2000 ms (a Retry-After from the server is honoured up to this). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 2000 };

export interface TransportOptions {
  retry?: Partial<RetryPolicy>;
  clock?: Clock;
  /** Keep-alive connections to the server. Default 64. */
  connections?: number;
}

export interface RequestInit {
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** Accept header (watch streams and Tables ask for other types). Default application/json. */
  accept?: string;
}

/** Errors of a connection that never carried the request: safe to retry for any method. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const RETRY_READ_CODES = new Set([429, 503, 504]);

function errCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === 'object'; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export class Transport {
  readonly base: string;
  private readonly dispatcher: Dispatcher;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;

  constructor(
    readonly config: ClientConfig,
    opts: TransportOptions = {},
  ) {
    if (!/^https?:\/\/[^/]+/.test(config.server)) throw new WharfError('InvalidArgument', `cluster server: expected http(s)://HOST:PORT, got ${JSON.stringify(config.server)}`);
    this.base = config.server.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    this.clock = opts.clock ?? systemClock;
    this.dispatcher = new Agent({
      connect: {
        ...(config.caPem ? { ca: config.caPem } : {}),
        ...(config.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
      },
      keepAliveTimeout: 30_000,
      connections: opts.connections ?? 64,
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** One request, JSON in and out; a status >= 400 throws the WharfError of its Status. */
  async json<R>(method: Dispatcher.HttpMethod, path: string, init: RequestInit = {}): Promise<R> {
    const res = await this.send(method, path, init);
    const text = await res.body.text();
    const parsed = parseBody(text);
    if (res.statusCode >= 400) throw errorFromStatus(res.statusCode, parsed);
    return parsed as R;
  }

  /** One request whose body the caller reads (watch streams); a status >= 400 throws. */
  async open(method: Dispatcher.HttpMethod, path: string, init: RequestInit = {}): Promise<Dispatcher.ResponseData> {
    const res = await this.send(method, path, init);
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      throw errorFromStatus(res.statusCode, parseBody(text));
    }
    return res;
  }

  /** The raw response of one request, with retries; statuses are the caller's to read. */
  async send(method: Dispatcher.HttpMethod, path: string, init: RequestInit = {}): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: init.accept ?? 'application/json' };
    if (this.config.token) headers.authorization = `Bearer ${this.config.token}`;
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    const read = method === 'GET' || method === 'HEAD';
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.retry.attempts;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(`${this.base}${path}`, {
          method,
          headers,
          dispatcher: this.dispatcher,
          ...(body !== undefined ? { body } : {}),
          ...(init.signal ? { signal: init.signal } : {}),
          headersTimeout: 60_000,
          bodyTimeout: 0,
        });
      } catch (e) {
        if (init.signal?.aborted) throw e;
        const code = errCode(e);
        if (!last && (NOT_CONNECTED.has(code ?? '') || (read && code !== undefined))) {
          await this.backoff(attempt, undefined, init.signal);
          continue;
        }
        throw new WharfError('Unavailable', `cannot reach the API server at ${this.base}: ${(e as Error).message}`, { cause: e });
      }
      if (!last && read && RETRY_READ_CODES.has(res.statusCode)) {
        const after = Number(res.headers['retry-after']);
        await res.body.dump().catch(() => undefined);
        await this.backoff(attempt, Number.isFinite(after) ? after * 1000 : undefined, init.signal);
        continue;
      }
      return res;
    }
  }

  private backoff(attempt: number, retryAfterMs: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    const exp = this.retry.baseDelayMs * 2 ** (attempt - 1);
    return this.clock.sleep(Math.min(this.retry.maxDelayMs, retryAfterMs ?? exp), signal);
  }
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
