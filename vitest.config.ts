import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real QEMU processes; keep parallelism modest on a 2-core machine.
    maxWorkers: 2,
    env: { FORCE_COLOR: '0' },
    // Gives each run an identity for the Ganeti cluster tests and takes the cluster down at the end
    // if the tests brought it up (test/setup/ganeti-global.ts); does nothing when no test used it.
    globalSetup: ['test/setup/ganeti-global.ts'],
    // CI also writes a machine-readable summary, from which .ci/run prints its closing count.
    reporters: process.env['CI'] === 'true' ? ['default', ['json', { outputFile: '.cache/vitest-results.json' }]] : ['default'],
  },
});
