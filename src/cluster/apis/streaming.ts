// The contract between the API server and a node's streaming endpoint (logs, exec, attach,
// port-forward): the node publishes its endpoint port in Node status.daemonEndpoints.kubeletEndpoint.Port
// and its serving certificate's SHA-256 fingerprint in this annotation; the API server calls it
// with a client certificate of this common name, issued by the cluster CA.

export const STREAMING_CERT_ANNOTATION = 'wharf.dev/streaming-cert-sha256';
export const KUBELET_CLIENT_CN = 'wharf-apiserver-kubelet-client';

/** Pod subresources the API server proxies to the node. */
export const POD_STREAM_SUBRESOURCES = ['log', 'exec', 'attach', 'portforward'] as const;
export type PodStreamSubresource = (typeof POD_STREAM_SUBRESOURCES)[number];

export function isPodStreamSubresource(s: string | undefined): s is PodStreamSubresource {
  return (POD_STREAM_SUBRESOURCES as readonly string[]).includes(s ?? '');
}
