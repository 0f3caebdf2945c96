#!/usr/bin/env node
// The `rota` command. Flows are TypeScript: tsx loads them (and Rota itself) without a build step.
import { register } from 'tsx/esm/api'

register()
if (process.argv[2] === 'internal' && process.argv[3] === 'run-child') {
  // The hot path of every flow run: skip the CLI's own imports.
  const { runChild, waitForRun } = await import('../src/agent/child.ts')
  // A warm spare (ROTA_WARM=1) has loaded everything and waits for its run over IPC.
  const env = process.env.ROTA_WARM === '1' ? await waitForRun() : process.env
  process.exitCode = await runChild(env, process.cwd())
  process.disconnect?.()
} else if (process.argv[2] === 'internal' && process.argv[3] === 'shared-worker') {
  // One of a shared agent's warm workers: many flow runs at once, until the agent goes away.
  const { startWorker } = await import('../src/agent/worker.ts')
  startWorker(process.cwd())
} else {
  const { main } = await import('../src/cli/main.ts')
  await main(process.argv)
}
