import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', '.gpu-pack/', 'models/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // The dashboard's browser modules: `tsc -p dashboard/tsconfig.json` (checkJs, lib DOM) already rejects unknown
  // names, with the browser's real globals, so ESLint's no-undef would only repeat it with a hand-kept list.
  { files: ['dashboard/**/*.js'], rules: { 'no-undef': 'off' } },
);
