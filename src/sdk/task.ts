/**
 * Tasks: the steps of a flow, with retries, timeouts, skip and skip propagation.
 *
 * Data flow: every result a task returns, and the promise of every call, is remembered (weakly) as
 * produced by that task run. A task called with such a value (an argument, or one level inside an
 * array or plain-object argument) records the producing task runs as its `inputs`, which the run
 * page draws as the task graph: parallel branches and fan-outs show as they ran. The items of a
returned list (and the fields of a returned plain object) count as produced by that task run too,
so `items.map((item) => work(item))` draws a fan-out from the task that listed the items. Limits: only
 * objects can be recognised by identity, so a task that returns a number, a string or a boolean
 * feeds no edge (return `{ count }` rather than `count` to show it); a value a task builds from
 * another task's result (a field of it, a copy) is a new value, unknown to the graph.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { currentScope, storage, type RunScope, type TaskEvent } from './context.ts'
import { backoffDelay } from '../core/backoff.ts'
import { POOL_NAME } from '../core/flow-control.ts'
import { takeSlot } from './pools.ts'
import { mapItems, type MapOptions } from './map.ts'

export interface TaskOptions {
  name: string
  /** Extra attempts after the first failure. */
  retries?: number
  retryDelaySeconds?: number
  /** 'fixed' waits retryDelaySeconds each time; 'exponential' doubles it per attempt. */
  retryBackoff?: 'fixed' | 'exponential'
  timeoutSeconds?: number
  /**
   * A slot pool (`rota pool set NAME --slots N`): each attempt runs only while it holds one of the
   * pool's slots, and waits for one (the task run shows `pending` and why) when they are all taken.
   */
  pool?: string
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
  readonly options: Required<Omit<TaskOptions, 'timeoutSeconds' | 'pool'>> & { timeoutSeconds: number | undefined; pool: string | undefined }
}

/**
 * `someTask.map(items, { concurrency: 4 })`: one task run per item (passed as the task's first
 * argument), at most `concurrency` at once, results in item order. A failure fails the map once the
 * items in flight have ended (the items not started are recorded as skipped); with
 * `returnErrors: true` every item runs and a failed item's place holds its error.
 */
export interface TaskMap<A extends unknown[], R> {
  (items: Iterable<A[0]>, options?: MapOptions & { returnErrors?: false }): Promise<R[]>
  (items: Iterable<A[0]>, options: MapOptions & { returnErrors: true }): Promise<(R | TaskFailedError)[]>
}

export type TaskFn<A extends unknown[], R> = ((...args: A) => Promise<R>) & TaskDefinition & { readonly map: TaskMap<A, R> }

const TASKS = new WeakSet<object>()

export function isTask(value: unknown): value is TaskDefinition {
  return typeof value === 'function' && TASKS.has(value)
}

/** Which task run produced a value (a result object, or the promise of a call): the graph's edges. */
const producedBy = new WeakMap<object, string>()
/** A task with more inputs than this records the first ones. */
const MAX_INPUTS = 1000

function producer(value: unknown): string | undefined {
  return (typeof value === 'object' && value !== null) || typeof value === 'function' ? producedBy.get(value) : undefined
}

/**
 * The task runs whose results are among `args`, or inside arrays and plain objects among them (two
 * levels down: `join({ left, right, parts: [a, b] })`); a value some task produced is not looked into.
 */
