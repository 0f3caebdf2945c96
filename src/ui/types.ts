/**
 * The shapes the dashboard reads from the JSON API (see docs/ui.md for the contract).
 * The states come from the server's one list (a pure module with no imports, safe in the bundle).
 */
import { TERMINAL_STATES } from '../core/states.ts'

export { STATES, type State as RunState } from '../core/states.ts'

/** States after which nothing changes any more: the run page stops ticking, cancel hides. */
export const FINAL_STATES: ReadonlySet<string> = TERMINAL_STATES as ReadonlySet<string>

export interface Health {
  status: string
  version: string
  database: 'pglite' | 'postgres' | string
  time: string
}

export interface FlowParameter {
  name: string
  type: 'string' | 'number' | 'boolean' | 'json'
  default: unknown
  secret: boolean
  description?: string
}

export interface FlowRun {
  id: string
  name: string
  flowId: string
  flowName: string
  state: string
  stateMessage: string | null
  parameters: Record<string, unknown>
  scheduledStartTime: string | null
  startTime: string | null
  endTime: string | null
  late: boolean
  durationMs: number | null
  agentId: string | null
  createdAt: string
}

export interface Flow {
  id: string
  name: string
  description: string | null
  labels?: string[]
  version: string
  schedule: { intervalSeconds?: number; interval?: string; anchor?: string; cron?: string; timezone?: string } | null
  scheduleText: string
  scheduleActive: boolean
  parameters: FlowParameter[]
  tasks: string[]
  lastRun: FlowRun | null
  createdAt: string
  updatedAt: string
}

export interface TaskRun {
  id: string
  flowRunId?: string
  taskName: string
  state: string
  attempts: number
  startTime: string | null
  endTime: string | null
  message: string | null
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export interface LogLine {
  /** Increasing per server: the order of lines and the `after` cursor of /logs. */
  id: number
  flowRunId?: string
  seq?: number
  time: string
  level: LogLevel
  taskName: string | null
  message: string
}

export interface Artifact {
  key: string
  data: unknown
  createdAt: string
}

export interface Agent {
  id: string
  name: string
  type: 'local' | 'docker' | string
  labels: string[]
  lastHeartbeat: string | null
  status: 'active' | 'unhealthy' | 'offline' | string
}

export interface StatsBucket {
  start: string
  counts: Record<string, number>
}

export interface Page<T> {
  items: T[]
  nextCursor?: string | null
}

/** Artifact payloads the BRT flow writes (key `csv` and key `dbt`). */
export interface CsvArtifact {
  lakeUrl: string
  rows: number
  captures?: number
}
export interface DbtResult {
  uniqueId: string
  name: string
  resourceType: 'model' | 'test' | string
  status: string
  /** Seconds; the BRT flow writes `executionTimeS`. */
  executionTime?: number | null
  executionTimeS?: number | null
  message: string | null
  failures?: number | null
}
