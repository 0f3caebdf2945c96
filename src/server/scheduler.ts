/**
 * The scheduler: turns schedules into scheduled runs a short horizon ahead. Idempotent in the
 * database (unique flow + scheduled time among scheduler-made runs), so restarts, replicas and
 * re-registration never create a duplicate; a per-flow cursor means no tick is skipped either.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { fireTimes, type Schedule } from '../core/schedule.ts'
import { advanceScheduleCursor, getFlowForUpdate, insertFlow, listScheduledFlows, setScheduleActive, updateFlowDefinition, type FlowRegistration, type FlowRow } from './store/flows.ts'
import { deleteScheduledRuns, insertScheduledRuns } from './store/runs.ts'
import { ensurePools } from './store/pools.ts'
import { runName } from '../core/names.ts'

/** How far ahead runs are created (the dashboard shows them as upcoming). */
export const HORIZON_MS = 5 * 60_000
/** At least this many upcoming runs exist for every active schedule, however sparse. */
export const MIN_UPCOMING = 3
/** With catch-up 'all', at most this many missed runs are created after downtime. */
export const MAX_CATCH_UP = 1000

/** One tick: every active schedule gets its runs up to the horizon. Returns how many were made. (Missed runs are the reaper's.) */
export async function scheduleAll(db: Db, bus: EventBus, now = new Date()): Promise<number> {
  let created = 0
  for (const flow of await listScheduledFlows(db)) created += await scheduleFlow(db, flow, now)
  if (created > 0) bus.publish({ type: 'runs-available' })
  return created
}

export async function scheduleFlow(db: Db, flow: FlowRow, now = new Date()): Promise<number> {
  if (!flow.schedule || !flow.scheduleActive) return 0
  const schedule = flow.schedule
  let from = flow.scheduledUntil ?? new Date(now.getTime() - 1)
  if (from.getTime() < now.getTime()) {
    // Downtime: ticks between the cursor and now were missed.
    const missed = fireTimes(schedule, from, now, MAX_CATCH_UP + 1)
    const last = missed.at(-1)
    if (flow.catchUp === 'latest' && last) from = new Date(last.getTime() - 1)
    else if (missed.length > MAX_CATCH_UP) from = new Date((missed[missed.length - MAX_CATCH_UP] as Date).getTime() - 1)
  }
  let times = fireTimes(schedule, from, new Date(now.getTime() + HORIZON_MS), MAX_CATCH_UP + 500)
  // Runs already made beyond now (the cursor is ahead of now) count as upcoming too.
  const made = from > now ? fireTimes(schedule, now, from, MIN_UPCOMING).length : 0
  const upcoming = made + times.filter((t) => t > now).length
  if (upcoming < MIN_UPCOMING) times = times.concat(nextTicks(schedule, times.at(-1) ?? from, MIN_UPCOMING - upcoming))
  if (times.length === 0) return 0
  const ids = await db.transaction(async (tx) => {
    const inserted = await insertScheduledRuns(tx, flow, times.map((time) => ({ time, name: runName() })))
    await advanceScheduleCursor(tx, flow.id, times.at(-1) as Date)
    return inserted
  })
  return ids.length
}

function nextTicks(schedule: Schedule, after: Date, n: number): Date[] {
  // Widen the window until n ticks are found (yearly crons need a year).
  for (const span of [86_400_000, 31 * 86_400_000, 400 * 86_400_000]) {
    const t = fireTimes(schedule, after, new Date(after.getTime() + span), n)
    if (t.length >= n) return t
  }
  return fireTimes(schedule, after, new Date(after.getTime() + 400 * 86_400_000), n)
}

export type RegistrationStatus = 'created' | 'updated' | 'unchanged'

/**
 * Registers (or re-registers) a flow. An unchanged flow is left alone. When the schedule changes,
 * the scheduler's future runs are replaced by the new schedule's, in one transaction: no run is
 * duplicated, none is dropped.
 */
export async function registerFlow(db: Db, bus: EventBus, reg: FlowRegistration): Promise<{ flow: FlowRow; status: RegistrationStatus }> {
  const result = await db.transaction(async (tx) => {
    const existing = await getFlowForUpdate(tx, reg.name)
    if (!existing) {
      const created = await insertFlow(tx, reg)
      if (created) return { flow: created, status: 'created' as const, removed: [] }
      // Another server registered it between our read and insert: treat as re-registration.
    }
    const current = existing ?? ((await getFlowForUpdate(tx, reg.name)) as FlowRow)
    if (sameDefinition(current, reg)) return { flow: current, status: 'unchanged' as const, removed: [] }
    const scheduleChanged = canonical(current.schedule) !== canonical(reg.schedule)
    // Future scheduler-made runs that nobody claimed yet belong to the old schedule.
    const removed = scheduleChanged ? await deleteScheduledRuns(tx, current.id, { futureOnly: true }) : []
    const flow = await updateFlowDefinition(tx, reg, scheduleChanged)
    return { flow, status: 'updated' as const, removed }
  })
  // The pools the flow and its tasks name exist from now on (1 slot unless `rota pool set` says otherwise).
  await ensurePools(db, [...(reg.pool ? [reg.pool] : []), ...Object.values(reg.taskPools)])
  if (result.removed.length) bus.publish({ type: 'runs-removed', flowId: result.flow.id, ids: result.removed })
  if (result.status !== 'unchanged') await scheduleFlow(db, result.flow)
  bus.publish({ type: 'runs-available' })
  return { flow: result.flow, status: result.status }
}

/** JSON with sorted keys: jsonb does not keep key order, so plain JSON.stringify would see changes that are not. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  )
}

function sameDefinition(row: FlowRow, reg: FlowRegistration): boolean {
  return (
    row.version === reg.version &&
    row.entrypoint === reg.entrypoint &&
    row.description === reg.description &&
    canonical(row.schedule) === canonical(reg.schedule) &&
    canonical(row.parameters) === canonical(reg.parameters) &&
    canonical(row.tasks) === canonical(reg.tasks) &&
    canonical(row.labels) === canonical(reg.labels) &&
    row.catchUp === reg.catchUp &&
    row.retries === reg.retries &&
    row.retryDelaySeconds === reg.retryDelaySeconds &&
    row.maxActiveRuns === reg.maxActiveRuns &&
    row.overlap === reg.overlap &&
    row.pool === reg.pool &&
    canonical(row.taskPools) === canonical(reg.taskPools) &&
    canonical(row.retention) === canonical(reg.retention ?? null) &&
    row.isolation === reg.isolation
  )
}

/**
 * Pauses or resumes a flow's schedule. Pausing removes the upcoming runs the scheduler made;
 * resuming starts from now (the paused gap is not caught up) and makes the upcoming runs at once.
 */
export async function switchSchedule(db: Db, bus: EventBus, flow: FlowRow, active: boolean): Promise<FlowRow> {
  const { updated, removed } = await db.transaction(async (tx) => {
    const row = (await setScheduleActive(tx, flow.id, active)) as FlowRow
    return { updated: row, removed: active ? [] : await deleteScheduledRuns(tx, flow.id, { futureOnly: false }) }
  })
  // Every open page drops them now, rather than listing runs that no longer exist until its next refresh.
  if (removed.length) bus.publish({ type: 'runs-removed', flowId: flow.id, ids: removed })
  if (active) await scheduleFlow(db, updated)
  bus.publish({ type: 'runs-available' })
  return updated
}
