import { defineConfig } from 'vitest/config';

// All tests run as root on the real kernel. Two cores: at most two files at once,
// each in its own process (forks), so kernel objects and daemons never share a worker.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
