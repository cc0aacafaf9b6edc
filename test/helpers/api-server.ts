import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';
import { serveApi, type RunningApiServer } from '../../src/cluster/apiserver/serve.js';

// An in-process API server on its own temp data root (SQLite unless a datastore URL is given).
// It serves HTTPS with its own generated CA: `fetch(path)` trusts it, `cliArgs` point a wharf
// client command at admin.yaml (URL, token, CA).

export interface TestApiServer extends RunningApiServer {
  dataRoot: string;
  store: Store;
  configPath: string;
  /** Agent trusting the server's CA (for undici requests of a test's own). */
  dispatcher: Agent;
  /** fetch of a path (or a full URL) on this server, trusting its CA; no token unless given in headers. */
  fetch(pathOrUrl: string, init?: RequestInit): Promise<Response>;
  /** `--config DATA_ROOT/admin.yaml` for wharf client commands. */
  cliArgs: string[];
  stop(): Promise<void>;
}

export async function startTestApiServer(opts: { datastore?: string; maxBodyBytes?: number; bookmarkIntervalMs?: number; dataRoot?: string } = {}): Promise<TestApiServer> {
  const dataRoot = opts.dataRoot ?? mkdtempSync('/var/tmp/wharf-test-api-');
  const store = await openStore(opts.datastore ?? `sqlite://${join(dataRoot, 'cluster.db')}`, { clock: systemClock, logger: silentLogger() });
  const running = await serveApi({
    dataRoot,
    listen: '127.0.0.1:0',
    store,
    clock: systemClock,
    logger: silentLogger(),
    version: 'test',
    ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
    ...(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {}),
  });
  let stopped = false;
  const dispatcher = new Agent({ connect: { ca: running.caPem } });
  const configPath = join(dataRoot, 'admin.yaml');
  return {
    ...running,
    dataRoot,
    store,
    configPath,
    dispatcher,
    fetch: (pathOrUrl, init = {}) => undiciFetch(/^https?:/.test(pathOrUrl) ? pathOrUrl : `${running.url}${pathOrUrl}`, { ...init, dispatcher }),
    cliArgs: ['--config', configPath],
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await dispatcher.close();
      await running.close();
      await store.close();
      if (!opts.dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    },
  };
}
