import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseTarget, renderWorkflowGraph, resolveConnection, rolloutStatus } from './rollout.js';
import type { Deployment, Workflow } from '../cluster/controllers/objects.js';

const dep = (status: Deployment['status'], gen = 2): Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', generation: gen },
  spec: { replicas: 3, selector: {}, template: {} },
  ...(status ? { status } : {}),
});

describe('wharf rollout', () => {
  it('reports rollout progress like kubectl and finishes when all new replicas are available', () => {
    expect(rolloutStatus(dep({ observedGeneration: 1 })).message).toBe('Waiting for deployment spec update to be observed...');
    expect(rolloutStatus(dep({ observedGeneration: 2, updatedReplicas: 1, replicas: 4 })).message).toBe('Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...');
    expect(rolloutStatus(dep({ observedGeneration: 2, updatedReplicas: 3, replicas: 4, availableReplicas: 3 })).message).toMatch(/1 old replicas are pending termination/);
    expect(rolloutStatus(dep({ observedGeneration: 2, updatedReplicas: 3, replicas: 3, availableReplicas: 3 }))).toEqual({ done: true, message: 'deployment "web" successfully rolled out' });
    expect(rolloutStatus(dep({ observedGeneration: 2, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] })).failed).toBe(true);
  });

  it('parses type/name and rejects unsupported types with a clear message', () => {
    expect(parseTarget('deployment/web', undefined, { deployment: ['apps/v1', 'Deployment'] })).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
    expect(parseTarget('deployment', 'web', { deployment: ['apps/v1', 'Deployment'] }).name).toBe('web');
    expect(() => parseTarget('pod/x', undefined, { deployment: ['apps/v1', 'Deployment'] })).toThrow(/unsupported resource type "pod"/);
    expect(() => parseTarget('deployment', undefined, { deployment: ['apps/v1', 'Deployment'] })).toThrow(/name is required/);
  });

  it('reads the connection from an admin.yaml-style config, flags winning', () => {
    const dir = mkdtempSync('/var/tmp/wharf-test-cfg-');
    try {
      const f = join(dir, 'admin.yaml');
      writeFileSync(f, 'apiVersion: v1\nkind: Config\nclusters:\n- name: wharf\n  cluster: {server: "http://127.0.0.1:1"}\nusers:\n- name: u\n  user: {token: t1}\ncontexts:\n- name: wharf\n  context: {cluster: wharf, user: u, namespace: ns1}\ncurrent-context: wharf\n');
      expect(resolveConnection({ config: f }, {})).toEqual({ server: 'http://127.0.0.1:1', token: 't1', namespace: 'ns1' });
      expect(resolveConnection({}, { WHARF_CONFIG: f }).token).toBe('t1');
      expect(resolveConnection({ config: f, token: 'x', namespace: 'n2' }, {})).toMatchObject({ token: 'x', namespace: 'n2' });
      expect(() => resolveConnection({ config: join(dir, 'missing') }, {})).toThrow(/no such file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('wharf workflow graph', () => {
  it('prints tasks by depth with their dependencies and states', () => {
    const wf: Workflow = {
      apiVersion: 'wharf.dev/v1',
      kind: 'Workflow',
      metadata: { name: 'w', namespace: 'default' },
      spec: { tasks: [{ name: 'b', dependencies: ['a'], template: {} }, { name: 'a', template: {} }, { name: 'c', dependencies: ['a'], template: {} }, { name: 'd', dependencies: ['b', 'c'], template: {} }] },
      status: { phase: 'Running', tasks: { a: { phase: 'Succeeded', attempts: 1, outputs: { result: '42' } }, b: { phase: 'Running', attempts: 2 }, c: { phase: 'Failed', message: 'exit code 1' } } },
    };
    expect(renderWorkflowGraph(wf)).toBe(
      [
        'Workflow default/w: Running',
        '✔ a [Succeeded]  (result="42")',
        '  ● b [Running] <- a  (attempts 2)',
        '  ✘ c [Failed] <- a  (exit code 1)',
        '    ○ d [Pending] <- b, c',
        '',
      ].join('\n'),
    );
  });
});
