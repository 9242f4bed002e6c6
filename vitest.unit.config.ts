/**
 * `npm run test:unit`: the fast part of the suite — tests that need no Neo4j, no browser and no server
 * (the tracer against its fixtures, the contracts, figures, graph analysis, the lint rule). `npm test`
 * runs these and everything else.
 */
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    globalSetup: [],
    include: [
      'tracer/test/**/*.test.ts',
      'schema/test/**/*.test.ts',
      'figure/test/**/*.test.ts',
      'tools/eslint/test/**/*.test.ts',
      'server/test/analysis-*.test.ts',
    ],
    exclude: ['tracer/test/cli-*.test.ts', '**/node_modules/**'],
  },
});
