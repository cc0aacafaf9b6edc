import { defineConfig } from 'vitest/config';

// All tests run as root on the real kernel. Two cores: at most two files at once,
// each in its own process (forks), so kernel objects and daemons never share a worker.
// Three projects: unit (beside the code, and the test helpers' own tests), integration
// (test/integration: real kernel, runc, conmon, etcd) and e2e (test/e2e: the built program).
// `vitest run` runs all three; `vitest run --project unit` only the unit tests.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts', 'test/helpers/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
