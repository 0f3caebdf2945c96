/** Executes one flow run in this process, reporting through a Reporter. */
import { captureConsole, storage, type Reporter, type RunScope, type TimeoutWatch } from './context.ts'
import type { FlowDefinition } from './flow.ts'
import { describeError, TaskFailedError } from './task.ts'
import type { RunControl } from './control.ts'
import { redactor, type Redactor } from '../core/redact.ts'
import { secretValues } from '../core/parameters.ts'

export interface RunFlowOptions {
  flowRunId: string
  flowRunName: string
  parameters: Record<string, unknown>
  scheduledStartTime?: Date
  signal?: AbortSignal
  reporter: Reporter
  /** Extra strings to keep out of everything the run reports (secret environment values, the API key, the run token). */
  secrets?: string[]
  /** Told about each attempt of a task with a timeout (a shared worker's watchdog). */
  watch?: TimeoutWatch | undefined
  /** Pool slots and child runs (the agent's run process gives one; none for `rota run --local`). */
  control?: RunControl | undefined
  /**
   * The flow's tasks as the server knows them (declared, or learned from its runs): those this run
   * never reaches are recorded as skipped. Default: the tasks the flow declares.
   */
  expectedTasks?: readonly string[]
}

export interface FlowOutcome {
  state: 'success' | 'failed' | 'cancelled'
  message: string
  /** What the flow function returned, with success (for a caller in this process: a parent flow). */
  result?: unknown
  /** `result` with the run's secrets hidden: what is sent to the server and kept with the run. */
  reportedResult?: unknown
}

export async function runFlow<P extends Record<string, unknown>>(flow: FlowDefinition<P>, options: RunFlowOptions): Promise<FlowOutcome> {
  captureConsole()
  const signal = options.signal ?? new AbortController().signal
  // Everything the run reports goes through one redacting reporter: logs, captured console output,
  // task and retry messages, stack traces, artifacts, the final message.
  // A child run inherits its parent's secrets (scope.secrets), so they stay hidden in its reports too.
  const secretList = [...secretValues(flow.parameters, options.parameters), ...(options.secrets ?? [])]
  const secrets = redactor(secretList)
  const reporter = redactingReporter(options.reporter, secrets)
  const scope: RunScope = {
    run: {
      flowRunId: options.flowRunId,
      flowRunName: options.flowRunName,
      flowName: flow.name,
      parameters: options.parameters,
      scheduledStartTime: options.scheduledStartTime ?? new Date(),
      signal,
    },
    reporter,
    watch: options.watch,
    taskCalls: new Map(),
    nextPosition: 0,
    seenTasks: new Set(),
    secrets: secretList,
    control: options.control,
  }
  let outcome: FlowOutcome
  try {
    const result = await storage.run({ runScope: scope }, () => flow.fn(options.parameters as P))
    outcome = signal.aborted
      ? { state: 'cancelled', message: 'cancelled' }
      : { state: 'success', message: 'all tasks finished', result, reportedResult: secrets.value(result) }
  } catch (err) {
    if (signal.aborted) outcome = { state: 'cancelled', message: 'cancelled' }
    else {
      const message = secrets.text(err instanceof TaskFailedError ? err.message : `flow raised: ${describeError(err)}`)
      reporter.log('error', err instanceof TaskFailedError ? message : (err as Error)?.stack ?? message, undefined)
      outcome = { state: 'failed', message }
    }
  }
  // Every task of the flow appears in every run: those never reached are recorded as skipped.
  for (const name of new Set([...flow.tasks, ...(options.expectedTasks ?? [])])) {
    if (scope.seenTasks.has(name)) continue
    reporter.taskState({
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
  await reporter.flush()
  return outcome
}

/** A reporter that hides the run's secrets in everything before it reaches `inner`. */
function redactingReporter(inner: Reporter, secrets: Redactor): Reporter {
  if (secrets.empty) return inner
  return {
    taskState: (e) =>
      inner.taskState({
        ...e,
        ...(e.message === undefined ? {} : { message: secrets.text(e.message) }),
        ...(e.stack === undefined ? {} : { stack: secrets.text(e.stack) }),
      }),
    log: (level, message, taskName) => inner.log(level, secrets.text(message), taskName === undefined ? undefined : secrets.text(taskName)),
    artifact: (a, taskName) =>
      inner.artifact(
        { ...a, key: secrets.text(a.key), data: secrets.value(a.data), description: a.description === undefined ? undefined : secrets.text(a.description) },
        taskName === undefined ? undefined : secrets.text(taskName),
      ),
    flush: () => inner.flush(),
  }
}
