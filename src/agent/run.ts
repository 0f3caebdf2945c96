/**
 * One flow run executed in this process, for both isolation modes: a run process executes one
 * (child.ts), a shared worker many at once (worker.ts). The run asks the server what to execute,
 * loads the flow, proposes `running` (the server may say wait or abort), runs the flow with its own
 * reporter and abort signal, and proposes its final state.
 *
 * Everything a run needs from its agent is one `RunConfig`, made from the environment the agent
 * gives the run (`runConfigFromEnv`): a run process reads it from its own environment, a shared
 * worker from the message that hands it the run. A new per-run value goes there, once.
 */
import { RotaClient, type State } from '../client/index.ts'
import type { Execution } from '../core/contract.ts'
import { resolveReportGiveUpMs } from '../config.ts'
import { retryUntilDelivered } from './delivery.ts'
import { runFlow } from '../sdk/runtime.ts'
import type { FlowDefinition } from '../sdk/flow.ts'
import type { TimeoutWatch } from '../sdk/context.ts'
import { redactor } from '../core/redact.ts'
import { MAX_LINE, ServerReporter } from './reporter.ts'
import { cutText } from '../core/text.ts'
import { isTerminal } from '../core/states.ts'
import { storableResult } from '../core/flow-control.ts'
import { RUN_TOKEN_ENV } from '../core/auth.ts'
import { ServerRunControl } from './run-control.ts'

/** What one run needs from its agent. */
export interface RunConfig {
  apiUrl: string
  apiKey: string | undefined
  flowRunId: string
  /**
   * The run's token (ROTA_RUN_TOKEN): every call the run makes for itself carries it. Per run, also
   * in a shared worker, where it comes with the message that hands the run over, never from the
   * worker's environment.
   */
  runToken: string
  /** How long reports may fail before the run gives up (ROTA_REPORT_GIVE_UP). */
  giveUpMs: number
  /** Values that must never reach the logs: those of the variables ROTA_SECRET_ENV names, the API key and the run's token. */
  secrets: string[]
  /**
   * The flow's entrypoint, as the agent claimed the run (ROTA_FLOW_ENTRYPOINT): the run loads its
   * flow at once and gets its parameters with its start. Without it (an agent that does not say),
   * the run asks the server first.
   */
  entrypoint?: string | undefined
}

export class RunConfigError extends Error {
  override name = 'RunConfigError'
}

/** The run's configuration from the environment its agent set (ROTA_API_URL, ROTA_FLOW_RUN_ID, ...). */
export function runConfigFromEnv(env: Readonly<Record<string, string | undefined>>): RunConfig {
  const apiUrl = env.ROTA_API_URL
  const flowRunId = env.ROTA_FLOW_RUN_ID
  if (!apiUrl || !flowRunId) throw new RunConfigError('a flow run needs ROTA_API_URL and ROTA_FLOW_RUN_ID; agents set them')
  const runToken = env[RUN_TOKEN_ENV]
  if (!runToken) throw new RunConfigError(`a flow run needs ${RUN_TOKEN_ENV}, the run's token; the agent that claimed the run sets it`)
  let giveUpMs: number
  try {
    giveUpMs = resolveReportGiveUpMs(env)
  } catch (err) {
    throw new RunConfigError((err as Error).message)
  }
  const secrets = (env.ROTA_SECRET_ENV ?? '')
    .split(',')
    .map((name) => env[name.trim()])
    .filter((v): v is string => typeof v === 'string' && v.length >= 4)
  const apiKey = env.ROTA_API_KEY || undefined
  if (apiKey) secrets.push(apiKey)
  secrets.push(runToken)
  return { apiUrl, apiKey, flowRunId, runToken, giveUpMs, secrets, entrypoint: env.ROTA_FLOW_ENTRYPOINT || undefined }
}

/** A stop that ends the run as crashed, with this message (a shared worker: the run's uncaught error). */
export class RunCrash extends Error {
  override name = 'RunCrash'
}

/** Where a run executes, and what it may ask of it. */
export interface RunHost {
  projectRoot: string
  /**
   * Aborted when the agent stops the run (cancel, shutdown): the flow's signal is aborted, and 1 s
   * later the run is left behind. Aborted with a RunCrash: the run ends crashed at once.
   */
  stop: AbortSignal
  /** Lines about the run's own plumbing (delivery retries, start-up errors); the agent puts them in the run's logs. */
  note(line: string): void
  loadFlow(entrypoint: string): Promise<FlowDefinition>
  /** Told when a task with a timeout starts (a shared worker's launcher watches it). */
  watch?: TimeoutWatch | undefined
}

export interface RunEnd {
  /** 0 success, 1 failed, 2 could not start, 143 stopped. */
  code: number
  /** The final state the server holds, when this run delivered its proposal (the agent need not ask). */
  state?: State | undefined
  /**
   * True when the run was left behind with code still running: stopped, and its flow did not end
   * within 1 s, or its reports could not be delivered. A run process then exits at once.
   */
  abandoned: boolean
}

/** How long a stopped run's flow gets to honour its signal before the run is left behind. */
const STOP_GRACE_MS = 1000