export function inputsOf(args: readonly unknown[]): string[] {
  const found = new Set<string>()
  let budget = MAX_INPUTS * 4 // values looked at, whatever the shape of the arguments
  const visit = (v: unknown, depth: number): void => {
    if (budget-- <= 0 || found.size >= MAX_INPUTS) return
    const id = producer(v)
    if (id !== undefined) {
      found.add(id)
      return
    }
    if (depth >= 2 || v === null || typeof v !== 'object') return
    const items = Array.isArray(v) ? v : Object.getPrototypeOf(v) === Object.prototype ? Object.values(v) : []
    for (const item of items) {
      if (budget <= 0) break
      visit(item, depth + 1)
    }
  }
  for (const arg of args) visit(arg, 0)
  return [...found]
}

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
    pool: raw.pool === undefined ? undefined : poolName(raw.pool, raw.name),
  }
  const invoke = (args: A, mapIndex: number | undefined): Promise<R> => {
    const scope = currentScope()
    // Outside a flow run a task is a plain function: easy to unit test.
    if (!scope) return (async () => fn(...args))()
    const taskRunId = randomUUID()
    const promise = runTask(scope.runScope, options, fn, args, taskRunId, mapIndex)
    producedBy.set(promise, taskRunId) // passing the promise itself to another task is data flow too
    return promise
  }
  const call = (...args: A): Promise<R> => invoke(args, undefined)
  const map = ((items: Iterable<A[0]>, mapOptions: MapOptions = {}) => {
    const scope = currentScope()
    return mapItems(items, mapOptions, (item, index) => invoke([item] as unknown as A, index), {
      taskName: options.name,
      signal: scope?.runScope.run.signal,
      notStarted: scope ? (index, reason) => reportNotStarted(scope.runScope, options.name, index, reason) : undefined,
      failed: (error, index, total) =>
        error instanceof TaskFailedError ? new TaskFailedError(options.name, `${error.message} (item ${index} of ${total} of ${options.name}.map)`, { cause: error }) : error,
    })
  }) as TaskMap<A, R>
  const definition = Object.assign(call, { options, map })
  TASKS.add(definition)
  return definition
}

function poolName(pool: unknown, task: string): string {
  if (typeof pool !== 'string' || !POOL_NAME.test(pool)) throw new TypeError(`task "${task}": pool must be a name of letters, digits, '-', '_' or '.', got ${JSON.stringify(pool)}`)
  return pool
}

/** A map item that never started (the map stopped at a failure, or the run was cancelled): a skipped task run with its index. */
function reportNotStarted(run: RunScope, name: string, mapIndex: number, reason: string): void {
  const count = (run.taskCalls.get(name) ?? 0) + 1
  run.taskCalls.set(name, count)
  run.seenTasks.add(name)
  run.reporter.taskState({
    taskRunId: randomUUID(),
    taskKey: count === 1 ? name : `${name}#${count}`,
    taskName: name,
    position: run.nextPosition++,
    state: 'skipped',
    attempts: 0,
    message: reason,
    time: new Date(),
    mapIndex,
  })
}

function nonNegative(n: number, what: string, name: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new TypeError(`task "${name}": ${what} must be a number >= 0, got ${String(n)}`)
  return n
}

