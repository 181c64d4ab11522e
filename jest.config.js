const { availableParallelism } = require('node:os');

/** Type checking is done once by `tsc --noEmit` (npm test); with isolatedModules ts-jest only transpiles. */
module.exports = {
  // Jest's default (one worker fewer than the cores) is a single worker on a two-core machine
  // such as CI's. The suites spend much of their time waiting on database servers, child
  // processes and local HTTP servers, so two workers there keep both cores busy. Every suite
  // has its own databases and ports, so suites never share state.
  maxWorkers: Math.max(2, availableParallelism() - 1),
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/helpers/test-plan.ts',
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
