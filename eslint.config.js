// ESLint: the recommended JavaScript and typescript-eslint rules, for the whole project, and the
// seams of docs/ARCHITECTURE.md: who may import whom.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const noPipelines = { group: ['**/pipelines/**'], message: 'src/ is the core: it never imports a pipeline. A pipeline joins through its plugin (src/plugin.ts).' }
const noServer = { group: ['**/server/**'], message: 'the dashboard and the client speak to the server through the wire contract (src/core/contract.ts), never its code.' }
const noNode = { group: ['node:*'], message: 'this code runs in the browser too.' }
const coreOnly = {
  group: ['**/server/**', '**/agent/**', '**/cli/**', '**/client/**', '**/sdk/**', '**/ui/**', '**/config.ts', '**/plugin.ts'],
  message: 'src/core is pure and shared: it imports nothing from the other parts.',
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.rota/', '.venv*/', 'pipelines/brt/dbt/target/', 'pipelines/brt/dbt/logs/', 'scratch/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-control-regex': 'off',
    },
  },
  { files: ['src/**'], rules: { 'no-restricted-imports': ['error', { patterns: [noPipelines] }] } },
  { files: ['src/ui/**', 'src/client/**'], rules: { 'no-restricted-imports': ['error', { patterns: [noPipelines, noServer] }] } },
  { files: ['src/ui/**'], rules: { 'no-restricted-imports': ['error', { patterns: [noPipelines, noServer, noNode] }] } },
  { files: ['src/core/**'], rules: { 'no-restricted-imports': ['error', { patterns: [noPipelines, coreOnly, noNode] }] } },
)
