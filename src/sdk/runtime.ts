/** Executes one flow run in this process, reporting through a Reporter. */
import { captureConsole, redact, storage, type Reporter, type RunScope } from './context.ts'
import type { FlowDefinition } from './flow.ts'
import { describeError, TaskFailedError } from './task.ts'
import type { RunControl } from './control.ts'

export interface RunFlowOptions {
  flowRunId: string
  flowRunName: string
  parameters: Record<string, unknown>
  scheduledStartTime?: Date
  signal?: AbortSignal
  reporter: Reporter
  /** Extra strings to keep out of logs (secret environment values). */
  secrets?: string[]
  /** Pool slots and child runs (the agent's run process gives one; none for `rota run --local`). */
  control?: RunControl | undefined
}

export interface FlowOutcome {
  state: 'success' | 'failed' | 'cancelled'
  message: string
  /** What the flow function returned, with success. */
  result?: unknown
}

export async function runFlow<P extends Record<string, unknown>>(flow: FlowDefinition<P>, options: RunFlowOptions): Promise<FlowOutcome> {
  captureConsole()
  const signal = options.signal ?? new AbortController().signal
  const secretValues = flow.parameters
    .filter((p) => p.secret)
    .map((p) => options.parameters[p.name])
    .filter((v): v is string => typeof v === 'string')
  const scope: RunScope = {
    run: {
      flowRunId: options.flowRunId,
      flowRunName: options.flowRunName,
      flowName: flow.name,
      parameters: options.parameters,
      scheduledStartTime: options.scheduledStartTime ?? new Date(),
      signal,
    },
    reporter: options.reporter,
    taskCalls: new Map(),
    nextPosition: 0,
    seenTasks: new Set(),
    secrets: [...secretValues, ...(options.secrets ?? [])],
    control: options.control,
  }
  let outcome: FlowOutcome
  try {
    const result = await storage.run({ runScope: scope }, () => flow.fn(options.parameters as P))
    outcome = signal.aborted ? { state: 'cancelled', message: 'cancelled' } : { state: 'success', message: 'all tasks finished', result }
  } catch (err) {
    if (signal.aborted) outcome = { state: 'cancelled', message: 'cancelled' }
    else {
      const message = redact(err instanceof TaskFailedError ? err.message : `flow raised: ${describeError(err)}`, scope.secrets)
      options.reporter.log('error', err instanceof TaskFailedError ? message : (err as Error)?.stack ?? message, undefined)
      outcome = { state: 'failed', message }
    }
  }
  // Every task of the flow appears in every run: those never reached are recorded as skipped.
  for (const name of flow.tasks) {
    if (scope.seenTasks.has(name)) continue
    options.reporter.taskState({
      taskRunId: crypto.randomUUID(),
      taskKey: name,
      taskName: name,
      position: scope.nextPosition++,
      state: 'skipped',
      attempts: 0,
      message: outcome.state === 'success' ? 'not called by this run' : `not reached: the flow ${outcome.state === 'failed' ? 'failed' : 'was cancelled'} before it`,
      time: new Date(),
    })
  }
  await options.reporter.flush()
  return outcome
}
