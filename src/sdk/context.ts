/**
 * The run context: which flow run and task run the current code belongs to, carried by
 * AsyncLocalStorage so `log`, `artifact` and captured console output land on the right run.
 */
import { AsyncLocalStorage } from 'node:async_hooks'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface TaskEvent {
  taskRunId: string
  taskKey: string
  taskName: string
  position: number
  state: 'running' | 'retrying' | 'success' | 'failed' | 'skipped' | 'cancelled' | 'crashed'
  message?: string | undefined
  attempts: number
  time: Date
}

/** Where a run's events go: the terminal for `rota run --local`, the server for agent runs. */
export interface Reporter {
  /** Ordered and fire-and-forget: the reporter queues and delivers in order. */
  taskState(event: TaskEvent): void
  log(level: LogLevel, message: string, taskName: string | undefined): void
  artifact(key: string, data: unknown, taskName: string | undefined): Promise<void>
  flush(): Promise<void>
}

export interface RunInfo {
  flowRunId: string
  flowRunName: string
  flowName: string
  parameters: Record<string, unknown>
  scheduledStartTime: Date
  signal: AbortSignal
}

export interface RunScope {
  run: RunInfo
  reporter: Reporter
  /** Per-run task bookkeeping. */
  taskCalls: Map<string, number>
  nextPosition: number
  seenTasks: Set<string>
  /** Strings that must never reach the logs (secret parameter values, secret env). */
  secrets: string[]
}

export interface TaskScope {
  taskRunId: string
  taskName: string
  attempt: number
  signal: AbortSignal
}

export interface Scope {
  runScope: RunScope
  task?: TaskScope
}

export const storage = new AsyncLocalStorage<Scope>()

export function currentScope(): Scope | undefined {
  return storage.getStore()
}

export function redact(message: string, secrets: readonly string[]): string {
  let out = message
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('********')
  return out
}

export interface RunContext extends RunInfo {
  taskRunId?: string
  taskName?: string
  attempt: number
}

/** The current run, for code inside a flow or task. Throws outside of a run. */
export function runContext(): RunContext {
  const scope = currentScope()
  if (!scope) throw new Error('runContext() was called outside a flow run; call it from inside a task or flow function')
  const { run } = scope.runScope
  return scope.task
    ? { ...run, taskRunId: scope.task.taskRunId, taskName: scope.task.taskName, attempt: scope.task.attempt, signal: scope.task.signal }
    : { ...run, attempt: 1 }
}

function emit(level: LogLevel, message: string): void {
  const scope = currentScope()
  if (!scope) {
    originalConsole[level === 'debug' ? 'debug' : level](message)
    return
  }
  scope.runScope.reporter.log(level, redact(message, scope.runScope.secrets), scope.task?.taskName)
}

/** The run logger: writes to the current task's logs (or the flow's, outside a task). */
export const log = {
  debug: (message: string) => emit('debug', message),
  info: (message: string) => emit('info', message),
  warn: (message: string) => emit('warn', message),
  error: (message: string) => emit('error', message),
}

/** Keeps a JSON value with the flow run (shown on the run page). */
export async function artifact(key: string, data: unknown): Promise<void> {
  const scope = currentScope()
  if (!scope) throw new Error('artifact() was called outside a flow run')
  await scope.runScope.reporter.artifact(key, data, scope.task?.taskName)
}

// Console output inside a run is captured as logs, so third-party code that prints is not lost.
export const originalConsole = {
  log: console.log.bind(console),
  info: console.info.bind(console),
  warn: console.warn.bind(console),
  error: console.error.bind(console),
  debug: console.debug.bind(console),
}
let consoleCaptured = false
export function captureConsole(): void {
  if (consoleCaptured) return
  consoleCaptured = true
  const wrap = (level: LogLevel, original: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      const scope = currentScope()
      if (!scope) return original(...args)
      const message = args.map((a) => (typeof a === 'string' ? a : formatValue(a))).join(' ')
      scope.runScope.reporter.log(level, redact(message, scope.runScope.secrets), scope.task?.taskName)
    }
  console.log = wrap('info', originalConsole.log)
  console.info = wrap('info', originalConsole.info)
  console.warn = wrap('warn', originalConsole.warn)
  console.error = wrap('error', originalConsole.error)
  console.debug = wrap('debug', originalConsole.debug)
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return v.stack ?? v.message
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}
