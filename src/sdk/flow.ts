/**
 * Flows: a named async function with a schedule, parameters and the tasks it calls. What defineFlow
 * returns is callable: inside a flow run, `await otherFlow({ n: 2 })` runs it as a child run
 * (children.ts); outside a run it is a plain call of its function with the defaults filled in, as a
 * task outside a run is a plain function.
 */
import { normalizeSchedule, type Schedule, type ScheduleInput } from '../core/schedule.ts'
import { parameterSpecs, resolveParameters, type ParameterSpec } from '../core/parameters.ts'
import { isOverlap, POOL_NAME, type Overlap } from '../core/flow-control.ts'
import { isTask, type TaskDefinition } from './task.ts'
import { currentScope } from './context.ts'
import { callFlow } from './children.ts'
import { DurationError, parseDurationSeconds } from '../core/duration.ts'
import type { Retention } from '../core/contract.ts'
import { isIsolation, type Isolation } from '../core/isolation.ts'

export interface FlowOptions<P extends Record<string, unknown>> {
  name: string
  description?: string
  schedule?: ScheduleInput | null
  /** Parameters with their defaults; the defaults' types are the parameters' types. */
  parameters?: P
  /** Parameters whose values are never shown in the API, the dashboard or the logs. */
  secretParameters?: readonly (keyof P & string)[]
  /**
   * After downtime: 'latest' runs only the newest missed run and skips the others; 'all' runs every one.
   * Default: 'latest' for intervals of 5 minutes or less, 'all' otherwise.
   */
  catchUp?: 'latest' | 'all'
  /** Times a crashed or failed run is run again as a new run. */
  retries?: number
  retryDelaySeconds?: number
  /** Only agents with all these labels run this flow. */
  labels?: readonly string[]
  /**
   * The flow's tasks in order, when you want them known before its first run (the run page lists
   * those not started yet, and a run that never reaches one records it as skipped). Without it the
   * server learns them from the flow's runs: each task belongs to the flow whose run calls it, so
   * two flows in one module never share a list. The graph on the run page comes from the data flow
   * between task runs, not from this list.
   */
  tasks?: readonly TaskDefinition[]
  /** At most this many runs of the flow active at once (across every agent and server). */
  maxActiveRuns?: number
  /**
   * What a run does when the flow is at maxActiveRuns: 'queue' (default) waits for a slot, 'skip'
   * ends it skipped, 'cancel-running' cancels the oldest active run and starts once it has ended. Needs maxActiveRuns.
   */
  overlap?: Overlap
  /** A slot pool the whole run takes a slot of when it is claimed (`rota pool set NAME --slots N`). */
  pool?: string
  /**
   * How long this flow's finished runs are kept, over the server's ROTA_RETENTION and
   * ROTA_RETENTION_KEEP_LAST: `maxAge` a duration ('7d', '12h', or seconds; null keeps them
   * whatever their age), `keepLast` the newest runs kept whatever their age.
   */
  retention?: { maxAge?: string | number | null; keepLast?: number }
  /**
   * Where agents run it: 'process' (a process per run: a crash, a runaway loop or a global change
   * touches only that run) or 'shared' (the agent's long-lived workers, many runs at once, modules
   * loaded once: for many short runs). Default: the agent's `--isolation` (which defaults to 'process').
   */
  isolation?: Isolation
}

export interface FlowDefinition<P extends Record<string, unknown> = Record<string, unknown>, R = unknown> {
  /** Inside a flow run: runs this flow as a child run and returns its result. Outside: calls its function. */
  (parameters?: Partial<P>): Promise<R>
  readonly __rotaFlow: true
  readonly name: string
  readonly description: string
  readonly schedule: Schedule | null
  readonly parameters: ParameterSpec[]
  readonly catchUp: 'latest' | 'all'
  readonly retries: number
  readonly retryDelaySeconds: number
  readonly labels: string[]
  readonly tasks: string[]
  readonly maxActiveRuns: number | null
  readonly overlap: Overlap
  readonly pool: string | null
  /** Task name -> the pool it takes slots of. */
  readonly taskPools: Record<string, string>
  /** The wire form of `retention`; null: the server's. */
  readonly retention: Retention | null
  /** null: the agent decides. */
  readonly isolation: Isolation | null
  readonly fn: (parameters: P) => Promise<unknown>
}

const NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/i

