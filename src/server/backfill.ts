/**
 * Backfills: one run for each schedule time of a range (inclusive), for times the schedule missed
 * (the server was down, the schedule paused, catch-up 'latest' skipped them) or whose runs failed.
 *
 * - A time is left alone when a run of it succeeded or has not finished (a retry of it counts), so a
 *   backfill never runs a time twice at once and never redoes what worked; with `missingOnly`, a
 *   time is left alone when it has any run at all (kestra#13873's "missing executions only").
 * - Backfill runs are not the scheduler's: catch-up never skips them, pausing or rescheduling never
 *   removes them. They queue behind the flow's maxActiveRuns (whatever its overlap policy) and pool,
 *   and at most `maxActive` of them are active at once.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import type { FlowRow } from './store/flows.ts'
import { coverage, insertBackfill, insertBackfillRuns, lockFlowForBackfill } from './store/backfills.ts'
import { fireTimes } from '../core/schedule.ts'
import { resolveParameters } from '../core/parameters.ts'
import { MAX_BACKFILL_TIMES } from '../core/flow-control.ts'
import { runName } from '../core/names.ts'
import { InvalidRequestError } from './orchestration/transition.ts'

export interface BackfillInput {
  from: Date
  to: Date
  missingOnly: boolean
  maxActive: number | null
  priority: number
  parameters: Record<string, unknown>
}

export interface BackfillOutcome {
  id: string
  flowName: string
  from: Date
  to: Date
  missingOnly: boolean
  maxActive: number | null
  times: number
  created: number
  existing: number
  runIds: string[]
  createdAt: Date
}

/** The schedule's times in [from, to]. */
export function backfillTimes(flow: Pick<FlowRow, 'name' | 'schedule'>, from: Date, to: Date): Date[] {
  if (!flow.schedule) throw new InvalidRequestError(`flow "${flow.name}" has no schedule: a backfill makes one run per schedule time (use Quick Run for one run)`)
  if (from.getTime() > to.getTime()) throw new InvalidRequestError(`the range starts after it ends (from ${from.toISOString()} > to ${to.toISOString()})`)
  const times = fireTimes(flow.schedule, new Date(from.getTime() - 1), to, MAX_BACKFILL_TIMES + 1)
  if (times.length > MAX_BACKFILL_TIMES) {
    throw new InvalidRequestError(`the range holds more than ${MAX_BACKFILL_TIMES} schedule times of flow "${flow.name}"; backfill it in smaller ranges`)
  }
  return times
}

export async function createBackfill(db: Db, bus: EventBus, flow: FlowRow, input: BackfillInput): Promise<BackfillOutcome> {
  const times = backfillTimes(flow, input.from, input.to)
  resolveParameters(flow.parameters, input.parameters) // names and types; a ParameterError is a 400
  const outcome = await db.transaction(async (tx) => {
    await lockFlowForBackfill(tx, flow.id)
    const existing = await coverage(tx, flow.id, times)
    const runs: { time: Date; name: string; retryOf: string | null; attempt: number }[] = []
    for (const time of times) {
      const at = existing.get(time.getTime())
      if (!at) runs.push({ time, name: runName(), retryOf: null, attempt: 1 })
      else if (!input.missingOnly && !at.covered) runs.push({ time, name: runName(), retryOf: at.lastId, attempt: at.lastAttempt + 1 })
    }
    const backfill = await insertBackfill(tx, { flowId: flow.id, from: input.from, to: input.to, missingOnly: input.missingOnly, maxActive: input.maxActive })
    const runIds = await insertBackfillRuns(tx, { id: backfill.id, flowId: flow.id, version: flow.version, parameters: input.parameters, priority: input.priority }, runs)
    return { backfill, runIds }
  })
  if (outcome.runIds.length > 0) bus.publish({ type: 'runs-available' })
  // enough for watchers to refresh; a backfill of thousands of times is not thousands of events
  for (const id of outcome.runIds.slice(0, 50)) bus.publish({ type: 'flow-run', flowRunId: id, flowId: flow.id, state: 'scheduled' })
  return {
    id: outcome.backfill.id,
    flowName: flow.name,
    from: input.from,
    to: input.to,
    missingOnly: input.missingOnly,
    maxActive: input.maxActive,
    times: times.length,
    created: outcome.runIds.length,
    existing: times.length - outcome.runIds.length,
    runIds: outcome.runIds,
    createdAt: outcome.backfill.createdAt,
  }
}
