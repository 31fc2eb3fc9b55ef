// ESLint flat config: type-aware typescript-eslint for src/ and test/, plain JS rules for
// docker/services.mjs, and eslint-config-prettier last so formatting is prettier's alone.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'node_modules/', '.bench/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // `void promise` marks a deliberate fire-and-forget. node:test's test() returns a promise the
      // runner itself awaits; awaiting or voiding every top-level test() call would be noise.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          ignoreVoid: true,
          allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
        },
      ],
      // `_name` marks a deliberately unused binding (callback parameters, destructured leftovers).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Every hit was an async function that has to be async without awaiting: kafkajs eachBatch/eachMessage
      // handlers and async predicates (the interfaces take a promise), and retry() callbacks whose throw must
      // become a rejection.
      '@typescript-eslint/require-await': 'off',
      // package.json lies outside rootDir's compiled tree: it is require()d at run time from dist/.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['/package\\.json$'] }],
    },
  },
  {
    // A unit should do one job you can name: files and functions past these sizes are split.
    // Data tables (the simulator's catalog, the settings table) are plain objects, not
    // functions, and stay well under the file limit.
    files: ['src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 80 }],
    },
  },
  {
    // Plain Node ESM, run before tsc: no type information.
    files: ['docker/**/*.mjs', 'eslint.config.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      sourceType: 'module',
      globals: globals.node,
    },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    },
  },
  {
    // The dashboard page's script: plain browser JS served as-is (no bundler, no types), so it
    // is linted as a browser script, without type information.
    files: ['src/core/dashboard/public/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      sourceType: 'script',
      globals: globals.browser,
    },
  },
  prettier,
  {
    // After eslint-config-prettier, which turns max-len off: prettier wraps code at 140 but leaves
    // long strings, template literals and comments alone; this bounds every line.
    rules: { 'max-len': ['error', { code: 160, tabWidth: 2 }] },
  },
);
