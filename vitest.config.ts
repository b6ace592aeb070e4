import { defineConfig } from 'vitest/config';

/**
 * Test projects:
 * - unit:     pure unit tests beside the code (src/**, applets/**), no services.
 * - sqlite:   integration tests (test/**) against real services, database = SQLite.
 * - postgres: the database-backed integration tests (test/**\/*.db.test.ts) again, database = PostgreSQL.
 * Services (Redis, PostgreSQL, pcscd + vpcd, SoftHSM) are started once per run by test/global-setup.ts.
 */
export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-artifacts/vitest-results.json' }]],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        test: {
          name: 'unit',
          testTimeout: 30_000,
          include: ['src/**/*.test.ts', 'applets/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'sqlite',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          include: ['test/**/*.test.ts'],
          env: { KADI_TEST_DB: 'sqlite' },
          globalSetup: ['./test/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'postgres',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          include: ['test/**/*.db.test.ts'],
          env: { KADI_TEST_DB: 'postgres' },
          globalSetup: ['./test/global-setup.ts'],
        },
      },
    ],
  },
});
