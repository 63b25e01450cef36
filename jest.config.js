/**
 * Integration tests run on a real database: the embedded PGlite by default (a migrated and seeded template
 * directory is prepared once in globalSetup and copied per test file), or native PostgreSQL when
 * TEST_DATABASE_URL is set (migrated and seeded once). Run with --experimental-vm-modules (PGlite's dynamic imports).
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/citus needs a Citus coordinator: `npm run test:citus` (scripts/test-citus.sh) sets TEST_CITUS=1.
  testPathIgnorePatterns: [
    '/node_modules/',
    ...(process.env.TEST_CITUS === '1' ? [] : ['<rootDir>/test/citus/']),
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
