import { describe, it, expect } from 'vitest';
import { decodeObject, validateObject } from './validate.js';
import { resourceByKind } from './registry.js';
import { isWharfError } from '../../core/errors.js';

// Admission of the batch/apps/scheduling kinds and the cross-field rules the issue lists as bad input.

function check(av: string, kind: string, o: Record<string, unknown>): Record<string, any> {
  const i = resourceByKind(av, kind)!;
  const obj = decodeObject(i, o);
  validateObject(i, obj);
  return obj as Record<string, any>;
}
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isWharfError(e)) return e.message;
    throw e;
  }
  throw new Error('expected an error');
}

const tpl = (spec: Record<string, unknown> = {}, labels: Record<string, string> = { app: 'x' }) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
});
const cron = (spec: Record<string, unknown>, name = 'nightly') => ({
  apiVersion: 'batch/v1',
  kind: 'CronJob',
  metadata: { name, namespace: 'default' },
  spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: tpl() } }, ...spec },
});
const pod = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });
const nodeAffinity = (...terms: Record<string, unknown>[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } });

describe('CronJob admission', () => {
  it('defaults like Kubernetes (and the job template like a Job)', () => {
    const o = check('batch/v1', 'CronJob', cron({}));
    expect(o.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(o.spec.jobTemplate.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect(o.spec.jobTemplate.spec.template.spec.restartPolicy).toBe('Never');
  });
  it('accepts descriptors and a time zone', () => {
    expect(() => check('batch/v1', 'CronJob', cron({ schedule: '@hourly', timeZone: 'Europe/Paris' }))).not.toThrow();
  });
  it('rejects a bad schedule, an unknown time zone, a bad policy and a long name, naming the field', () => {
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({ schedule: '0 25 * * *' })))).toMatch(/spec\.schedule: Invalid value: "0 25 \* \* \*": .*hour/);
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({ schedule: '* * * *' })))).toMatch(/spec\.schedule: .*exactly 5 fields/);
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({ timeZone: 'Moon/Base' })))).toMatch(/spec\.timeZone: .*unknown time zone/);
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({ concurrencyPolicy: 'Sometimes' })))).toMatch(/spec\.concurrencyPolicy: Unsupported value/);
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({}, 'a'.repeat(53))))).toMatch(/no more than 52 characters/);
    expect(messageOf(() => check('batch/v1', 'CronJob', cron({ jobTemplate: { spec: { parallelism: -1, template: tpl() } } })))).toMatch(/spec\.jobTemplate\.spec\.parallelism: .*greater than or equal to 0/);
  });
});

describe('bad input the issue lists', () => {
  it('a Deployment whose selector does not match its template', () => {
    const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'y' } }, template: tpl() } };
    expect(messageOf(() => check('apps/v1', 'Deployment', d))).toMatch(/`selector` does not match template `labels`/);
  });
  it('a Workflow with a cycle or an unknown dependency', () => {
    const t = (name: string, deps: string[]) => ({ name, dependencies: deps, template: tpl({ restartPolicy: 'Never' }) });
    const wf = (tasks: unknown[]) => ({ apiVersion: 'wharf.dev/v1', kind: 'Workflow', metadata: { name: 'w' }, spec: { tasks } });
    expect(messageOf(() => check('wharf.dev/v1', 'Workflow', wf([t('a', ['c']), t('b', ['a']), t('c', ['b'])])))).toMatch(/dependency cycle: .*->/);
    expect(messageOf(() => check('wharf.dev/v1', 'Workflow', wf([t('a', ['nope'])])))).toMatch(/Not found: "nope"/);
  });
  it('a negative parallelism', () => {
    const j = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j' }, spec: { parallelism: -2, template: tpl({ restartPolicy: 'Never' }) } };
    expect(messageOf(() => check('batch/v1', 'Job', j))).toMatch(/spec\.parallelism: Invalid value: must be greater than or equal to 0/);
  });
  it('contradictory node affinity, alone or with nodeSelector', () => {
    const msg = messageOf(() =>
      check('v1', 'Pod', pod({ affinity: nodeAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'zone', operator: 'NotIn', values: ['a'] }] }) })),
    );
    expect(msg).toMatch(/contradictory node affinity.*no value of label "zone"/);
    expect(messageOf(() => check('v1', 'Pod', pod({ nodeSelector: { disk: 'ssd' }, affinity: nodeAffinity({ matchExpressions: [{ key: 'disk', operator: 'DoesNotExist' }] }) })))).toMatch(/must both exist and not exist/);
    expect(messageOf(() => check('v1', 'Pod', pod({ affinity: nodeAffinity({ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['8'] }, { key: 'cores', operator: 'Lt', values: ['9'] }] }) })))).toMatch(/greater than 8 and less than 9/);
    // in a template too
    const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'x' } }, template: tpl({ nodeSelector: { zone: 'a' }, affinity: nodeAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }) }) } };
    expect(messageOf(() => check('apps/v1', 'Deployment', d))).toMatch(/spec\.template\.spec\.affinity\.nodeAffinity.*contradictory/);
  });
  it('contradictory pod affinity and anti-affinity', () => {
    const term = { labelSelector: { matchLabels: { app: 'db' } }, topologyKey: 'kubernetes.io/hostname' };
    const msg = messageOf(() => check('v1', 'Pod', pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] }, podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } } })));
    expect(msg).toMatch(/required by podAffinity and podAntiAffinity/);
  });
  it('still accepts satisfiable affinity: one impossible term among possible ones, or disjoint keys', () => {
    expect(() =>
      check('v1', 'Pod', pod({ affinity: nodeAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'zone', operator: 'NotIn', values: ['a'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }) })),
    ).not.toThrow();
    expect(() => check('v1', 'Pod', pod({ nodeSelector: { disk: 'ssd' }, affinity: nodeAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }, { key: 'zone', operator: 'NotIn', values: ['a'] }] }) }))).not.toThrow();
  });
});

describe('DaemonSet admission', () => {
  const ds = (strategy: Record<string, unknown>) => ({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'x' } }, template: tpl(), updateStrategy: strategy } });
  it('defaults a RollingUpdate with maxUnavailable 1', () => {
    expect(check('apps/v1', 'DaemonSet', ds({})).spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
  });
  it('refuses surge (not supported yet) and a zero maxUnavailable', () => {
    expect(messageOf(() => check('apps/v1', 'DaemonSet', ds({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } })))).toMatch(/maxSurge: Unsupported value/);
    expect(messageOf(() => check('apps/v1', 'DaemonSet', ds({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0 } })))).toMatch(/maxUnavailable: Invalid value: may not be 0/);
  });
});

describe('PriorityClass', () => {
  it('is a cluster-scoped kind with a value', () => {
    const pc = check('scheduling.k8s.io/v1', 'PriorityClass', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'high' }, value: 1000, globalDefault: false });
    expect(pc.value).toBe(1000);
    expect(resourceByKind('scheduling.k8s.io/v1', 'PriorityClass')!.namespaced).toBe(false);
    expect(messageOf(() => check('scheduling.k8s.io/v1', 'PriorityClass', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'x' } }))).toMatch(/value: Required value/);
  });
});
