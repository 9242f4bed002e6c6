import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test-support/longest-first.js';

export default defineConfig({
  resolve: {
    // graphql ships CJS (main) and ESM (module); Node, and so Apollo, loads the CJS one. Tests must use
    // the same copy: two copies break graphql's instanceof checks ("from another module or realm").
    alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve('graphql') }],
  },
  test: {
    include: [
      'tracer/test/**/*.test.ts',
      'server/test/**/*.test.ts',
      'client/test/**/*.test.ts',
      'schema/test/**/*.test.ts',
      'figure/test/**/*.test.ts',
      'tools/eslint/test/**/*.test.ts',
    ],
    globalSetup: ['test-support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: run test files two at a time, each in its own process (native modules, ORT).
    pool: 'forks',
    maxWorkers: 2,
    // Longest files first, also on a clean clone without vitest's cache (test-support/longest-first.ts).
    sequence: { sequencer: LongestFirst },
    reporters: ['default', './test-support/summary-reporter.ts'],
  },
});
