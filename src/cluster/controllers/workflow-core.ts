import { clone, controllerRef, type Pod, type Workflow, type WorkflowTask, type WorkflowTaskStatus } from './objects.js';
import { podFromTemplate } from './pods.js';

// The Workflow controller's pure core (wharf.dev/v1). Every fact it needs to resume is
// in the Workflow's status (task phases, attempts, pod names, outputs) or in pods whose
// names are deterministic (`<workflow>-<task>-<attempt>`), so a controller that restarts
// at any point recomputes the same plan and re-creating a pod that exists is a no-op.
//
// Outputs: when a task's pod succeeds, the termination message of its first container
// (what the program wrote to /dev/termination-log; the node agent puts it in
// status.containerStatuses[0].state.terminated.message) becomes `outputs.result`
// (at most 4096 bytes, trailing newline trimmed). A dependent task may use
// `{{tasks.NAME.outputs.result}}` and `{{workflow.parameters.NAME}}` in its containers'
// command, args and env values; NAME must be one of its (transitive) dependencies.

export const WORKFLOW_LABEL = 'wharf.dev/workflow';
export const TASK_LABEL = 'wharf.dev/task';
export const ATTEMPT_ANNOTATION = 'wharf.dev/attempt';
export const MAX_OUTPUT = 4096;

export interface WorkflowPlan {
  create: Pod[];
  /** Pods to delete (timed out, or left running by a finished Workflow). */
  remove: Pod[];
  status: NonNullable<Workflow['status']>;
  requeueAfterMs?: number;
  events: { type: 'Normal' | 'Warning'; reason: string; message: string }[];
}

