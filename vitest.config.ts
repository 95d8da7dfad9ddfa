import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Wasm kernels and Piscina pools already use both cores; parallel test
    // files on a 2-core machine only add contention.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.ci/results.json' },
  },
});
