/**
 * The process that executes one flow run (`rota internal run-child`, the `process` isolation),
 * started by a launcher with ROTA_API_URL, ROTA_API_KEY, ROTA_FLOW_RUN_ID and ROTA_RUN_TOKEN (the
 * run's token, without which the server neither hands out the run's parameters nor takes its
 * reports). The run itself is run.ts's; this file adds what a process of its own does: SIGTERM
 * stops the run, an orphaned process stops it too, and the exit code says how it ended: 0 for
 * success, 1 for failure, 2 when it could not start the flow, 143 when stopped.
 */
import { loadEntrypoint } from '../sdk/loader.ts'
import { executeRun, runConfigFromEnv } from './run.ts'
import { RUN_TOKEN_ENV } from '../core/auth.ts'

/** A warm spare waits here for the agent to hand it a run; it exits if the agent goes away. */
export async function waitForRun(): Promise<NodeJS.ProcessEnv> {
  // The agent may have gone while this process was loading: its IPC channel is then already closed,
  // and neither the 'disconnect' event nor a change of parent would ever come.
  if (!process.connected) process.exit(0)
  return new Promise((resolve) => {
    // An agent killed while this process was still loading leaves it an orphan whose IPC channel
    // closed before anyone listened: check the channel too, not only a change of parent.
    const parent = process.ppid
    const agentGone = () => !process.connected || process.ppid !== parent
    if (agentGone()) process.exit(0)
    const watchdog = setInterval(() => {
      if (agentGone()) process.exit(0)
    }, 1000)
    const onDisconnect = () => process.exit(0)
    process.once('disconnect', onDisconnect)
    process.once('message', (msg: { type?: string; env?: Record<string, string> }) => {
      clearInterval(watchdog)
      process.off('disconnect', onDisconnect)
      if (msg?.type !== 'run' || !msg.env) process.exit(2)
      for (const key of Object.keys(process.env)) if (!(key in msg.env)) delete process.env[key]
      Object.assign(process.env, msg.env)
      delete process.env.ROTA_WARM
      resolve(process.env)
    })
  })
}

export async function runChild(env: NodeJS.ProcessEnv, projectRoot: string): Promise<number> {
  let config
  try {
    config = runConfigFromEnv(env)
  } catch (err) {
    process.stderr.write(`rota internal run-child: ${(err as Error).message}\n`)
    return 2
  } finally {
    // The run's token is in `config` now; it leaves the environment before the flow runs, so the
    // programs a flow starts (dbt, a shell) do not inherit it.
    delete env[RUN_TOKEN_ENV]
  }
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  // If the agent dies (even kill -9), this process is orphaned: stop rather than run unsupervised.
  const parent = process.ppid
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) stop.abort()
  }, 1000)
  watchdog.unref()
  const end = await executeRun(config, {
    projectRoot,
    stop: stop.signal,
    note: (m) => process.stderr.write(`[rota child] ${m}\n`),
    loadFlow: (entrypoint) => loadEntrypoint(entrypoint, projectRoot),
  })
  clearInterval(watchdog)
  // Left behind: the flow's code may still hold the event loop; this process is done with it.
  if (end.abandoned) process.exit(end.code)
  return end.code
}
