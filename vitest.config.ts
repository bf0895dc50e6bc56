import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests open real sockets and spawn servers; two cores, so keep files in parallel modest.
    pool: 'forks',
    maxWorkers: 2,
  },
});
