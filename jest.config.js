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
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json', diagnostics: { warnOnly: false } }],
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
