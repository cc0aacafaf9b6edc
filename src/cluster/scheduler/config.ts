import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { invalid } from '../../core/errors.js';
import type { FilterPlugin, ScorePlugin } from './framework.js';
import { imageLocality } from './plugins/image-locality.js';
import { interPodAffinity, interPodAffinityScore } from './plugins/inter-pod-affinity.js';
import { nodeAffinity, nodeAffinityScore } from './plugins/node-affinity.js';
import { nodePorts } from './plugins/node-ports.js';
import { balancedAllocation, leastAllocated, mostAllocated, nodeResourcesFit } from './plugins/node-resources.js';
import { nodeUnschedulable } from './plugins/node-unschedulable.js';
import { taintToleration, taintTolerationScore } from './plugins/taint-toleration.js';
import { podTopologySpread, podTopologySpreadScore } from './plugins/topology-spread.js';
import { defaultProfile, type Profile } from './profile.js';

// `wharf scheduler --config FILE`: a KubeSchedulerConfiguration-like YAML. One profile (its
// schedulerName, filter and score plugins enabled/disabled by name, score weights),
// percentageOfNodesToScore, and leaderElection. Anything else is an error that names the field:
// a setting Wharf would silently ignore is worse than one it refuses.

export interface LeaderElectionConfig {
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  resourceNamespace: string;
  resourceName: string;
}

export interface SchedulerConfig {
  schedulerName: string;
  profile: Profile;
  percentageOfNodesToScore: number;
  leaderElection: LeaderElectionConfig;
}

export const DEFAULT_LEADER_ELECTION: LeaderElectionConfig = {
  leaderElect: false,
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  resourceNamespace: 'kube-system',
  resourceName: 'wharf-scheduler',
};

/** Filter plugins in their evaluation order (cheap checks first), by name. */
const FILTERS: () => FilterPlugin<any>[] = () => [nodeUnschedulable, taintToleration, nodeAffinity, nodePorts, nodeResourcesFit, podTopologySpread(), interPodAffinity];
const SCORES: () => ScorePlugin<any>[] = () => [leastAllocated, mostAllocated, balancedAllocation, imageLocality(), interPodAffinityScore, nodeAffinityScore, podTopologySpreadScore(), taintTolerationScore];

/** "15s", "1m30s", "500ms", "2h" → ms. */
export function parseDuration(v: string, field: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let ms = 0;
  let i = 0;
  if (!v) throw invalid(`${field}: a duration such as "15s" is required`);
  while (i < v.length) {
    re.lastIndex = i;
    const m = re.exec(v);
    if (!m) throw invalid(`${field}: ${JSON.stringify(v)} is not a duration (e.g. "500ms", "15s", "1m30s")`);
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    i = re.lastIndex;
  }
  return ms;
}

const pluginRef = z.strictObject({ name: z.string().min(1), weight: z.number().int().min(1).max(100).optional() });
const pluginSet = z.strictObject({ enabled: z.array(pluginRef).optional(), disabled: z.array(pluginRef).optional() });
const configSchema = z.strictObject({
  apiVersion: z.enum(['kubescheduler.config.k8s.io/v1', 'wharf.dev/v1']),
  kind: z.literal('KubeSchedulerConfiguration'),
  percentageOfNodesToScore: z.number().int().min(0).max(100).optional(),
  leaderElection: z
    .strictObject({
      leaderElect: z.boolean().optional(),
      leaseDuration: z.string().optional(),
      renewDeadline: z.string().optional(),
      retryPeriod: z.string().optional(),
      resourceNamespace: z.string().min(1).optional(),
      resourceName: z.string().min(1).optional(),
      resourceLock: z.literal('leases').optional(),
    })
    .optional(),
  profiles: z
    .array(
      z.strictObject({
        schedulerName: z.string().min(1).optional(),
        percentageOfNodesToScore: z.number().int().min(0).max(100).optional(),
        plugins: z.strictObject({ filter: pluginSet.optional(), score: pluginSet.optional() }).optional(),
      }),
    )
    .optional(),
});

function pathOf(p: readonly PropertyKey[]): string {
  return p.map((x) => (typeof x === 'number' ? `[${x}]` : `.${String(x)}`)).join('').replace(/^\./, '');
}

