'use strict';
// ESLint (flat config): the recommended rules, unused code an error, for Node (CommonJS) code.
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  { ignores: ['target/', 'node_modules/'] },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: { 'no-unused-vars': ['error', { caughtErrors: 'all' }] },
  },
];
