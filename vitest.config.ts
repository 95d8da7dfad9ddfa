import { defineConfig } from 'vitest/config';

/**
 * Suites that start a broker, a chain or another process, or need Postgres, Redis, Keycloak or S3:
 * `npm run test:integration`. Everything else is `npm run test:fast` (seconds). `npm test` runs both.
 */
const INTEGRATION = [
  'test/server/**/*.test.ts',
  'test/cli/**/*.test.ts',
  'test/anchoring/**/*.test.ts',
  'test/deploy/**/*.test.ts',
  'test/client/**/*.test.ts',
  'test/demo/**/*.test.ts',
  'test/bench/**/*.test.ts',
  'test/cache/cache-redis.test.ts',
  'test/identity/keycloak.test.ts',
  'test/storage/s3-signed.test.ts',
  'test/storage/postgres-*.test.ts',
  'test/storage/object-keys.test.ts',
  'test/metrics/names.test.ts',
  'test/audit/log*.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Wasm kernels and Piscina pools already use both cores; parallel test
    // files on a 2-core machine only add contention.
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.ci/results.json' },
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: INTEGRATION } },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
    ],
  },
});
