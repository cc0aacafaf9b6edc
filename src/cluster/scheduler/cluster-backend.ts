import type { Clock } from '../../core/clock.js';
import { WharfError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { EventRecorder } from '../client/event-recorder.js';
import type { ClusterApi } from '../client/resource-api.js';
import { DEFAULT_SCHEDULER_NAME, type NodeObj, type PodObj, type SchedulerBackend } from './scheduler.js';

/** What the scheduler needs, from a cluster client (the HTTP ClusterClient, or the in-memory double in tests). */
export function clusterSchedulerBackend(cluster: ClusterApi, opts: { clock: Clock; log: Logger; component?: string }): SchedulerBackend {
  const pods = cluster.resource<PodObj>('v1', 'Pod');
  return {
    pods,
    nodes: cluster.resource<NodeObj>('v1', 'Node'),
    bind: (pod, node) => {
      if (!pods.bind) throw new WharfError('Unsupported', 'this cluster client cannot bind pods');
      return pods.bind(pod, node);
    },
    events: new EventRecorder(cluster.resource('v1', 'Event'), opts.clock, opts.log, opts.component ?? DEFAULT_SCHEDULER_NAME),
  };
}
