// ESLint (flat config): typescript-eslint's recommended rules on every TypeScript file, plus the
// house rules that are cheap to check by machine. Formatting is Prettier's (npm run format).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'packages/fuse-bridge/native/build/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // Unused arguments are the interface's shape (handlers take ctx they may not need): `_`-prefixed.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Libraries never print: logging goes through fuse-bridge's logger (--debug).
      'no-console': 'error',
      // An empty catch must say why in a comment (checked by review); an empty block elsewhere is a slip.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Walking a parent chain starts from `this` (`for (let n = this; n; n = n.parent)`).
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    // The CLI, tests, benchmarks and scripts talk to the user.
    files: ['bin/**', 'test/**', 'bench/**', 'scripts/**', 'packages/*/test/**'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-console': 'off' },
  },
);