export function podNameFor(wf: string, task: string, attempt: number): string {
  const safe = task.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${wf}-${safe}-${attempt}`.slice(0, 253);
}

/** Tasks in a topological order, or the names on a cycle / unknown dependencies. */
export function topoOrder(tasks: readonly WorkflowTask[]): { order: WorkflowTask[] } | { error: string } {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  if (byName.size !== tasks.length) return { error: 'duplicate task names' };
  for (const t of tasks) for (const d of t.dependencies ?? []) if (!byName.has(d)) return { error: `task "${t.name}" depends on unknown task "${d}"` };
  const state = new Map<string, 1 | 2>();
  const order: WorkflowTask[] = [];
  const visit = (t: WorkflowTask, path: string[]): string | undefined => {
    const s = state.get(t.name);
    if (s === 2) return undefined;
    if (s === 1) return `dependency cycle: ${[...path, t.name].join(' -> ')}`;
    state.set(t.name, 1);
    for (const d of t.dependencies ?? []) {
      const e = visit(byName.get(d)!, [...path, t.name]);
      if (e) return e;
    }
    state.set(t.name, 2);
    order.push(t);
    return undefined;
  };
  for (const t of tasks) {
    const e = visit(t, []);
    if (e) return { error: e };
  }
  return { order };
}

function ancestors(name: string, byName: Map<string, WorkflowTask>): Set<string> {
  const out = new Set<string>();
  const stack = [...(byName.get(name)?.dependencies ?? [])];
  while (stack.length) {
    const n = stack.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    stack.push(...(byName.get(n)?.dependencies ?? []));
  }
  return out;
}

const REF = /\{\{\s*(tasks\.([A-Za-z0-9_.-]+?)\.outputs\.result|workflow\.parameters\.([A-Za-z0-9_.-]+))\s*\}\}/g;

/** Replaces output and parameter references; throws with a clear message on a bad one. */
export function substitute(s: string, task: string, allowed: Set<string>, outputs: (t: string) => string | undefined, params: Map<string, string>): string {
  return s.replace(REF, (_m, _all: string, t: string | undefined, p: string | undefined) => {
    if (t !== undefined) {
      if (!allowed.has(t)) throw new Error(`task "${task}" uses the output of "${t}", which is not one of its dependencies`);
      const v = outputs(t);
      if (v === undefined) throw new Error(`task "${task}": task "${t}" has no output`);
      return v;
    }
    const v = params.get(p ?? '');
    if (v === undefined) throw new Error(`task "${task}": unknown workflow parameter "${p}"`);
    return v;
  });
}

export function outputOf(p: Pod): string {
  const msg = p.status?.containerStatuses?.[0]?.state?.terminated?.message ?? p.metadata.annotations?.['wharf.dev/output'] ?? '';
  return Buffer.from(msg.replace(/\n$/, ''), 'utf8').subarray(0, MAX_OUTPUT).toString('utf8');
}

function failureMessage(p: Pod): string {
  const t = p.status?.containerStatuses?.find((c) => c.state?.terminated && c.state.terminated.exitCode !== 0)?.state?.terminated;
  if (t) return `exit code ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}`;
  return p.status?.message ?? p.status?.reason ?? 'pod failed';
}

export function planWorkflow(wf: Workflow, allPods: readonly Pod[], now: number): WorkflowPlan {
  const nowIso = new Date(now).toISOString();
  const name = wf.metadata.name ?? '';
  const pods = new Map<string, Pod>();
  for (const p of allPods) if (p.metadata.namespace === wf.metadata.namespace && controllerRef(p)?.uid === wf.metadata.uid) pods.set(p.metadata.name ?? '', p);
  const prev = wf.status ?? {};
  const tasks: Record<string, WorkflowTaskStatus> = clone(prev.tasks ?? {});
  const plan: WorkflowPlan = { create: [], remove: [], events: [], status: { ...clone(prev), tasks } };
  const st = plan.status;
  if (st.phase === 'Succeeded' || st.phase === 'Failed') {
    for (const p of pods.values()) if (!p.metadata.deletionTimestamp && (p.status?.phase === 'Running' || p.status?.phase === 'Pending' || !p.status?.phase)) plan.remove.push(p);
    return plan;
  }
  st.startTime ??= nowIso;
  st.observedGeneration = wf.metadata.generation ?? 0;
  const topo = topoOrder(wf.spec.tasks);
  if ('error' in topo) {
    st.phase = 'Failed';
    st.message = topo.error;
    st.completionTime = nowIso;
    plan.events.push({ type: 'Warning', reason: 'InvalidWorkflow', message: topo.error });
    return plan;
  }
  const byName = new Map(wf.spec.tasks.map((t) => [t.name, t]));
  const params = new Map((wf.spec.parameters ?? []).map((p) => [p.name, p.value ?? '']));
  const stopOnFailure = (wf.spec.onFailure ?? 'stop') === 'stop';
  let requeue: number | undefined;
  const failTask = (t: string, s: WorkflowTaskStatus, msg: string) => {
    s.phase = 'Failed';
    s.message = msg;
    s.completionTime = nowIso;
    plan.events.push({ type: 'Warning', reason: 'TaskFailed', message: `task ${t}: ${msg}` });
  };
  const startAttempt = (t: WorkflowTask, s: WorkflowTaskStatus, attempt: number) => {
    const podName = podNameFor(name, t.name, attempt);
    s.attempts = attempt;
    s.podName = podName;
    s.phase = 'Running';
    s.startTime ??= nowIso;
    delete s.message;
    if (pods.has(podName)) return; // created before a restart: adopt it
    let pod: Pod;
    try {
      const allowed = ancestors(t.name, byName);
      const out = (x: string) => tasks[x]?.outputs?.result;
      pod = podFromTemplate(t.template, wf, { name: podName, labels: { [WORKFLOW_LABEL]: name, [TASK_LABEL]: t.name }, annotations: { [ATTEMPT_ANNOTATION]: String(attempt) } });
      for (const c of [...pod.spec.containers, ...((pod.spec.initContainers as typeof pod.spec.containers | undefined) ?? [])]) {
        if (c.command) c.command = c.command.map((x) => substitute(x, t.name, allowed, out, params));
        if (c.args) c.args = c.args.map((x) => substitute(x, t.name, allowed, out, params));
        if (c.env) c.env = c.env.map((e) => (e.value === undefined ? e : { ...e, value: substitute(e.value, t.name, allowed, out, params) }));
      }
    } catch (err) {
      failTask(t.name, s, (err as Error).message);
      return;
    }
    if (pod.spec.restartPolicy === 'Always' || pod.spec.restartPolicy === undefined) pod.spec.restartPolicy = 'Never';
    plan.create.push(pod);
  };

  let anyFailed = false;
  for (const t of topo.order) {
    const s: WorkflowTaskStatus = (tasks[t.name] ??= { phase: 'Pending', attempts: 0 });
    s.phase ??= 'Pending';
    if (s.phase === 'Failed' || s.phase === 'Skipped') anyFailed = true;
  }
  for (const t of topo.order) {
    const s = tasks[t.name]!;
    if (s.phase === 'Running') {
      const pod = s.podName ? pods.get(s.podName) : undefined;
      if (!pod) {
        // created but not yet seen, or lost: (re)create the same attempt
        startAttempt(t, s, s.attempts || 1);
        continue;
      }
      const phase = pod.status?.phase;
      let failedMsg: string | undefined;
      if (phase === 'Succeeded') {
        s.phase = 'Succeeded';
        s.completionTime = nowIso;
        s.outputs = { ...(s.outputs ?? {}), result: outputOf(pod) };
        continue;
      }
      if (phase === 'Failed') failedMsg = failureMessage(pod);
      else if (pod.metadata.deletionTimestamp) failedMsg = 'pod was deleted before it finished (evicted or node lost)';
      else if (t.timeoutSeconds !== undefined) {
        const started = Date.parse(pod.metadata.creationTimestamp ?? nowIso);
        const left = started + t.timeoutSeconds * 1000 - now;
        if (left <= 0) {
          failedMsg = `timed out after ${t.timeoutSeconds}s`;
          if (!pod.metadata.deletionTimestamp) plan.remove.push(pod);
        } else requeue = Math.min(requeue ?? Infinity, left);
      }
      if (failedMsg === undefined) continue;
      const attempts = s.attempts ?? 1;
      if (attempts <= (t.retries ?? 0) && !(stopOnFailure && anyFailed)) {
        plan.events.push({ type: 'Normal', reason: 'TaskRetry', message: `task ${t.name} attempt ${attempts} failed (${failedMsg}); retrying` });
        startAttempt(t, s, attempts + 1);
      } else {
        failTask(t.name, s, failedMsg);
        anyFailed = true;
      }
      continue;
    }
    if (s.phase !== 'Pending') continue;
    const deps = (t.dependencies ?? []).map((d) => tasks[d]!);
    if (deps.some((d) => d.phase === 'Failed' || d.phase === 'Skipped')) {
      s.phase = 'Skipped';
      s.message = 'a dependency did not succeed';
      continue;
    }
    if (stopOnFailure && anyFailed) {
      s.phase = 'Skipped';
      s.message = 'workflow stopped after a task failed';
      continue;
    }
    if (deps.every((d) => d.phase === 'Succeeded')) startAttempt(t, s, 1);
    if ((s.phase as string) === 'Failed') anyFailed = true;
  }

  const phases = Object.values(tasks).map((x) => x.phase);
  const running = phases.some((p) => p === 'Running' || p === 'Pending');
  if (!running) {
    st.phase = phases.every((p) => p === 'Succeeded') ? 'Succeeded' : 'Failed';
    st.completionTime = nowIso;
    const failed = Object.entries(tasks).filter(([, x]) => x.phase === 'Failed').map(([k]) => k);
    st.message = st.phase === 'Succeeded' ? 'all tasks succeeded' : `failed tasks: ${failed.join(', ')}`;
    plan.events.push({ type: st.phase === 'Succeeded' ? 'Normal' : 'Warning', reason: `Workflow${st.phase}`, message: st.message });
  } else {
    st.phase = 'Running';
  }
  if (requeue !== undefined) plan.requeueAfterMs = Math.max(1, requeue);
  return plan;
}
