import { describe, it, expect } from 'vitest';
import { decodeObject, validateObject, findCycle } from './validate.js';
import { resourceByKind } from './registry.js';
import { isWharfError } from '../../core/errors.js';
import { parseLabelSelector, matchesRequirements, parseFieldSelector } from './selectors.js';

const info = (av: string, kind: string) => resourceByKind(av, kind)!;
function errorOf(fn: () => unknown): { message: string; causes: { field?: string; message?: string }[] } {
  try {
    fn();
  } catch (e) {
    if (!isWharfError(e)) throw e;
    return { message: e.message, causes: (e.details?.causes as { field?: string }[]) ?? [] };
  }
  throw new Error('expected an error');
}
const full = (av: string, kind: string, o: Record<string, unknown>) => {
  const i = info(av, kind);
  const obj = decodeObject(i, o);
  validateObject(i, obj);
  return obj;
};

const pod = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { containers: [{ name: 'c', image: 'nginx:1.25', ...extra }] },
});

describe('decode and validate', () => {
  it('names the path of an unknown field', () => {
    const e = errorOf(() => full('v1', 'Pod', pod({ imagePullPolicyy: 'Always' })));
    expect(e.message).toContain('spec.containers[0].imagePullPolicyy: unknown field');
    expect(e.causes[0]!.field).toBe('spec.containers[0].imagePullPolicyy');
  });

  it('defaults a pod like Kubernetes', () => {
    const p = full('v1', 'Pod', { ...pod(), metadata: { name: 'web', creationTimestamp: null } }) as any;
    expect(p.spec.restartPolicy).toBe('Always');
    expect(p.spec.terminationGracePeriodSeconds).toBe(30);
    expect(p.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    expect(p.metadata.creationTimestamp).toBeUndefined();
    const q = full('v1', 'Pod', { ...pod(), spec: { containers: [{ name: 'c', image: 'busybox' }] } }) as any;
    expect(q.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('rejects names that are not DNS names and unsupported enum values', () => {
    expect(errorOf(() => full('v1', 'Pod', { ...pod(), metadata: { name: 'Web_1' } })).causes[0]!.field).toBe('metadata.name');
    expect(errorOf(() => full('v1', 'Namespace', { metadata: { name: 'a.b' } })).causes[0]!.field).toBe('metadata.name');
    const e = errorOf(() => full('v1', 'Pod', pod({ imagePullPolicy: 'Sometimes' })));
    expect(e.causes[0]!.field).toBe('spec.containers[0].imagePullPolicy');
  });

  it('rejects a wrong kind for the endpoint', () => {
    expect(errorOf(() => decodeObject(info('v1', 'Pod'), { apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'x' } })).message).toMatch(/do not match/);
  });

  it('rejects a Deployment whose selector does not match its template', () => {
    const d = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    };
    const e = errorOf(() => full('apps/v1', 'Deployment', d));
    expect(e.message).toMatch(/selector. does not match template .labels/);
    d.spec.template.metadata.labels.app = 'web';
    const ok = full('apps/v1', 'Deployment', d) as any;
    expect(ok.spec.replicas).toBe(1);
    expect(ok.spec.strategy.rollingUpdate.maxSurge).toBe('25%');
  });

  it('rejects a Workflow with a cycle or an unknown dependency', () => {
    const tpl = { spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    const wf = (tasks: { name: string; dependencies?: string[] }[]) => ({
      apiVersion: 'wharf.dev/v1',
      kind: 'Workflow',
      metadata: { name: 'wf' },
      spec: { tasks: tasks.map((t) => ({ ...t, template: tpl })) },
    });
    expect(errorOf(() => full('wharf.dev/v1', 'Workflow', wf([{ name: 'a', dependencies: ['c'] }, { name: 'b', dependencies: ['a'] }, { name: 'c', dependencies: ['b'] }]))).message).toMatch(/dependency cycle: a -> c -> b -> a/);
    expect(errorOf(() => full('wharf.dev/v1', 'Workflow', wf([{ name: 'a', dependencies: ['zz'] }]))).causes[0]!.field).toBe('spec.tasks[0].dependencies[0]');
    const ok = full('wharf.dev/v1', 'Workflow', wf([{ name: 'a' }, { name: 'b', dependencies: ['a'] }])) as any;
    expect(ok.spec.onFailure).toBe('stop');
    expect(ok.spec.tasks[0].template.spec.restartPolicy).toBe('Never');
    expect(findCycle([{ name: 'a', dependencies: ['b'] }, { name: 'b' }])).toBeUndefined();
  });

  it('encodes Secret stringData into data', () => {
    const s = full('v1', 'Secret', { metadata: { name: 's' }, stringData: { pw: 'hunter2' } }) as any;
    expect(s.data.pw).toBe(Buffer.from('hunter2').toString('base64'));
    expect(s.stringData).toBeUndefined();
  });
});

describe('selectors', () => {
  it('parses every label selector operator', () => {
    const r = parseLabelSelector('a=1,b==2,c!=3,d in (x, y),e notin (z),f,!g');
    const yes = { a: '1', b: '2', c: '4', d: 'y', e: 'q', f: '' };
    expect(matchesRequirements(r, yes)).toBe(true);
    expect(matchesRequirements(r, { ...yes, g: '1' })).toBe(false);
    expect(matchesRequirements(r, { ...yes, d: 'w' })).toBe(false);
  });
  it('rejects bad selector syntax', () => {
    for (const bad of ['a in (x', 'a=b,', 'a ~ b', 'in (x)', '=b', 'a in ()']) expect(() => parseLabelSelector(bad), bad).toThrow();
    expect(() => parseFieldSelector('spec.foo=x', ['metadata.name'])).toThrow(/not supported/);
    expect(parseFieldSelector('metadata.name!=x', ['metadata.name'])).toEqual([{ field: 'metadata.name', op: '!=', value: 'x' }]);
  });
});
