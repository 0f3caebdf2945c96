/** Flows: a named async function with a schedule, parameters and the tasks it calls. */
import { normalizeSchedule, type Schedule, type ScheduleInput } from '../core/schedule.ts'
import { parameterSpecs, type ParameterSpec } from '../core/parameters.ts'
import { isTask, type TaskDefinition } from './task.ts'
import { DurationError, parseDurationSeconds } from '../core/duration.ts'
import type { Retention } from '../core/contract.ts'

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
  /**
   * How long this flow's finished runs are kept, over the server's ROTA_RETENTION and
   * ROTA_RETENTION_KEEP_LAST: `maxAge` a duration ('7d', '12h', or seconds; null keeps them
   * whatever their age), `keepLast` the newest runs kept whatever their age.
   */
  retention?: { maxAge?: string | number | null; keepLast?: number }
}

export interface FlowDefinition<P extends Record<string, unknown> = Record<string, unknown>> {
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
  /** The wire form of `retention`; null: the server's. */
  readonly retention: Retention | null
  readonly fn: (parameters: P) => Promise<unknown>
}

const NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/i

export function defineFlow<P extends Record<string, unknown>>(options: FlowOptions<P>, fn: (parameters: P) => Promise<unknown> | unknown): FlowDefinition<P> {
  if (!options || typeof options.name !== 'string' || !NAME.test(options.name)) {
    throw new TypeError(`defineFlow needs a name of letters, digits, '-', '_' or '.', got ${JSON.stringify(options?.name)}`)
  }
  if (typeof fn !== 'function') throw new TypeError(`flow "${options.name}" needs a function`)
  const schedule = normalizeSchedule(options.schedule)
  if (options.tasks !== undefined && (!Array.isArray(options.tasks) || !options.tasks.every(isTask))) {
    throw new TypeError(`flow "${options.name}": tasks must be a list of tasks made with task(...)`)
  }
  const tasks = [...new Set((options.tasks ?? []).map((t) => t.options.name))]
  return Object.freeze({
    __rotaFlow: true as const,
    name: options.name,
    description: options.description ?? '',
    schedule,
    parameters: parameterSpecs(options.parameters ?? {}, options.secretParameters ?? []),
    catchUp: options.catchUp ?? (schedule && 'intervalSeconds' in schedule && schedule.intervalSeconds <= 300 ? 'latest' : 'all'),
    retries: options.retries ?? 0,
    retryDelaySeconds: options.retryDelaySeconds ?? 10,
    labels: [...(options.labels ?? [])],
    tasks,
    retention: flowRetention(options.name, options.retention),
    fn: async (p: P) => fn(p),
  })
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
  return typeof value === 'object' && value !== null && (value as { __rotaFlow?: unknown }).__rotaFlow === true
}
