/**
 * The process that executes one flow run (`rota internal run-child`), started by a launcher with
 * ROTA_API_URL, ROTA_API_KEY, ROTA_FLOW_RUN_ID and ROTA_RUN_TOKEN (the run's token, without which
 * the server neither hands out the run's parameters nor takes its reports). Reports everything to
 * the server; its exit code is 0 for success, 1 for failure, 2 when it could not start the flow,
 * 143 when stopped.
 */
import { RotaClient, type State } from '../client/index.ts'
import { resolveReportGiveUpMs } from '../config.ts'
import { retryUntilDelivered } from './delivery.ts'
import { loadEntrypoint } from '../sdk/loader.ts'
import { runFlow } from '../sdk/runtime.ts'
import { MAX_LINE, ServerReporter } from './reporter.ts'
import { cutText } from '../core/text.ts'
import { storableResult } from '../core/flow-control.ts'
import { ServerRunControl } from './run-control.ts'
import { RUN_TOKEN_ENV } from '../core/auth.ts'

/** A warm spare waits here for the agent to hand it a run; it exits if the agent goes away. */
export async function waitForRun(): Promise<NodeJS.ProcessEnv> {
  // Node loads its HTTP client (undici) on the first fetch, ~50 ms: pay that while idle.
  await fetch('data:,warm').catch(() => undefined)
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
  const apiUrl = env.ROTA_API_URL
  const flowRunId = env.ROTA_FLOW_RUN_ID
  if (!apiUrl || !flowRunId) {
    process.stderr.write('rota internal run-child needs ROTA_API_URL and ROTA_FLOW_RUN_ID; agents set them\n')
    return 2
  }
  let giveUpMs: number
  try {
    giveUpMs = resolveReportGiveUpMs(env)
  } catch (err) {
    process.stderr.write(`rota internal run-child: ${(err as Error).message}\n`)
    return 2
  }
  // The run's token: this process acts for its run with it. It leaves the environment before the
  // flow runs, so the programs a flow starts (dbt, a shell) do not inherit it.
  const runToken = env[RUN_TOKEN_ENV]
  delete env[RUN_TOKEN_ENV]
  if (!runToken) {
    process.stderr.write(`rota internal run-child needs ${RUN_TOKEN_ENV}, the run's token; the agent that claimed the run sets it\n`)
    return 2
  }
  const client = new RotaClient(apiUrl, env.ROTA_API_KEY, { runToken })
  const note = (m: string) => process.stderr.write(`[rota child] ${m}\n`)
  const controller = new AbortController()
  /** A control call (execution details, state proposals), retried under delivery.ts's policy until the run is stopped. */
  const untilDelivered = <T>(call: () => Promise<T>): Promise<T> =>
    retryUntilDelivered(call, { giveUpMs, signal: controller.signal, onRetry: (err) => note(`${err.message}; retrying`) })
  // Nothing reached the server for giveUpMs: stop the flow and fail the run, saying why.
  const reporter = new ServerReporter(client, flowRunId, note, {
    giveUpMs,
    onGiveUp: (message) => {
      controller.abort(new Error(message))
      setTimeout(() => void finish('failed', message), 1000).unref()
    },
  })
  let finishing: Promise<number> | undefined
  /** Reports the final state (once) and gives the exit code; a task that ignores the signal is left behind. */
  const finish = (state: State, message: string, result?: unknown): Promise<number> =>
    (finishing ??= (async () => {
      await reporter.flush()
      // The final state must land even if the server restarts right now; without a signal, so a stop does not cut it short.
      // A flow's error can be longer than the server takes (64 KiB): cut it rather than have it refused.
      const text = cutText(message, MAX_LINE, '… [cut]')
      await retryUntilDelivered(() => client.proposeState(flowRunId, state, text, undefined, result), { giveUpMs, onRetry: (err) => note(`${err.message}; retrying`) }).catch((err: Error) =>
        note(`could not report the final state ${state}: ${err.message}`),
      )
      clearInterval(watchdog)
      const code = state === 'success' ? 0 : state === 'cancelled' ? 143 : 1
      if (reporter.failure) process.exit(code)
      return code
    })())
  const stop = () => {
    controller.abort(new Error('stopped by the agent'))
    // Tasks that honour runContext().signal stop at once; one that does not is left behind after 1 s:
    // deliver what was reported and exit, so a cancel never waits for the kill timeout.
    setTimeout(() => {
      void reporter.flush().finally(() => process.exit(143))
    }, 1000).unref()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // If the agent dies (even kill -9), this process is orphaned: stop rather than run unsupervised.
  const parent = process.ppid
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) stop()
  }, 1000)
  watchdog.unref()

  const exec = await untilDelivered(() => client.execution(flowRunId))
  let flow
  try {
    flow = await loadEntrypoint(exec.entrypoint, projectRoot)
  } catch (err) {
    const message = cutText(`could not load the flow: ${(err as Error).message}`, MAX_LINE, '… [cut]')
    reporter.log('error', message, undefined)
    await reporter.flush()
    await untilDelivered(() => client.proposeState(flowRunId, 'failed', message))
    return 2
  }

  // Ask to start; the server may say wait (too early) or abort (cancelled meanwhile).
  for (;;) {
    const { verdict } = await untilDelivered(() => client.proposeState(flowRunId, 'running'))
    if (verdict.status === 'accept') break
    if (verdict.status === 'wait') {
      await new Promise((r) => setTimeout(r, Math.max(1, verdict.retryAfterMs ?? 100)))
      continue
    }
    process.stderr.write(`[rota child] not starting run ${flowRunId}: ${verdict.reason ?? verdict.status}\n`)
    return 0
  }

  const secrets = (env.ROTA_SECRET_ENV ?? '')
    .split(',')
    .map((name) => env[name.trim()])
    .filter((v): v is string => typeof v === 'string' && v.length >= 4)
  if (env.ROTA_API_KEY) secrets.push(env.ROTA_API_KEY)
  secrets.push(runToken)
  const outcome = await runFlow(flow, {
    flowRunId,
    flowRunName: exec.run.name,
    parameters: exec.parameters,
    scheduledStartTime: new Date(exec.run.scheduledStartTime),
    signal: controller.signal,
    reporter,
    secrets,
    control: new ServerRunControl(client, { giveUpMs, note }),
    expectedTasks: exec.tasks,
  })
  if (reporter.failure) return finish('failed', reporter.failure)
  // What the flow returned is kept with the run (JSON, bounded); what cannot be kept is said in its logs.
  const kept = outcome.state === 'success' ? storableResult(outcome.reportedResult) : {}
  if (kept.problem) {
    reporter.log('warn', kept.problem, undefined)
    await reporter.flush()
  }
  return finish(outcome.state, outcome.message, kept.result)
}

