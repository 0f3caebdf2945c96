/**
 * The shapes the dashboard reads: the wire contract's types (src/core/contract.ts), imported as
 * types only, so zod stays out of the bundle. The states come from the core's one list.
 */
import { TERMINAL_STATES } from '../core/states.ts'
import type { LogLevel } from '../core/contract.ts'

export { STATES, type State as RunState, type State } from '../core/states.ts'
export type { Agent, Artifact, Flow, FlowRun, Health, LogLevel, LogLine, ParameterSpecBody as FlowParameter, StatsBucket, TaskRun } from '../core/contract.ts'
// flow control (issue 12)
export type { Backfill, Pool, PoolHolder } from '../core/contract.ts'
export type { Automation, AutomationAction, AutomationInput, AutomationTrigger, Firing, Storage } from '../core/contract.ts'

/** States after which nothing changes any more: the run page stops ticking, cancel hides. */
export const FINAL_STATES: ReadonlySet<string> = TERMINAL_STATES as ReadonlySet<string>

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

/** A page of a list: `GET /api/flow-runs` answers one (its `nextCursor` fetches the next). */
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
