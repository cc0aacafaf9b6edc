import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { serveApi, type RunningApiServer } from '../../src/cluster/apiserver/serve.js';

// An in-process API server on its own temp data root (SQLite unless a datastore URL is given).

export interface TestApiServer extends RunningApiServer {
  dataRoot: string;
  store: Store;
  configPath: string;
  stop(): Promise<void>;
}

export async function startTestApiServer(opts: { datastore?: string; maxBodyBytes?: number; bookmarkIntervalMs?: number; dataRoot?: string; tls?: boolean } = {}): Promise<TestApiServer> {
  const dataRoot = opts.dataRoot ?? mkdtempSync('/var/tmp/wharf-test-api-');
  const store = await openStore(opts.datastore ?? `sqlite://${join(dataRoot, 'cluster.db')}`, { clock: systemClock, logger: silentLogger() });
  const running = await serveApi({
    dataRoot,
    listen: '127.0.0.1:0',
    store,
    clock: systemClock,
    logger: silentLogger(),
    version: 'test',
    ...(opts.tls ? { tls: true } : {}),
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
  });
  let stopped = false;
  return {
    ...running,
    dataRoot,
    store,
    configPath: join(dataRoot, 'admin.yaml'),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await running.close();
      await store.close();
      if (!opts.dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}