/** Parses and checks a scheduler configuration file's text. */
export function parseSchedulerConfig(text: string): SchedulerConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw invalid(`scheduler config: not valid YAML: ${(err as Error).message}`);
  }
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    const msgs = r.error.issues.map((is) => {
      const f = pathOf(is.path);
      if (is.code === 'unrecognized_keys') return `${is.keys.map((k) => (f ? `${f}.${k}` : k)).join(', ')}: not supported by Wharf's scheduler`;
      return `${f || '(top)'}: ${is.message}`;
    });
    throw invalid(`scheduler config: ${msgs.join('; ')}`);
  }
  const c = r.data;
  if ((c.profiles?.length ?? 0) > 1) throw invalid('scheduler config: profiles: only one profile is supported (run one `wharf scheduler` per schedulerName)');
  const p = c.profiles?.[0] ?? {};
  const le = c.leaderElection ?? {};
  const leader: LeaderElectionConfig = {
    leaderElect: le.leaderElect ?? DEFAULT_LEADER_ELECTION.leaderElect,
    leaseDurationMs: le.leaseDuration ? parseDuration(le.leaseDuration, 'leaderElection.leaseDuration') : DEFAULT_LEADER_ELECTION.leaseDurationMs,
    renewDeadlineMs: le.renewDeadline ? parseDuration(le.renewDeadline, 'leaderElection.renewDeadline') : DEFAULT_LEADER_ELECTION.renewDeadlineMs,
    retryPeriodMs: le.retryPeriod ? parseDuration(le.retryPeriod, 'leaderElection.retryPeriod') : DEFAULT_LEADER_ELECTION.retryPeriodMs,
    resourceNamespace: le.resourceNamespace ?? DEFAULT_LEADER_ELECTION.resourceNamespace,
    resourceName: le.resourceName ?? DEFAULT_LEADER_ELECTION.resourceName,
  };
  if (!(leader.renewDeadlineMs < leader.leaseDurationMs)) throw invalid('scheduler config: leaderElection.renewDeadline must be shorter than leaseDuration');
  if (!(leader.retryPeriodMs < leader.renewDeadlineMs)) throw invalid('scheduler config: leaderElection.retryPeriod must be shorter than renewDeadline');
  return {
    schedulerName: p.schedulerName ?? 'default-scheduler',
    percentageOfNodesToScore: p.percentageOfNodesToScore ?? c.percentageOfNodesToScore ?? 0,
    leaderElection: leader,
    profile: buildProfile(p.plugins ?? {}),
  };
}

type PluginSet = z.infer<typeof pluginSet>;

/** The default profile with the file's enable/disable lists and weights applied. */
export function buildProfile(plugins: { filter?: PluginSet; score?: PluginSet }): Profile {
  const base = defaultProfile();
  const allFilters = FILTERS();
  const allScores = SCORES();
  const known = (list: { name: string }[]) => [...new Set(list.map((x) => x.name))].join(', ');
  // filters
  let filterNames = base.filters.map((f) => f.name);
  const fd = plugins.filter?.disabled ?? [];
  if (fd.some((d) => d.name === '*')) filterNames = [];
  for (const d of fd) {
    if (d.name === '*') continue;
    if (!allFilters.some((f) => f.name === d.name)) throw invalid(`scheduler config: plugins.filter.disabled: unknown filter plugin ${JSON.stringify(d.name)} (known: ${known(allFilters)})`);
    filterNames = filterNames.filter((n) => n !== d.name);
  }
  for (const e of plugins.filter?.enabled ?? []) {
    if (!allFilters.some((f) => f.name === e.name)) throw invalid(`scheduler config: plugins.filter.enabled: unknown filter plugin ${JSON.stringify(e.name)} (known: ${known(allFilters)})`);
    if (e.weight !== undefined) throw invalid(`scheduler config: plugins.filter.enabled: ${e.name}: filters have no weight`);
    if (!filterNames.includes(e.name)) filterNames.push(e.name);
  }
  // scores
  let scores = base.scores.map((s) => ({ name: s.plugin.name, weight: s.weight }));
  const sd = plugins.score?.disabled ?? [];
  if (sd.some((d) => d.name === '*')) scores = [];
  for (const d of sd) {
    if (d.name === '*') continue;
    if (!allScores.some((s) => s.name === d.name)) throw invalid(`scheduler config: plugins.score.disabled: unknown score plugin ${JSON.stringify(d.name)} (known: ${known(allScores)})`);
    scores = scores.filter((s) => s.name !== d.name);
  }
  for (const e of plugins.score?.enabled ?? []) {
    if (!allScores.some((s) => s.name === e.name)) throw invalid(`scheduler config: plugins.score.enabled: unknown score plugin ${JSON.stringify(e.name)} (known: ${known(allScores)})`);
    const cur = scores.find((s) => s.name === e.name);
    if (cur) cur.weight = e.weight ?? cur.weight;
    else scores.push({ name: e.name, weight: e.weight ?? 1 });
  }
  if (scores.some((s) => s.name === 'NodeResourcesLeastAllocated') && scores.some((s) => s.name === 'NodeResourcesMostAllocated')) {
    throw invalid('scheduler config: plugins.score: NodeResourcesLeastAllocated and NodeResourcesMostAllocated pull in opposite directions: enable one (disable the other)');
  }
  return {
    // keep the canonical, cheapest-first order whatever the file's order
    filters: allFilters.filter((f) => filterNames.includes(f.name)),
    scores: scores.map((s) => ({ plugin: allScores.find((x) => x.name === s.name)!, weight: s.weight })),
  };
}
