// ESLint flat config: typescript-eslint's type-aware recommended rules over src/, test/ and examples/, plus an
// import-cycle check so dependencies keep pointing one way. Formatting is Prettier's (npm run lint runs both).
import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      // Sources import each other as './x.js' (NodeNext); the resolver maps that back to the .ts file.
      'import-x/resolver-next': [importX.createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      // Runtime import cycles; type-only imports are erased and not counted by this rule.
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test tracks the promise test() and describe() return: not awaiting them is how the runner is used.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      // An async function without await is how a Promise-returning interface is implemented (handlers, test
      // doubles of resolvers and plugins); its signature already says what it returns.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a parameter a callback signature requires but the body does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read JSON answers (admin API, CLI --format json, log lines) as `any` and assert their shape field by
      // field; typing every answer would add code that asserts nothing more.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
);
