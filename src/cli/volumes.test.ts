import { describe, expect, it } from 'vitest';
import { kvMap, renderTemplate } from './volumes.js';

describe('wharf volume output helpers', () => {
  it('renders the Go-template subset and refuses the rest', () => {
    const v = { Name: 'a', Driver: 'local', Labels: { team: 'blue' }, Options: null };
    expect(renderTemplate('{{.Name}}\\t{{.Driver}}', v)).toBe('a\tlocal');
    expect(renderTemplate('{{json .Labels}}', v)).toBe('{"team":"blue"}');
    expect(renderTemplate('{{index .Labels "team"}} {{.Options}}', v)).toBe('blue <no value>');
    expect(renderTemplate('{{.Labels}}', v)).toBe('team=blue');
    expect(() => renderTemplate('{{range .Labels}}x{{end}}', v)).toThrow(/unsupported expression/);
  });
  it('parses key=value flags like the docker CLI', () => {
    expect(kvMap(['type=tmpfs', 'o=size=1m,uid=1', 'flag'])).toEqual({ type: 'tmpfs', o: 'size=1m,uid=1', flag: '' });
    expect(() => kvMap(['=x'])).toThrow(/invalid key=value/);
  });
});
