/**
 * The run context: which flow run and task run the current code belongs to, carried by
 * AsyncLocalStorage so `log`, `artifact` and captured console output land on the right run.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { ArtifactKind } from '../core/artifacts.ts'
import type { RunControl } from './control.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface TaskEvent {
  taskRunId: string
  taskKey: string
  taskName: string
  position: number
  /** pending: waiting for a pool slot (the message says which, and who holds them). */
  state: 'pending' | 'running' | 'retrying' | 'success' | 'failed' | 'skipped' | 'cancelled' | 'crashed'
  message?: string | undefined
  /** The stack of the error that failed the attempt (retrying, failed). */
  stack?: string | undefined
  /** The task runs whose results this one was called with (sent with its first event). */
  inputs?: string[] | undefined
  attempts: number
  time: Date
  /** The item's index when the task run is one of a map(). */
  mapIndex?: number | undefined
}

/** An artifact as a flow keeps it: its data has the shape of its kind (src/core/artifacts.ts). */
export interface ArtifactRecord {
  key: string
  kind: ArtifactKind
  data: unknown
  description?: string | undefined
}

/** Where a run's events go: the terminal for `rota run --local`, the server for agent runs. */
export interface Reporter {
  /** Ordered and fire-and-forget: the reporter queues and delivers in order. */
  taskState(event: TaskEvent): void
  log(level: LogLevel, message: string, taskName: string | undefined): void
  artifact(artifact: ArtifactRecord, taskName: string | undefined): Promise<void>
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

/**
 * Told when an attempt of a task with a timeout starts; the function it returns, when the attempt
 * settles. A shared worker's launcher uses it to find a task whose code blocks the worker's event
 * loop past its timeout (where the timeout itself cannot fire).
 */
export type TimeoutWatch = (taskName: string, timeoutMs: number) => () => void

export interface RunScope {
  run: RunInfo
  reporter: Reporter
  watch?: TimeoutWatch | undefined
  /** Per-run task bookkeeping. */
  taskCalls: Map<string, number>
  nextPosition: number
  seenTasks: Set<string>
  /** Strings that must never reach the logs (secret parameter values, secret env). */
  secrets: string[]
  /** Pool slots and child runs, from the server; absent in `rota run --local` (no pools, children inline). */
  control?: RunControl | undefined
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
  scope.runScope.reporter.log(level, message, scope.task?.taskName)
}

/** The run logger: writes to the current task's logs (or the flow's, outside a task). */
export const log = {
  debug: (message: string) => emit('debug', message),
  info: (message: string) => emit('info', message),
  warn: (message: string) => emit('warn', message),
  error: (message: string) => emit('error', message),
}

async function keep(record: ArtifactRecord, call: string): Promise<void> {
  const scope = currentScope()
  if (!scope) throw new Error(`${call}() was called outside a flow run; call it from inside a task or flow function`)
  if (typeof record.key !== 'string' || record.key.trim() === '' || record.key.length > 200) {
    throw new TypeError(`${call}() needs a key of 1 to 200 characters, got ${JSON.stringify(record.key)}`)
  }
  if (record.description !== undefined && typeof record.description !== 'string') throw new TypeError(`${call}(): description must be a string`)
  await scope.runScope.reporter.artifact(record, scope.task?.taskName)
}

export interface ArtifactOptions {
  /** A sentence shown above the artifact. */
  description?: string
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Keeps something a run produced with the flow run, shown on its page. `artifact(key, data)` keeps
 * a JSON value; the typed kinds render better:
 *
 *   await artifact.link('csv', 'gs://lake/bronze/file.csv', { text: 'file.csv', description: '360 rows' })
 *   await artifact.table('results', [{ model: 'silver', status: 'pass' }])
 *   await artifact.files('uploaded', ['gs://lake/a.csv', 'gs://lake/b.csv'])
 *   await artifact.markdown('report', '# Done\n**3** files')
 */
export const artifact = Object.assign(async (key: string, data: unknown): Promise<void> => keep({ key, kind: 'json', data }, 'artifact'), {
  json: async (key: string, data: unknown, options: ArtifactOptions = {}): Promise<void> => keep({ key, kind: 'json', data, description: options.description }, 'artifact.json'),
  link: async (key: string, url: string, options: ArtifactOptions & { text?: string } = {}): Promise<void> => {
    if (typeof url !== 'string' || url === '') throw new TypeError(`artifact.link("${key}") needs a URL, got ${JSON.stringify(url)}`)
    return keep({ key, kind: 'link', data: options.text === undefined ? { url } : { url, text: options.text }, description: options.description }, 'artifact.link')
  },
  table: async (key: string, rows: readonly Record<string, unknown>[], options: ArtifactOptions & { columns?: readonly string[] } = {}): Promise<void> => {
    if (!Array.isArray(rows) || !rows.every(isPlainObject)) throw new TypeError(`artifact.table("${key}") needs a list of objects (one per row)`)
    // Columns in the order they first appear, unless given.
    const columns = options.columns ? [...options.columns] : [...new Set(rows.flatMap((r) => Object.keys(r)))]
    return keep({ key, kind: 'table', data: { columns, rows }, description: options.description }, 'artifact.table')
  },
  files: async (key: string, files: readonly string[], options: ArtifactOptions = {}): Promise<void> => {
    if (!Array.isArray(files) || !files.every((f) => typeof f === 'string' && f !== '')) throw new TypeError(`artifact.files("${key}") needs a list of addresses (strings)`)
    return keep({ key, kind: 'files', data: [...files], description: options.description }, 'artifact.files')
  },
  markdown: async (key: string, markdown: string, options: ArtifactOptions = {}): Promise<void> => {
    if (typeof markdown !== 'string') throw new TypeError(`artifact.markdown("${key}") needs a Markdown text`)
    return keep({ key, kind: 'markdown', data: markdown, description: options.description }, 'artifact.markdown')
  },
})

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
      scope.runScope.reporter.log(level, message, scope.task?.taskName)
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
