#!/usr/bin/env node
// The `rota` command. Flows are TypeScript: tsx loads them (and Rota itself) without a build step.
import { register } from 'tsx/esm/api'

register()
if (process.argv[2] === 'internal' && process.argv[3] === 'run-child') {
  // The hot path of every flow run: skip the CLI's own imports.
  const { runChild } = await import('../src/agent/child.ts')
  process.exitCode = await runChild(process.env, process.cwd())
} else {
  const { main } = await import('../src/cli/main.ts')
  await main(process.argv)
}
