import type { Clock } from '../../core/clock.js';
import { isWharfError } from '../../core/errors.js';
import type { ResourceApi } from '../client/resource-api.js';
import { clone, type Pod } from './objects.js';

// A tiny stand-in for nodes in the controllers' tests (until the scheduler engineer's
// sim-nodes is used): binds every new pod to a node, marks it Running and Ready, and
// finishes run-to-completion pods. A pod's annotations drive it:
//   wharf.dev/sim-run-ms       time before a restartPolicy Never/OnFailure pod ends (default 0)
//   wharf.dev/sim-exit-code    its exit code (default 0: Succeeded; else Failed)
//   wharf.dev/sim-output       its termination message (the task output of a Workflow)
// `decide` may override the outcome per pod (e.g. fail a Job's first attempts).

export interface SimOutcome {
  exitCode: number;
  output?: string;
  runMs?: number;
}

export interface SimKubeletOptions {
  nodeName?: string;
  readyDelayMs?: number;
  decide?: (pod: Pod) => SimOutcome | undefined;
  /** Remove pods marked for deletion (the kubelet's part). Default true. */
  finishDeletes?: boolean;
  /** false: never bind; only run pods a scheduler bound. Default true. */
  bind?: boolean;
  /** Only run pods bound to these nodes. */
  nodes?: string[];
}

export function runSimKubelet(pods: ResourceApi<Pod>, clock: Clock, signal: AbortSignal, opts: SimKubeletOptions = {}): Promise<void> {
  const inflight = new Set<string>();
  const handle = async (p: Pod) => {
    const key = `${p.metadata.namespace}/${p.metadata.name}`;
    if (opts.nodes && p.spec.nodeName && !opts.nodes.includes(p.spec.nodeName)) return; // another node's pod (or a dead node)
    if (p.metadata.deletionTimestamp && !inflight.has(key) && (opts.finishDeletes ?? true)) {
      // the node's part of graceful deletion: the containers are gone, remove the pod
      await pods.delete(p.metadata.namespace, p.metadata.name ?? '', { gracePeriodSeconds: 0, uid: p.metadata.uid ?? '' }).catch(() => undefined);
      return;
    }
    if (inflight.has(key) || p.metadata.deletionTimestamp || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') return;
    if (p.status?.phase === 'Running' && p.spec.nodeName) return;
    inflight.add(key);
    try {
      if (opts.readyDelayMs) await clock.sleep(opts.readyDelayMs, signal);
      const now = new Date(clock.now()).toISOString();
      let cur = await pods.get(p.metadata.namespace, p.metadata.name ?? '');
      cur = clone(cur);
      if (cur.metadata.deletionTimestamp || cur.status?.phase === 'Succeeded' || cur.status?.phase === 'Failed' || cur.status?.phase === 'Running') return;
      if (!cur.spec.nodeName) {
        if (opts.bind === false) return; // a scheduler places pods
        if (pods.bind) {
          await pods.bind(cur, opts.nodeName ?? 'sim-node-1');
          cur = clone(await pods.get(cur.metadata.namespace, cur.metadata.name ?? ''));
        } else {
          cur.spec.nodeName = opts.nodeName ?? 'sim-node-1';
          cur = await pods.update(cur);
        }
      }
      if (opts.nodes && !opts.nodes.includes(cur.spec.nodeName ?? '')) return; // not one of ours
      cur.status = {
        ...(cur.status ?? {}),
        phase: 'Running',
        startTime: now,
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'True', lastTransitionTime: now },
        ],
      };
      cur = await pods.updateStatus(cur);
      const rp = cur.spec.restartPolicy ?? 'Always';
      if (rp === 'Always') return;
      const ann = cur.metadata.annotations ?? {};
      const out: SimOutcome = opts.decide?.(cur) ?? {
        exitCode: Number(ann['wharf.dev/sim-exit-code'] ?? '0'),
        runMs: Number(ann['wharf.dev/sim-run-ms'] ?? '0'),
        ...(ann['wharf.dev/sim-output'] !== undefined ? { output: ann['wharf.dev/sim-output'] } : {}),
      };
      if (out.runMs) await clock.sleep(out.runMs, signal);
      cur = clone(await pods.get(cur.metadata.namespace, cur.metadata.name ?? ''));
      if (cur.metadata.deletionTimestamp) return;
      const end = new Date(clock.now()).toISOString();
      cur.status = {
        ...(cur.status ?? {}),
        phase: out.exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: [
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
          { type: 'Ready', status: 'False', lastTransitionTime: end },
        ],
        containerStatuses: cur.spec.containers.map((c) => ({
          name: c.name,
          ready: false,
          restartCount: 0,
          image: c.image,
          state: { terminated: { exitCode: out.exitCode, reason: out.exitCode === 0 ? 'Completed' : 'Error', ...(out.output !== undefined ? { message: out.output } : {}) } },
        })),
      };
      await pods.updateStatus(cur);
    } catch (err) {
      if (!signal.aborted && !isWharfError(err, 'NotFound') && !isWharfError(err, 'Conflict')) throw err;
    } finally {
      inflight.delete(key);
    }
  };
  return (async () => {
    const list = await pods.list();
    const tasks = new Set<Promise<void>>();
    const go = (p: Pod) => {
      const t = handle(p).catch(() => undefined);
      tasks.add(t);
      void t.finally(() => tasks.delete(t));
    };
    for (const p of list.items) go(p);
    try {
      for await (const ev of pods.watch({ resourceVersion: list.resourceVersion, signal })) {
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') go(ev.object);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    await Promise.all([...tasks]);
  })();
}
