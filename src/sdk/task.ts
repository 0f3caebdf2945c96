/** Tasks: the steps of a flow, with retries, timeouts, skip and skip propagation. */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { currentScope, storage, type RunScope } from './context.ts'
import { backoffDelay } from '../core/backoff.ts'

export interface TaskOptions {
  name: string
  /** Extra attempts after the first failure. */
  retries?: number
  retryDelaySeconds?: number
  /** 'fixed' waits retryDelaySeconds each time; 'exponential' doubles it per attempt. */
  retryBackoff?: 'fixed' | 'exponential'
  timeoutSeconds?: number
}

/** What a skipped task returns; a task called with it as an argument is skipped too. */
export class Skipped {
  constructor(
    readonly taskName: string,
    readonly reason: string,
  ) {
    Object.freeze(this)
  }
}

class SkipSignal extends Error {
  override name = 'SkipSignal'
}

export class TaskFailedError extends Error {
  override name = 'TaskFailedError'
  constructor(
    readonly taskName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export class TaskTimeoutError extends Error {
  override name = 'TaskTimeoutError'
}

/** Ends the current task as skipped. */
export function skip(reason = 'skipped'): never {
  throw new SkipSignal(reason)
}

export interface TaskDefinition {
  readonly options: Required<Omit<TaskOptions, 'timeoutSeconds'>> & { timeoutSeconds: number | undefined }
}

export type TaskFn<A extends unknown[], R> = ((...args: A) => Promise<R>) & TaskDefinition

/** Every task made so far, in creation order: a flow defined after them lists them as its tasks. */
export const taskRegistry: TaskDefinition[] = []

export function task<A extends unknown[], R>(nameOrOptions: string | TaskOptions, fn: (...args: A) => R | Promise<R>): TaskFn<A, R> {
  const raw: TaskOptions = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions
  if (typeof raw.name !== 'string' || raw.name.trim() === '') throw new TypeError('task() needs a name: task("extract", fn) or task({ name: "extract" }, fn)')
  if (typeof fn !== 'function') throw new TypeError(`task "${raw.name}" needs a function`)
  const options = {
    name: raw.name,
    retries: nonNegative(raw.retries ?? 0, 'retries', raw.name),
    retryDelaySeconds: nonNegative(raw.retryDelaySeconds ?? 0, 'retryDelaySeconds', raw.name),
    retryBackoff: raw.retryBackoff ?? 'fixed',
    timeoutSeconds: raw.timeoutSeconds === undefined ? undefined : nonNegative(raw.timeoutSeconds, 'timeoutSeconds', raw.name),
  }
  const call = async (...args: A): Promise<R> => {
    const scope = currentScope()
    // Outside a flow run a task is a plain function: easy to unit test.
    if (!scope) return await fn(...args)
    return runTask(scope.runScope, options, fn, args)
  }
  const definition = Object.assign(call, { options })
  taskRegistry.push(definition)
  return definition
}

function nonNegative(n: number, what: string, name: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new TypeError(`task "${name}": ${what} must be a number >= 0, got ${String(n)}`)
  return n
}

async function runTask<A extends unknown[], R>(run: RunScope, options: TaskDefinition['options'], fn: (...args: A) => R | Promise<R>, args: A): Promise<R> {
  const count = (run.taskCalls.get(options.name) ?? 0) + 1
  run.taskCalls.set(options.name, count)
  run.seenTasks.add(options.name)
  const taskKey = count === 1 ? options.name : `${options.name}#${count}`
  const base = { taskRunId: randomUUID(), taskKey, taskName: options.name, position: run.nextPosition++ }
  const report = (state: Parameters<RunScope['reporter']['taskState']>[0]['state'], attempts: number, message?: string) =>
    run.reporter.taskState({ ...base, state, attempts, message, time: new Date() })

  const upstream = args.find((a): a is Skipped => a instanceof Skipped)
  if (upstream) {
    const reason = `upstream task "${upstream.taskName}" was skipped`
    report('skipped', 0, reason)
    return new Skipped(options.name, reason) as R
  }

  const maxAttempts = options.retries + 1
  for (let attempt = 1; ; attempt++) {
    if (run.run.signal.aborted) {
      report('cancelled', attempt - 1, 'flow run was cancelled')
      throw new TaskFailedError(options.name, 'flow run was cancelled')
    }
    report('running', attempt)
    const controller = new AbortController()
    const onRunAbort = () => controller.abort(run.run.signal.reason)
    run.run.signal.addEventListener('abort', onRunAbort, { once: true })
    try {
      const result = await storage.run({ runScope: run, task: { taskRunId: base.taskRunId, taskName: options.name, attempt, signal: controller.signal } }, () =>
        withTimeout(Promise.resolve().then(() => fn(...args)), options.timeoutSeconds, controller, watchOf(run, options)),
      )
      report('success', attempt)
      return result
    } catch (err) {
      if (err instanceof SkipSignal) {
        report('skipped', attempt, err.message)
        return new Skipped(options.name, err.message) as R
      }
      const message = describeError(err)
      if (attempt < maxAttempts && !run.run.signal.aborted) {
        const factor = options.retryBackoff === 'exponential' ? 2 : 1
        const delayMs = backoffDelay({ baseMs: options.retryDelaySeconds * 1000, maxMs: Infinity, factor }, attempt)
        report('retrying', attempt, `attempt ${attempt}/${maxAttempts} failed: ${message}; retrying in ${delayMs / 1000}s`)
        await sleep(delayMs, undefined, { signal: run.run.signal }).catch(() => undefined)
        continue
      }
      report('failed', attempt, message)
      throw new TaskFailedError(options.name, `task "${options.name}" failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${message}`, { cause: err })
    } finally {
      run.run.signal.removeEventListener('abort', onRunAbort)
    }
  }
}

/** The run's timeout watch for one attempt of this task (a shared worker has one). */
function watchOf(run: RunScope, options: TaskDefinition['options']): (() => () => void) | undefined {
  const watch = run.watch
  return watch && (() => watch(options.name, (options.timeoutSeconds ?? 0) * 1000))
}

function withTimeout<T>(work: Promise<T>, seconds: number | undefined, controller: AbortController, watch: (() => () => void) | undefined): Promise<T> {
  if (seconds === undefined || seconds === 0) return work
  const unwatch = watch?.()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TaskTimeoutError(`timed out after ${seconds}s`)
      controller.abort(err) // tasks that honour runContext().signal stop their I/O
      reject(err)
    }, seconds * 1000)
  })
  return Promise.race([work, timeout]).finally(() => {
    clearTimeout(timer)
    unwatch?.()
  })
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  return String(err)
}
