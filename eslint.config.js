// ESLint (flat config) with typescript-eslint: the rules that catch what bites here — promises
// nobody awaits or handles, code nothing uses, hooks that read stale values, errors outside the
// one hierarchy — run by `npm run lint` (and so by `npm test`). Imports and layers are
// dependency-cruiser's (.dependency-cruiser.mjs). Formatting is not checked.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', '.cache/', 'coverage/'] },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: { globals: { ...globals.node } },
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['vitest.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A `let` read by a closure made before its one assignment (a timer cleared by a callback) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // CommonJS scripts load with require(): packaging/executable-loader.cjs is the single
    // executable's main script, whose require knows only Node's built-in modules.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests build malformed input on purpose (any shape of JSON, control characters).
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-control-regex': 'off' },
  },
  {
    // What plugboard throws is a PlugboardError (src/errors.ts): the CLI maps it to a message and an exit code.
    files: ['src/**/*.ts', 'components/**/*.ts', 'components/**/*.tsx'],
    ignores: ['src/errors.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'NewExpression[callee.name=/^(Error|TypeError|RangeError|SyntaxError|ReferenceError|AggregateError)$/]',
          message: 'throw a PlugboardError (src/errors.ts: InputError, RefusedError, InternalError…), not a plain Error',
        },
        {
          selector: 'ClassDeclaration[superClass.name=/^(Error|TypeError|RangeError)$/]',
          message: 'extend PlugboardError (src/errors.ts): one error root, with cause and exit code',
        },
      ],
    },
  },
  {
    files: ['components/**/*.ts', 'components/**/*.tsx', 'test/**/*.tsx'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
);