export async function executeRun(config: RunConfig, host: RunHost): Promise<RunEnd> {
  const { flowRunId, giveUpMs } = config
  const client = new RotaClient(config.apiUrl, config.apiKey, { runToken: config.runToken })
  const controller = new AbortController()
  const note = host.note
  /** A control call (execution details, state proposals), retried under delivery.ts's policy until the run is stopped. */
  const untilDelivered = <T>(call: () => Promise<T>): Promise<T> =>
    retryUntilDelivered(call, { giveUpMs, signal: controller.signal, onRetry: (err) => note(`${err.message}; retrying`) })
  let left: (end: RunEnd) => void = () => undefined
  /** Resolves when the run is left behind (stopped and not ending, or given up). */
  const leftBehind = new Promise<RunEnd>((resolve) => (left = resolve))
  // Nothing reached the server for giveUpMs: stop the flow and fail the run, saying why.
  const reporter = new ServerReporter(client, flowRunId, note, {
    giveUpMs,
    onGiveUp: (message) => {
      controller.abort(new Error(message))
      setTimeout(() => void finish('failed', message).then(left), STOP_GRACE_MS).unref()
    },
  })
  let finishing: Promise<RunEnd> | undefined
  /** Reports the final state (once). */
  const finish = (state: State, message: string, result?: unknown): Promise<RunEnd> =>
    (finishing ??= (async () => {
      await reporter.flush()
      // The final state must land even if the server restarts right now; without a signal, so a stop does not cut it short.
      // A flow's error can be longer than the server takes (64 KiB): cut it rather than have it refused.
      const text = cutText(message, MAX_LINE, '… [cut]')
      const held = await retryUntilDelivered(() => client.proposeState(flowRunId, state, text, undefined, { result }), { giveUpMs, onRetry: (err) => note(`${err.message}; retrying`) }).then(
        (result) => (isTerminal(result.run.state) ? result.run.state : undefined),
        (err: Error) => note(`could not report the final state ${state}: ${err.message}`),
      )
      const code = state === 'success' ? 0 : state === 'cancelled' ? 143 : 1
      return { code, state: held ?? undefined, abandoned: reporter.failure !== undefined }
    })())
  const onStop = () => {
    const reason: unknown = host.stop.reason
    if (reason instanceof RunCrash) {
      // The run's own code broke its host's rules (an uncaught error in a shared worker): it ends crashed now.
      controller.abort(reason)
      void finish('crashed', redactor(config.secrets).text(reason.message)).then(left)
      return
    }
    controller.abort(new Error('stopped by the agent'))
    // Tasks that honour runContext().signal stop at once; one that does not is left behind after 1 s:
    // deliver what was reported and end, so a cancel never waits for the kill timeout.
    setTimeout(() => void reporter.flush().finally(() => left({ code: 143, abandoned: true })), STOP_GRACE_MS).unref()
  }
  if (host.stop.aborted) onStop()
  else host.stop.addEventListener('abort', onStop, { once: true })

  const run = async (): Promise<RunEnd> => {
    // Two requests a run, not three, when the agent named the entrypoint: load, then start and get the parameters at once.
    let exec: Execution | undefined = config.entrypoint ? undefined : await untilDelivered(() => client.execution(flowRunId))
    let flow
    try {
      flow = await host.loadFlow(config.entrypoint ?? (exec as Execution).entrypoint)
    } catch (err) {
      const message = cutText(`could not load the flow: ${(err as Error).message}`, MAX_LINE, '… [cut]')
      reporter.log('error', message, undefined)
      await reporter.flush()
      const result = await untilDelivered(() => client.proposeState(flowRunId, 'failed', message))
      return { code: 2, state: isTerminal(result.run.state) ? result.run.state : undefined, abandoned: false }
    }

    // Ask to start; the server may say wait (too early) or abort (cancelled meanwhile).
    for (;;) {
      const { verdict, execution } = await untilDelivered(() => client.proposeState(flowRunId, 'running', undefined, undefined, { withExecution: true }))
      if (verdict.status === 'accept') {
        // a server that does not answer with the execution details (older than withExecution) is asked for them
        exec ??= execution ?? (await untilDelivered(() => client.execution(flowRunId)))
        break
      }
      if (verdict.status === 'wait') {
        await new Promise((r) => setTimeout(r, Math.max(1, verdict.retryAfterMs ?? 100)))
        continue
      }
      note(`not starting run ${flowRunId}: ${verdict.reason ?? verdict.status}`)
      return { code: 0, abandoned: false }
    }

    const outcome = await runFlow(flow, {
      flowRunId,
      flowRunName: exec.run.name,
      parameters: exec.parameters,
      scheduledStartTime: new Date(exec.run.scheduledStartTime),
      signal: controller.signal,
      reporter,
      secrets: config.secrets,
      watch: host.watch,
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
  try {
    // A stop or a give-up aborts the calls in flight: the run then ends as left behind.
    return await Promise.race([run().catch((err: unknown) => (controller.signal.aborted ? leftBehind : Promise.reject(err))), leftBehind])
  } finally {
    host.stop.removeEventListener('abort', onStop)
  }
}
