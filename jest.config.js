/** @type {import('jest').Config} */
const ts = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
};

// The integration tests (test/) run once per transport: the same POSIX table, overlay cases and
// lifecycle checks against the wire transport and against fuse-native. test/wire/ holds what only
// the wire transport can do. The core's unit tests (packages/*/test) run once.
const perTransport = (name) => ({
  ...ts,
  displayName: name,
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: name === 'wire' ? [] : ['/test/wire/'],
  setupFiles: [`<rootDir>/test/helpers/transport-${name}.js`],
});

module.exports = {
  testTimeout: 60000,
  projects: [
    { ...ts, displayName: 'core', rootDir: __dirname, roots: ['<rootDir>/packages'], testMatch: ['**/test/**/*.test.ts'] },
    perTransport('wire'),
    perTransport('fuse-native'),
  ],
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  // Integration tests mount for real; a leaked mount must never hide behind a passing run.
  globalTeardown: '<rootDir>/test/helpers/global-teardown.js',
};