export function defineFlow<P extends Record<string, unknown>, R = unknown>(options: FlowOptions<P>, fn: (parameters: P) => Promise<R> | R): FlowDefinition<P, Awaited<R>> {
  if (!options || typeof options.name !== 'string' || !NAME.test(options.name)) {
    throw new TypeError(`defineFlow needs a name of letters, digits, '-', '_' or '.', got ${JSON.stringify(options?.name)}`)
  }
  if (typeof fn !== 'function') throw new TypeError(`flow "${options.name}" needs a function`)
  const schedule = normalizeSchedule(options.schedule)
  if (options.isolation !== undefined && !isIsolation(options.isolation)) {
    throw new TypeError(`flow "${options.name}": isolation must be 'process' or 'shared', got ${JSON.stringify(options.isolation)}`)
  }
  if (options.tasks !== undefined && (!Array.isArray(options.tasks) || !options.tasks.every(isTask))) {
    throw new TypeError(`flow "${options.name}": tasks must be a list of tasks made with task(...)`)
  }
  // Task pools are known from the declared tasks (`tasks: [...]`); a task's pool works without it
  // (the slot is taken by name when the task runs), the flow's details just do not list it before.
  const declared = options.tasks ?? []
  const tasks = [...new Set(declared.map((t) => t.options.name))]
  const control = flowControl(options)
  const specs = parameterSpecs(options.parameters ?? {}, options.secretParameters ?? [])
  const properties = {
    __rotaFlow: true as const,
    name: options.name,
    description: options.description ?? '',
    schedule,
    parameters: specs,
    catchUp: options.catchUp ?? (schedule && 'intervalSeconds' in schedule && schedule.intervalSeconds <= 300 ? 'latest' : 'all'),
    retries: options.retries ?? 0,
    retryDelaySeconds: options.retryDelaySeconds ?? 10,
    labels: [...(options.labels ?? [])],
    tasks,
    isolation: options.isolation ?? null,
    ...control,
    taskPools: Object.fromEntries(declared.filter((t) => t.options.pool !== undefined).map((t) => [t.options.name, t.options.pool as string])),
    retention: flowRetention(options.name, options.retention),
    fn: async (p: P) => fn(p),
  }
  const call = async (parameters: Partial<P> = {}): Promise<Awaited<R>> => {
    const scope = currentScope()
    if (!scope) return (await fn(resolveParameters(specs, parameters) as P)) as Awaited<R>
    return (await callFlow(definition as unknown as FlowDefinition, parameters, scope)) as Awaited<R>
  }
  // Own, enumerable properties (a function's `name` is not writable: define it), so the loader's
  // version hash sees the whole definition.
  const definition = Object.defineProperties(
    call,
    Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, { value, enumerable: true, writable: false, configurable: false }])),
  ) as unknown as FlowDefinition<P, Awaited<R>>
  return Object.freeze(definition)
}

function flowControl(options: Pick<FlowOptions<Record<string, unknown>>, 'name' | 'maxActiveRuns' | 'overlap' | 'pool'>): { maxActiveRuns: number | null; overlap: Overlap; pool: string | null } {
  const { name, maxActiveRuns, overlap, pool } = options
  if (maxActiveRuns !== undefined && (!Number.isInteger(maxActiveRuns) || maxActiveRuns < 1 || maxActiveRuns > 10_000)) {
    throw new TypeError(`flow "${name}": maxActiveRuns must be a whole number from 1 to 10000, got ${String(maxActiveRuns)}`)
  }
  if (overlap !== undefined && !isOverlap(overlap)) throw new TypeError(`flow "${name}": overlap must be 'queue', 'skip' or 'cancel-running', got ${JSON.stringify(overlap)}`)
  if (overlap !== undefined && maxActiveRuns === undefined) throw new TypeError(`flow "${name}": overlap says what a run beyond maxActiveRuns does; set maxActiveRuns too`)
  if (pool !== undefined && (typeof pool !== 'string' || !POOL_NAME.test(pool))) throw new TypeError(`flow "${name}": pool must be a name of letters, digits, '-', '_' or '.', got ${JSON.stringify(pool)}`)
  return { maxActiveRuns: maxActiveRuns ?? null, overlap: overlap ?? 'queue', pool: pool ?? null }
}

function flowRetention(flow: string, retention: FlowOptions<Record<string, unknown>>['retention']): Retention | null {
  if (retention === undefined || retention === null) return null
  if (typeof retention !== 'object') throw new TypeError(`flow "${flow}": retention is { maxAge?: '7d', keepLast?: 50 }`)
  const out: Retention = {}
  if (retention.maxAge !== undefined) {
    try {
      out.maxAgeSeconds = retention.maxAge === null ? null : parseDurationSeconds(retention.maxAge, `flow "${flow}": retention.maxAge`)
    } catch (err) {
      throw err instanceof DurationError ? new TypeError(`${err.message}; or null to keep runs whatever their age`) : err
    }
  }
  if (retention.keepLast !== undefined) {
    if (!Number.isInteger(retention.keepLast) || retention.keepLast < 0 || retention.keepLast > 1_000_000) {
      throw new TypeError(`flow "${flow}": retention.keepLast must be a whole number from 0 to 1000000, got ${JSON.stringify(retention.keepLast)}`)
    }
    out.keepLast = retention.keepLast
  }
  return out
}

export function isFlow(value: unknown): value is FlowDefinition {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && (value as { __rotaFlow?: unknown }).__rotaFlow === true
}
