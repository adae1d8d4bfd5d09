import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.stack*/**', '.tools/**', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The status page's script runs in the browser, as it is (no build step).
    files: ['services/control/ui/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        sessionStorage: 'readonly',
        Node: 'readonly',
        btoa: 'readonly',
        unescape: 'readonly',
        encodeURIComponent: 'readonly',
        fetch: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
      },
    },
  },
  {
    // Only the adapters may import the Kafka, registry and Elasticsearch clients (the stack scripts and tests go
    // through the adapters too).
    files: ['services/**/*.ts', 'deploy/**/*.ts', 'test/**/*.ts'],
    ignores: ['services/shared/adapters/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: ['@platformatic/kafka', 'kafkajs', '@elastic/elasticsearch', '@kafkajs/confluent-schema-registry'] }],
    },
  },
);
