import { join } from 'node:path';
import { notFound } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ContainerExec, ContainerLifecycle, ContainerLogs } from '../engine/roles.js';
import { StreamingServer } from '../cluster/agent/streaming/streaming-server.js';
import { ensureServingCert } from '../cluster/agent/streaming/serving-cert.js';
import { STREAMING_CERT_ANNOTATION } from '../cluster/apis/streaming.js';
import { EngineContainerStreams, POD_LABELS } from './engine-container-streams.js';

// Wires a node's streaming endpoint (pod logs, exec, attach, port-forward) over the node's
// engine: the agent's composition root calls this, publishes `port` in its Node's
// status.daemonEndpoints.kubeletEndpoint.Port and `annotations` on its Node.

export interface StreamingEndpointOptions {
  /** The engine facade's roles (Engine.containers, .exec, .logs). */
  containers: Pick<ContainerLifecycle, 'list' | 'inspect' | 'attach' | 'resize'>;
  execs: Pick<ContainerExec, 'create' | 'start' | 'resize'>;
  logs: ContainerLogs;
  /** The IPv4 of a running pod sandbox on the pod network (undefined for host/none networks). */
  sandboxIp: (containerId: string) => string | undefined;
  /** The cluster CA (PEM): the API server's kubelet-client certificate is checked against it. */
  clusterCaPem: string;
  /** Where the serving certificate is kept (made once). */
  dir: string;
  nodeName: string;
  /** Default 0.0.0.0. */
  host?: string;
  /** 0: a free port. */
  port: number;
  logger: Logger;
}

export interface RunningStreamingEndpoint {
  port: number;
  fingerprint256: string;
  /** To put on the Node (the API server pins the serving certificate by it). */
  annotations: Record<string, string>;
  close(): Promise<void>;
}

export async function startStreamingEndpoint(o: StreamingEndpointOptions): Promise<RunningStreamingEndpoint> {
  const cert = await ensureServingCert(join(o.dir), o.nodeName);
  const podIp = async (namespace: string, pod: string): Promise<string | undefined> => {
    const sandbox = o.containers
      .list()
      .find((r) => r.request.labels?.[POD_LABELS.podNamespace] === namespace && r.request.labels?.[POD_LABELS.podName] === pod && r.request.labels?.[POD_LABELS.kind] === 'sandbox');
    if (!sandbox) throw notFound(`pod ${JSON.stringify(pod)} in namespace ${JSON.stringify(namespace)} is not running on node ${o.nodeName}`);
    return o.sandboxIp(sandbox.id);
  };
  const server = new StreamingServer({
    streams: new EngineContainerStreams({ containers: o.containers, execs: o.execs, logs: o.logs, podIp }),
    logger: o.logger,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    clientCaPem: o.clusterCaPem,
  });
  const port = await server.listen(o.host ?? '0.0.0.0', o.port);
  return { port, fingerprint256: cert.fingerprint256, annotations: { [STREAMING_CERT_ANNOTATION]: cert.fingerprint256 }, close: () => server.close() };
}
