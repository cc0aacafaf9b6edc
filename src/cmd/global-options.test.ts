import { describe, expect, it } from 'vitest';
import { hoistGlobalOptions } from './global-options.js';

describe('hoistGlobalOptions', () => {
  const argv = (...a: string[]) => ['node', 'wharf', ...a];
  it('turns a --config given before the subcommand into WHARF_CONFIG', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(hoistGlobalOptions(argv('--config', '/d/admin.yaml', 'apply', '-f', 'x.yaml'), env)).toEqual(argv('apply', '-f', 'x.yaml'));
    expect(env.WHARF_CONFIG).toBe('/d/admin.yaml');
    const env2: NodeJS.ProcessEnv = {};
    expect(hoistGlobalOptions(argv('--config=/e/a.yaml', 'rollout', 'status', 'deploy/web'), env2)).toEqual(argv('rollout', 'status', 'deploy/web'));
    expect(env2.WHARF_CONFIG).toBe('/e/a.yaml');
  });
  it('leaves everything else alone', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(hoistGlobalOptions(argv('get', 'pods', '--config', 'a.yaml'), env)).toEqual(argv('get', 'pods', '--config', 'a.yaml'));
    expect(hoistGlobalOptions(argv('--version'), env)).toEqual(argv('--version'));
    expect(hoistGlobalOptions(argv('--config', 'a.yaml'), env)).toEqual(argv('--config', 'a.yaml'));
    expect(env.WHARF_CONFIG).toBeUndefined();
  });
});
