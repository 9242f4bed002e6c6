import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import atlas from './tools/eslint/import-boundaries.js';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'client/dist/',
      'data/',
      'training/',
      'tools/neo4j/target/',
      'test-results/',
      'models/',
      'server/src/api/generated/',
      'schema/src/generated/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    plugins: { atlas },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      // DESIGN.md's import table between the workspace packages (tools/eslint/import-boundaries.js).
      'atlas/import-boundaries': ['error', { root: import.meta.dirname }],
    },
  },
);
