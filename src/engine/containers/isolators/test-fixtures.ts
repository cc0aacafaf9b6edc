import type { ContainerRecord } from '../types.js';
import type { IsolatorDraft, Launch } from '../isolator.js';

// Shared fixtures for the isolators' unit tests.

export function record(over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: 'c1',
    name: 'web',
    image: 'busybox',
    imageId: 'sha256:1',
    createdAt: '2026-01-01T00:00:00Z',
    request: { image: 'busybox', options: {} },
    imageConfig: {},
    state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false, error: '', startedAt: '', finishedAt: '', restartCount: 0 },
    logPath: '/x/ctr.log',
    ...over,
  };
}

export function draft(over: Partial<IsolatorDraft> = {}): IsolatorDraft {
  return { id: 'c1', name: 'web', options: {}, storage: {}, network: undefined, imageVolumes: [], warnings: [], lookup: () => record(), ...over };
}

export function launch(): Launch {
  return { options: {}, spec: {}, rootfs: '/r' };
}
