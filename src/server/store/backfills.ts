/**
 * SQL for backfills: one run per schedule time of a range. A backfill run of a time nobody ran holds
 * the schedule key (flow, time) the scheduler's runs hold, so neither makes a second run of that
 * time; a backfill re-run of a time whose runs all failed is a retry of the last one and holds no key.
 */
import type { Queryable } from '../db/index.ts'
import { insertStateHistory } from './runs.ts'

export interface BackfillRow {
  id: string
  createdAt: Date
}

/** What already exists at each schedule time: whether any run does, and whether one succeeded or has not finished (retries included). */
export interface TimeCoverage {
  /** A run that succeeded or has not finished stands for this time (retries of the time's runs included). */
  covered: boolean
  /** The newest run of the time (or of its retries), and its attempt: a re-run retries it. */
  lastId: string
  lastAttempt: number
}

/** Locks the flow against another backfill of it until the transaction ends (re-runs hold no key to guard them). */
export async function lockFlowForBackfill(tx: Queryable, flowId: string): Promise<void> {
  await tx.query(`select id from rota_flows where id = $1 for update`, [flowId])
}

export async function coverage(tx: Queryable, flowId: string, times: readonly Date[]): Promise<Map<number, TimeCoverage>> {
  if (times.length === 0) return new Map()
  const rows = await tx.query<{ t: Date; covered: boolean; lastId: string; lastAttempt: number }>(
    `with recursive chain as (
       select r.id, r.state, r.scheduled_start_time as t, r.attempt, r.created_at
       from rota_flow_runs r where r.flow_id = $1 and r.scheduled_start_time = any($2::timestamptz[])
       union all
       select r.id, r.state, c.t, r.attempt, r.created_at from rota_flow_runs r join chain c on r.retry_of = c.id
     )
     select t, bool_or(state in ('success', 'scheduled', 'pending', 'running', 'retrying', 'cancelling')) as covered,
       (array_agg(id order by created_at desc, attempt desc))[1] as "lastId", max(attempt)::int as "lastAttempt"
     from chain group by t`,
    [flowId, times],
  )
  return new Map(rows.map((r) => [new Date(r.t).getTime(), { covered: r.covered, lastId: r.lastId, lastAttempt: r.lastAttempt }]))
}

export async function insertBackfill(
  tx: Queryable,
  b: { flowId: string; from: Date; to: Date; missingOnly: boolean; maxActive: number | null },
): Promise<BackfillRow> {
  const rows = await tx.query<BackfillRow>(
    `insert into rota_backfills (flow_id, range_from, range_to, missing_only, max_active) values ($1, $2, $3, $4, $5) returning id, created_at as "createdAt"`,
    [b.flowId, b.from, b.to, b.missingOnly, b.maxActive],
  )
  return rows[0] as BackfillRow
}

/**
 * The backfill's runs, in one statement. New runs of a time hold the schedule key: a time the
 * scheduler made meanwhile (a range reaching into the future) is not made twice. Returns the ids made.
 */
export async function insertBackfillRuns(
  tx: Queryable,
  b: { id: string; flowId: string; version: string; parameters: Record<string, unknown>; priority: number },
  runs: readonly { time: Date; name: string; retryOf: string | null; attempt: number }[],
): Promise<string[]> {
  if (runs.length === 0) return []
  const rows = await tx.query<{ id: string }>(
    `insert into rota_flow_runs (flow_id, name, state, parameters, scheduled_start_time, flow_version, attempt, retry_of, priority, backfill_id)
     select $1, x.name, 'scheduled', $2::jsonb, x.t, $3, x.attempt, x.retry_of, $4, $5
     from unnest($6::timestamptz[], $7::text[], $8::int[], $9::uuid[]) as x(t, name, attempt, retry_of)
     on conflict (flow_id, scheduled_start_time) where auto_scheduled or (backfill_id is not null and retry_of is null) do nothing
     returning id`,
    [
      b.flowId,
      JSON.stringify(b.parameters),
      b.version,
      b.priority,
      b.id,
      runs.map((r) => r.time),
      runs.map((r) => r.name),
      runs.map((r) => r.attempt),
      runs.map((r) => r.retryOf),
    ],
  )
  const ids = rows.map((r) => r.id)
  await insertStateHistory(tx, ids, null, 'scheduled', `made by backfill ${b.id}`)
  await tx.query(`update rota_backfills set created_runs = $2 where id = $1`, [b.id, ids.length])
  return ids
}
