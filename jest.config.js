/**
 * Integration tests run on a real database: the embedded PGlite by default (a migrated and seeded template
 * directory is prepared once in globalSetup and copied per test file), or native PostgreSQL when
 * TEST_DATABASE_URL is set (migrated and seeded once). Run with --experimental-vm-modules (PGlite's dynamic imports).
 */
/**
 * Files whose outcome does not depend on the database backend: pure units, the HTTP and GraphQL layer's limits,
 * persisted-query policy and playground (their database work is covered by the suites that run on both), and a
 * fault test that brings its own PostgreSQL. `TEST_SUITES=backend` leaves them out: CI runs them in the native pass
 * and skips them in the embedded one, where the same files took 6-8 times as long (limits, persisted
 * queries, playground; PGlite is WebAssembly in the Jest process).
 * Unset (or `all`), every file runs, so `npm test` alone still runs the whole suite.
 */
const BACKEND_INDEPENDENT = [
  '<rootDir>/src/', // unit tests beside the code: none opens a database
  '<rootDir>/test/bench-corpus\\.test\\.ts$',
  '<rootDir>/test/corpus-models\\.test\\.ts$',
  '<rootDir>/test/deployment\\.test\\.ts$',
  '<rootDir>/test/openai-embedder\\.test\\.ts$',
  '<rootDir>/test/schema\\.test\\.ts$',
  '<rootDir>/test/rate-limit-redis\\.test\\.ts$',
  '<rootDir>/test/limits\\.e2e\\.test\\.ts$',
  '<rootDir>/test/persisted-queries\\.e2e\\.test\\.ts$',
  '<rootDir>/test/playground\\.test\\.ts$',
  '<rootDir>/test/playground\\.browser\\.test\\.ts$',
  '<rootDir>/test/faults/database-restart\\.e2e\\.test\\.ts$',
  // The commands' --help and option errors, and the README's load example, which loads into an embedded data
  // directory of its own in every pass; the native pass also watches a sentinel database.
  '<rootDir>/test/commands\\.e2e\\.test\\.ts$',
];
const suites = process.env.TEST_SUITES?.trim() || 'all';
if (suites !== 'all' && suites !== 'backend') {
  throw new Error(`TEST_SUITES must be "all" or "backend", not "${suites}"`);
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/citus needs a Citus coordinator: `npm run test:citus` (scripts/test-citus.sh) sets TEST_CITUS=1.
  testPathIgnorePatterns: [
    '/node_modules/',
    ...(process.env.TEST_CITUS === '1' ? [] : ['<rootDir>/test/citus/']),
    ...(suites === 'backend' ? BACKEND_INDEPENDENT : []),
  ],
  // Transpile only (tsconfig.jest.json sets isolatedModules): `npm test` type-checks the whole project with tsc
  // before jest starts, so ts-jest checking every file again only cost time (about half of a cold test file's).
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json' }],
  },
  // pgvector and jose are ESM-only; let ts-jest turn them into CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!(pgvector|jose)/)'],
  moduleNameMapper: { '^pgvector$': '<rootDir>/node_modules/pgvector/src/index.js' },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['reflect-metadata'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  testTimeout: 60_000,
  slowTestThreshold: 20,
};
