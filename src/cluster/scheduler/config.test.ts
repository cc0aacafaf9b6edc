import { describe, it, expect } from 'vitest';
import { parseDuration, parseSchedulerConfig } from './config.js';

const names = (c: ReturnType<typeof parseSchedulerConfig>) => ({
  filters: c.profile.filters.map((f) => f.name),
  scores: Object.fromEntries(c.profile.scores.map((s) => [s.plugin.name, s.weight])),
});

describe('scheduler config file', () => {
  it('defaults to the default profile, no leader election', () => {
    const c = parseSchedulerConfig('apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n');
    expect(c.schedulerName).toBe('default-scheduler');
    expect(c.percentageOfNodesToScore).toBe(0);
    expect(c.leaderElection.leaderElect).toBe(false);
    expect(names(c).filters).toEqual(['NodeUnschedulable', 'TaintToleration', 'NodeAffinity', 'NodePorts', 'NodeResourcesFit', 'PodTopologySpread', 'InterPodAffinity']);
    expect(names(c).scores).toMatchObject({ NodeResourcesLeastAllocated: 1, TaintToleration: 3 });
  });
  it('applies plugin enable/disable, weights, percentageOfNodesToScore and leader election', () => {
    const c = parseSchedulerConfig(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
leaderElection:
  leaderElect: true
  leaseDuration: 6s
  renewDeadline: 4s
  retryPeriod: 500ms
  resourceName: my-scheduler
profiles:
  - schedulerName: bin-packer
    plugins:
      filter:
        disabled: [{ name: NodePorts }]
      score:
        disabled: [{ name: '*' }]
        enabled:
          - { name: NodeResourcesMostAllocated, weight: 5 }
          - { name: TaintToleration }
`);
    expect(c.schedulerName).toBe('bin-packer');
    expect(c.percentageOfNodesToScore).toBe(30);
    expect(c.leaderElection).toEqual({ leaderElect: true, leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 500, resourceNamespace: 'kube-system', resourceName: 'my-scheduler' });
    expect(names(c).filters).not.toContain('NodePorts');
    expect(names(c).filters).toHaveLength(6);
    expect(names(c).scores).toEqual({ NodeResourcesMostAllocated: 5, TaintToleration: 1 });
  });
  it('refuses what it does not support or cannot be right, naming the field', () => {
    const head = 'apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n';
    expect(() => parseSchedulerConfig(`${head}profiles:\n  - plugins:\n      score:\n        enabled: [{ name: NoSuchPlugin }]\n`)).toThrow(/unknown score plugin "NoSuchPlugin" \(known: /);
    expect(() => parseSchedulerConfig(`${head}profiles:\n  - pluginConfig: []\n`)).toThrow(/profiles\[0\]\.pluginConfig: not supported/);
    expect(() => parseSchedulerConfig(`${head}profiles:\n  - schedulerName: a\n  - schedulerName: b\n`)).toThrow(/only one profile/);
    expect(() => parseSchedulerConfig(`${head}leaderElection:\n  leaseDuration: 2s\n  renewDeadline: 3s\n`)).toThrow(/renewDeadline must be shorter than leaseDuration/);
    expect(() => parseSchedulerConfig(`${head}percentageOfNodesToScore: 150\n`)).toThrow(/percentageOfNodesToScore/);
    expect(() => parseSchedulerConfig(`${head}profiles:\n  - plugins:\n      score:\n        enabled: [{ name: NodeResourcesMostAllocated }]\n`)).toThrow(/opposite directions/);
    expect(() => parseSchedulerConfig('kind: [')).toThrow(/not valid YAML/);
    expect(() => parseSchedulerConfig('apiVersion: v1\nkind: Pod\n')).toThrow(/apiVersion/);
  });
  it('parses durations', () => {
    expect(parseDuration('1m30s', 'x')).toBe(90_000);
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(() => parseDuration('10 seconds', 'x')).toThrow(/not a duration/);
  });
});