async function runTask<A extends unknown[], R>(
  run: RunScope,
  options: TaskDefinition['options'],
  fn: (...args: A) => R | Promise<R>,
  args: A,
  taskRunId: string,
  mapIndex: number | undefined,
): Promise<R> {
  const count = (run.taskCalls.get(options.name) ?? 0) + 1
  run.taskCalls.set(options.name, count)
  run.seenTasks.add(options.name)
  const taskKey = count === 1 ? options.name : `${options.name}#${count}`
  const base = { taskRunId, taskKey, taskName: options.name, position: run.nextPosition++, ...(mapIndex === undefined ? {} : { mapIndex }) }
  // The first event says where the inputs came from; messages and stacks pass the run's redaction like its logs.
  let inputs: string[] | undefined = inputsOf(args)
  const report = (state: TaskEvent['state'], attempts: number, message?: string, stack?: string) => {
    run.reporter.taskState({
      ...base,
      state,
      attempts,
      message: message,
      stack: stack,
      inputs,
      time: new Date(),
    })
    inputs = undefined
  }
  const produced = <T>(value: T): T => {
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
      producedBy.set(value as object, taskRunId)
      // Items of a returned list (or fields of a returned record) feed map fan-outs: `items.map((i) => work(i))`.
      // An item some other task produced keeps its producer.
      const items = Array.isArray(value) ? value : Object.getPrototypeOf(value) === Object.prototype ? Object.values(value as object) : []
      for (const item of items.slice(0, MAX_INPUTS)) {
        if (((typeof item === 'object' && item !== null) || typeof item === 'function') && !producedBy.has(item as object)) producedBy.set(item as object, taskRunId)
      }
    }
    return value
  }

  const upstream = args.find((a): a is Skipped => a instanceof Skipped)
  if (upstream) {
    const reason = `upstream task "${upstream.taskName}" was skipped`
    report('skipped', 0, reason)
    return produced(new Skipped(options.name, reason)) as R
  }

  const maxAttempts = options.retries + 1
  for (let attempt = 1; ; attempt++) {
    if (run.run.signal.aborted) {
      report('cancelled', attempt - 1, 'flow run was cancelled')
      throw new TaskFailedError(options.name, 'flow run was cancelled')
    }
    // Each attempt holds a slot of the task's pool while it runs (not while it waits to retry).
    let lease: Awaited<ReturnType<typeof takeSlot>>
    try {
      lease = await takeSlot(run, options.pool, base, (message) => report('pending', attempt - 1, message))
    } catch (err) {
      const cancelled = run.run.signal.aborted
      const message = cancelled ? 'flow run was cancelled' : `could not take a slot of pool ${options.pool}: ${describeError(err)}`
      report(cancelled ? 'cancelled' : 'failed', attempt - 1, message)
      throw new TaskFailedError(options.name, cancelled ? message : `task "${options.name}" ${message}`, { cause: err })
    }
    report('running', attempt)
    const controller = new AbortController()
    const onRunAbort = () => controller.abort(run.run.signal.reason)
    run.run.signal.addEventListener('abort', onRunAbort, { once: true })
    try {
      const result = await storage.run({ runScope: run, task: { taskRunId: base.taskRunId, taskName: options.name, attempt, signal: controller.signal } }, () =>
        withTimeout(Promise.resolve().then(() => fn(...args)), options.timeoutSeconds, controller, watchOf(run, options)),
      )
      await lease?.release()
      report('success', attempt)
      return produced(result)
    } catch (err) {
      await lease?.release()
      if (err instanceof SkipSignal) {
        report('skipped', attempt, err.message)
        return produced(new Skipped(options.name, err.message)) as R
      }
      const message = describeError(err)
      const stack = errorStack(err)
      if (attempt < maxAttempts && !run.run.signal.aborted) {
        const factor = options.retryBackoff === 'exponential' ? 2 : 1
        const delayMs = backoffDelay({ baseMs: options.retryDelaySeconds * 1000, maxMs: Infinity, factor }, attempt)
        const retrying = `attempt ${attempt}/${maxAttempts} failed: ${message}; retrying in ${delayMs / 1000}s`
        // The failure that caused the retry, with its stack, in the task's logs: a retried attempt leaves a trace.
        run.reporter.log('warn', `${retrying}\n${stack ?? message}`, options.name)
        report('retrying', attempt, retrying, stack)
        await sleep(delayMs, undefined, { signal: run.run.signal }).catch(() => undefined)
        continue
      }
      if (!run.run.signal.aborted) {
        run.reporter.log('error', `failed after ${attempt} attempt${attempt === 1 ? '' : 's'}: ${message}\n${stack ?? message}`, options.name)
      }
      report('failed', attempt, message, stack)
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

/**
 * The stack of an error and of its causes (`new Error(msg, { cause })`), as Node prints them:
 * source-mapped to the TypeScript file and line, since tsx turns source maps on
 * (`process.setSourceMapsEnabled(true)`, bin/rota.js). Undefined for a thrown non-Error.
 */
export function errorStack(err: unknown): string | undefined {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return undefined
  let text = err.stack
  let cause: unknown = err.cause
  for (let depth = 0; depth < 3 && cause !== undefined; depth++) {
    text += `\nCaused by: ${cause instanceof Error ? (cause.stack ?? `${cause.name}: ${cause.message}`) : String(cause)}`
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return text
}
