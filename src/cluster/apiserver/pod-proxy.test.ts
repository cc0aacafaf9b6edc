import { describe, expect, it } from 'vitest';
import { podContainer } from './pod-proxy.js';

const pod = (containers: string[], init: string[] = []) => ({
  metadata: { name: 'p' },
  spec: { containers: containers.map((name) => ({ name })), ...(init.length ? { initContainers: init.map((name) => ({ name })) } : {}) },
});

describe('the container a pod stream means', () => {
  it('defaults to the only container and accepts app and init containers by name', () => {
    expect(podContainer(pod(['a']), '')).toBe('a');
    expect(podContainer(pod(['a', 'b'], ['i']), 'b')).toBe('b');
    expect(podContainer(pod(['a', 'b'], ['i']), 'i')).toBe('i');
  });

  it('refuses an unknown name and a missing one among several, as the Kubernetes API server words it', () => {
    expect(() => podContainer(pod(['a']), 'nope')).toThrow('container nope is not valid for pod p');
    expect(() => podContainer(pod(['a', 'b'], ['i']), '')).toThrow('a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]');
  });
});
