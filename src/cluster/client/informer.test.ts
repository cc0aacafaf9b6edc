import { describe, expect, it } from 'vitest';
import { WharfError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import type { KubeObject } from '../apis/meta.js';
import { FakeClock, flush } from '../controllers/fake-clock.js';
import { Informer } from './informer.js';
import type { ListResult, ResourceApi, WatchEvent, WatchOptions } from './resource-api.js';

// The informer against a scripted ResourceApi: what it lists and where it watches from.

const obj = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });

function scripted(lists: ListResult<KubeObject>[], watches: ((o: WatchOptions) => AsyncIterable<WatchEvent>)[]) {
  const calls: string[] = [];
  const api: ResourceApi = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespaced: true,
    list: () => {
      calls.push('list');
      return Promise.resolve(lists.shift() ?? { items: [], resourceVersion: '0' });
    },
    watch: (o) => {
      calls.push(`watch ${o.resourceVersion}${o.allowWatchBookmarks ? ' +bookmarks' : ''}`);
      const next = watches.shift();
      if (next) return next(o);
      // a quiet stream until the informer stops
      return (async function* (): AsyncIterable<WatchEvent> {
        await new Promise<void>((r) => o.signal.addEventListener('abort', () => r(), { once: true }));
        yield* [];
      })();
    },
    get: () => Promise.reject(new Error('unused')),
    create: () => Promise.reject(new Error('unused')),
    update: () => Promise.reject(new Error('unused')),
    updateStatus: () => Promise.reject(new Error('unused')),
    delete: () => Promise.reject(new Error('unused')),
  };
  return { api, calls };
}

describe('informer', () => {
  it('lists, watches from the list version, resumes from a bookmark, relists at once on 410 and reports what vanished', async () => {
    const { api, calls } = scripted(
      [
        { items: [obj('a', '5'), obj('b', '5')], resourceVersion: '7' },
        { items: [obj('a', '20')], resourceVersion: '21' },
      ],
      [
        // the first stream: one change and a bookmark, then the server ends it
        async function* () {
          yield { type: 'MODIFIED', object: obj('a', '8') };
          yield { type: 'BOOKMARK', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '12' } } };
        },
        // resumed from the bookmark: history is gone
        // eslint-disable-next-line require-yield
        async function* () {
          throw new WharfError('Gone', 'too old resource version: 12');
        },
      ],
    );
    const clock = new FakeClock();
    const inf = new Informer(api, clock, silentLogger());
    const seen: string[] = [];
    inf.addHandlers({
      onAdd: (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onUpdate: (_a, b) => seen.push(`update ${b.metadata.name}@${b.metadata.resourceVersion}`),
      onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
    });
    const ac = new AbortController();
    const run = inf.run(ac.signal);
    await inf.waitForSync();
    for (let i = 0; i < 20 && calls.length < 5; i++) await flush();
    expect(calls).toEqual(['list', 'watch 7 +bookmarks', 'watch 12 +bookmarks', 'list', 'watch 21 +bookmarks']);
    expect(seen).toEqual(['add a@5', 'add b@5', 'update a@8', 'update a@20', 'delete b']);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['a']);
    expect(inf.resourceVersion()).toBe('21');
    ac.abort();
    await run;
  });

  it('after any other failure waits retryMs before listing again', async () => {
    const { api, calls } = scripted(
      [{ items: [], resourceVersion: '3' }],
      [
        // eslint-disable-next-line require-yield
        async function* () {
          throw new WharfError('Unavailable', 'connection reset');
        },
      ],
    );
    const clock = new FakeClock();
    const inf = new Informer(api, clock, silentLogger(), { retryMs: 500 });
    const ac = new AbortController();
    const run = inf.run(ac.signal);
    await inf.waitForSync();
    await flush();
    expect(calls).toEqual(['list', 'watch 3 +bookmarks']);
    await clock.advance(499);
    await flush();
    expect(calls).toHaveLength(2);
    await clock.advance(1);
    await flush();
    expect(calls).toEqual(['list', 'watch 3 +bookmarks', 'list', 'watch 0 +bookmarks']);
    ac.abort();
    await run;
  });
});
