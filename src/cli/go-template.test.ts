import { describe, expect, it } from 'vitest';
import { GoTemplate, formatOne, formatRows, goString } from './go-template.js';

const r = (tpl: string, data: unknown) => new GoTemplate(tpl).render(data);

describe('Go template subset', () => {
  const c = { State: { Status: 'running', Pid: 42 }, Name: '/web', Config: { Env: ['A=B', 'C=D'], Labels: { b: '2', a: '1' } }, Nil: null };

  it('fields, json, nested paths, missing values', () => {
    expect(r('{{.State.Status}} {{.Name}}', c)).toBe('running /web');
    expect(r('{{json .Config.Env}}', c)).toBe('["A=B","C=D"]');
    expect(r('{{.Config.Env | json}}', c)).toBe('["A=B","C=D"]');
    expect(r('{{.Nope}}', c)).toBe('<no value>');
    expect(r('{{.Config.Labels}}', c)).toBe('map[a:1 b:2]');
    expect(r('{{.Config.Env}}', c)).toBe('[A=B C=D]');
    expect(r('{{json .Nil}}', c)).toBe('null');
  });

  it('functions: join, upper, index, printf, len, split, truncate', () => {
    expect(r('{{join .Config.Env ","}}', c)).toBe('A=B,C=D');
    expect(r('{{upper .State.Status}}', c)).toBe('RUNNING');
    expect(r('{{index .Config.Labels "a"}}', c)).toBe('1');
    expect(r('{{printf "%s-%d" .Name .State.Pid}}', c)).toBe('/web-42');
    expect(r('{{len .Config.Env}}', c)).toBe('2');
    expect(r('{{index (split "a:b" ":") 1}}', c)).toBe('b');
    expect(r('{{truncate .State.Status 3}}', c)).toBe('run');
  });

  it('if/else if/else, range with variables, with, trim markers', () => {
    expect(r('{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}y{{else}}z{{end}}', c)).toBe('y');
    expect(r('{{range .Config.Env}}[{{.}}]{{end}}', c)).toBe('[A=B][C=D]');
    expect(r('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', c)).toBe('a=1;b=2;');
    expect(r('{{range .Empty}}x{{else}}none{{end}}', c)).toBe('none');
    expect(r('{{with .State}}{{.Pid}}{{end}}', c)).toBe('42');
    expect(r('a  {{- .Name -}}  b', c)).toBe('a/webb');
    expect(r('{{range .Config.Env}}{{$.Name}}{{end}}', c)).toBe('/web/web');
  });

  it('methods with arguments (Docker contexts: .Label "k")', () => {
    const row = { Label: (k: string) => ({ x: 'y' })[k] ?? '' };
    expect(r('{{.Label "x"}}', row)).toBe('y');
  });

  it('errors are clear', () => {
    expect(() => r('{{.A', c)).toThrow(/unclosed action/);
    expect(() => r('{{nosuch .A}}', c)).toThrow(/function "nosuch" not defined/);
    expect(() => r('{{if .A}}x', c)).toThrow(/unexpected EOF/);
    expect(() => r('{{end}}', c)).toThrow(/unexpected \{\{end\}\}/);
  });

  it('table directive: header row from column names, tabwriter alignment', () => {
    const out = formatRows('table {{.ID}}\t{{.Names}}', [{ ID: 'abc', Names: 'web' }, { ID: 'abcdef0123456', Names: 'db' }], { ID: 'CONTAINER ID', Names: 'NAMES' });
    expect(out).toBe('CONTAINER ID    NAMES\nabc             web\nabcdef0123456   db\n');
    expect(formatRows('{{.ID}}', [{ ID: 'a' }, { ID: 'b' }], {})).toBe('a\nb\n');
    expect(formatOne('{{.Name}}', c)).toBe('/web\n');
    expect(goString(true)).toBe('true');
  });
});
