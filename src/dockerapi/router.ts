import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';

// What a Docker API route sees. Routers (one per resource) declare routes and the small
// Backend interface they need (moby's daemon/server/router/*/backend.go); cmd/ wires backends.

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRequest {
  readonly method: Method;
  /** The path without the `/vX.Y` prefix. */
  readonly path: string;
  /** The API version the client asked for (the server's own when the path is unversioned). */
  readonly version: string;
  /** Path parameters, already URL-decoded. `*name` segments may contain slashes. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The request body as a stream (for upgraded requests: exactly Content-Length bytes). */
  readonly body: Readable;
  /** Aborted when the client goes away before the response is complete. */
  readonly signal: AbortSignal;
}

export type HijackMediaType = 'application/vnd.docker.raw-stream' | 'application/vnd.docker.multiplexed-stream';

/** A connection handed to a handler after `101 UPGRADED` (or `200` for clients that do not upgrade). */
export interface HijackedConnection {
  /** What the client sends after the upgrade (stdin); ends when the client half-closes. */
  readonly input: Readable;
  /** Where the handler writes; still writable after the client half-closed its side. */
  readonly output: Writable;
  /** True when the client sent `Connection: Upgrade` and got `101 UPGRADED`. */
  readonly upgraded: boolean;
  /** Ends the handler's side and closes the connection. */
  close(): void;
}

export interface ApiResponse {
  readonly headersSent: boolean;
  setHeader(name: string, value: string): void;
  json(status: number, body: unknown): void;
  /** A response without a body (204, 304, 201 …). */
  empty(status: number): void;
  text(status: number, body: string, contentType?: string): void;
  /** Starts a streamed (chunked) response; the handler writes and ends it. */
  stream(status: number, contentType: string): Writable;
  /** Takes over the connection (attach, exec start). */
  hijack(mediaType: HijackMediaType): HijackedConnection;
}

export type Handler = (req: ApiRequest, res: ApiResponse) => Promise<void> | void;

export interface Route {
  readonly method: Method;
  /**
   * find-my-way syntax (`/containers/:id/json`) plus one extension: a `*name` segment matches
   * one or more path segments (image names such as `docker.io/library/busybox:latest`).
   */
  readonly path: string;
  readonly handler: Handler;
}

export interface Router {
  routes(): readonly Route[];
}

/** Docker's boolean query values (moby httputils.BoolValue). */
export function boolParam(query: URLSearchParams, name: string): boolean {
  const v = (query.get(name) ?? '').trim().toLowerCase();
  return !(v === '' || v === '0' || v === 'no' || v === 'false' || v === 'none');
}
