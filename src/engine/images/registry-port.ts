import type { Readable } from 'node:stream';

// The registry port: what pull, push and login need from an OCI distribution registry. The engine
// owns it (the code that uses an interface declares it); src/registry/client's RegistryClient
// implements it, and the composition root (src/cmd) passes one in. Nothing in the engine imports
// the registry client.

/** Credentials as the docker CLI sends them in X-Registry-Auth and stores after `docker login`. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth refresh token from a previous login. */
  identitytoken?: string;
  /** A bearer token to use as is. */
  registrytoken?: string;
  serveraddress?: string;
}

/** A manifest as fetched: its bytes, their digest and the media type the registry declared. */
export interface FetchedManifest {
  body: Buffer;
  digest: string;
  mediaType: string;
}

/** A blob to fetch or upload, verified against its digest and size. */
export interface BlobTarget {
  digest: string;
  size: number;
}

/** One registry host with one set of credentials. Every call verifies what it moves. */
export interface RegistrySessionPort {
  /** Checks the credentials (`docker login`). */
  login(signal?: AbortSignal): Promise<void>;
  getManifest(repo: string, ref: string, signal?: AbortSignal): Promise<FetchedManifest>;
  /** A small blob (a config) read whole; refused above `max` bytes. */
  getBlobBuffer(repo: string, desc: BlobTarget, max: number, signal?: AbortSignal): Promise<Buffer>;
  /** Streams a blob to `onData` (awaited: backpressure), verifying size and digest. */
  fetchBlob(
    repo: string,
    desc: BlobTarget,
    o: { onData: (chunk: Buffer) => void | Promise<void>; onProgress?: (current: number) => void; signal?: AbortSignal },
  ): Promise<void>;
  blobExists(repo: string, digest: string, signal?: AbortSignal): Promise<boolean>;
  /** Cross-repository mount; false when the registry declined (the blob must be uploaded). */
  mountBlob(repo: string, digest: string, from: string, signal?: AbortSignal): Promise<boolean>;
  /** Uploads a blob; `open` is called again for each attempt. */
  uploadBlob(
    repo: string,
    blob: BlobTarget,
    open: () => Readable,
    o?: { chunkSize?: number; onProgress?: (sent: number) => void; signal?: AbortSignal },
  ): Promise<void>;
  /** Puts a manifest under `ref` (a tag or digest); returns its digest. */
  putManifest(repo: string, ref: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string>;
}

export interface RegistryPort {
  session(host: string, creds?: RegistryCredentials): RegistrySessionPort;
}
