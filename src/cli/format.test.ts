import { describe, it, expect } from 'vitest';
import { age, jsonPath, renderTable, columnsFor } from './format.js';
import { parseManifests } from './manifests.js';

describe('cli formatting', () => {
  it('ages like kubectl', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(age('2026-01-09T23:59:55Z', now)).toBe('5s');
    expect(age('2026-01-09T23:55:30Z', now)).toBe('4m30s');
    expect(age('2026-01-09T22:00:00Z', now)).toBe('120m');
    expect(age('2026-01-09T00:00:00Z', now)).toBe('24h');
    expect(age('2026-01-01T00:00:00Z', now)).toBe('9d');
  });

  it('renders tables with three-space gaps', () => {
    expect(renderTable(['NAME', 'AGE'], [['a', '1s'], ['longer', '2d']])).toBe('NAME     AGE\na        1s\nlonger   2d\n');
    const pod = { metadata: { name: 'p', creationTimestamp: '2026-01-10T00:00:00Z' }, spec: { containers: [{}, {}], nodeName: 'n1' }, status: { phase: 'Running', containerStatuses: [{ ready: true, restartCount: 2 }, { ready: false, restartCount: 1 }] } };
    expect(columnsFor('Pod', true).row(pod, Date.parse('2026-01-10T00:00:07Z'))).toEqual(['p', '1/2', 'Running', '3', '7s', '<none>', 'n1']);
  });

  it('evaluates the JSONPath subset', () => {
    const list = { items: [{ metadata: { name: 'a', labels: { 'app.kubernetes.io/name': 'x' } } }, { metadata: { name: 'b' } }] };
    expect(jsonPath('{.items[*].metadata.name}', list)).toBe('a b');
    expect(jsonPath('{.items[-1].metadata.name}', list)).toBe('b');
    expect(jsonPath('{range .items[*]}{.metadata.name}{"\\n"}{end}', list)).toBe('a\nb\n');
    expect(jsonPath("{.items[0].metadata.labels['app.kubernetes.io/name']}", list)).toBe('x');
    expect(() => jsonPath('{.items[', list)).toThrow(/unclosed|unsupported/);
  });

  it('parses multi-document YAML, JSON and Lists, and reports bad documents', () => {
    const docs = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}]}\n', 'f.yaml');
    expect(docs.map((d) => `${d.object.kind}/${d.object.metadata.name}`)).toEqual(['ConfigMap/a', 'Secret/s']);
    expect(() => parseManifests('kind: ConfigMap\nmetadata: {name: a}\n', 'f.yaml')).toThrow(/apiVersion and kind must be set/);
    expect(() => parseManifests('a: [\n', 'f.yaml')).toThrow(/error parsing f.yaml/);
  });
});
