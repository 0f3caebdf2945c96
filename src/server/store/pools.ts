/**
 * SQL for slot pools. A slot is never a counter: a run holds a slot of its flow's pool while it is
 * active (rota_flow_runs.pool, set at claim), and a task holds one while its rota_pool_slots row says
 * held and its run is active. A run that ends in any way, a crash included, holds nothing any more;
 * its rows are deleted as well when it ends (releaseRunSlots), for tidiness.
 */
import type { Queryable } from '../db/index.ts'
import { DEFAULT_POOL_SLOTS } from '../../core/flow-control.ts'

/** The states in which a run holds its slots. */
export const ACTIVE = `('pending', 'running', 'retrying', 'cancelling')`
/** A task waiting for a slot that stopped asking this long ago is passed over (its process went away). */
export const WAITER_SILENCE_S = 60

export interface PoolRow {
  name: string
  slots: number
  createdAt: Date
  updatedAt: Date
}

export interface HolderRow {
  pool: string
  flowRunId: string
  flowRunName: string
  flowName: string
  taskName: string | null
  since: Date | null
}

const POOL_COLUMNS = `name, slots, created_at as "createdAt", updated_at as "updatedAt"`

/** Creates the pools that do not exist yet, with the default number of slots. */
export async function ensurePools(db: Queryable, names: readonly string[]): Promise<void> {
  if (names.length === 0) return
  await db.query(`insert into rota_pools (name, slots) select distinct n, $2::int from unnest($1::text[]) as n on conflict (name) do nothing`, [names, DEFAULT_POOL_SLOTS])
}

export async function listPoolRows(db: Queryable): Promise<PoolRow[]> {
  return db.query<PoolRow>(`select ${POOL_COLUMNS} from rota_pools order by name`)
}

export async function getPoolRow(db: Queryable, name: string): Promise<PoolRow | undefined> {
  return (await db.query<PoolRow>(`select ${POOL_COLUMNS} from rota_pools where name = $1`, [name]))[0]
}

export async function setPoolSlots(db: Queryable, name: string, slots: number): Promise<PoolRow> {
  const rows = await db.query<PoolRow>(
    `insert into rota_pools (name, slots) values ($1, $2) on conflict (name) do update set slots = excluded.slots, updated_at = now() returning ${POOL_COLUMNS}`,
    [name, slots],
  )
  return rows[0] as PoolRow
}

/** Who holds slots of these pools now: whole runs (their flow's pool) and task runs. */
export async function poolHolders(db: Queryable, names: readonly string[]): Promise<HolderRow[]> {
  if (names.length === 0) return []
  return db.query<HolderRow>(
    `select r.pool, r.id as "flowRunId", r.name as "flowRunName", f.name as "flowName", null::text as "taskName", coalesce(r.start_time, r.updated_at) as since
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.pool = any($1::text[]) and r.state in ${ACTIVE}
     union all
     select s.pool, s.flow_run_id, r.name, f.name, s.task_name, s.acquired_at
     from rota_pool_slots s join rota_flow_runs r on r.id = s.flow_run_id join rota_flows f on f.id = r.flow_id
     where s.pool = any($1::text[]) and s.state = 'held' and r.state in ${ACTIVE}
     order by 6 nulls last, 2`,
    [names],
  )
}

/** Who waits for slots of these pools: task runs asking now, and due runs of flows using the pool that wait to be claimed. */
export async function poolWaiters(db: Queryable, names: readonly string[], limit = 50): Promise<HolderRow[]> {
  if (names.length === 0) return []
  return db.query<HolderRow>(
    `(select s.pool, s.flow_run_id as "flowRunId", r.name as "flowRunName", f.name as "flowName", s.task_name as "taskName", s.requested_at as since
      from rota_pool_slots s join rota_flow_runs r on r.id = s.flow_run_id join rota_flows f on f.id = r.flow_id
      where s.pool = any($1::text[]) and s.state = 'waiting' and r.state in ${ACTIVE} and s.seen_at > now() - make_interval(secs => ${WAITER_SILENCE_S})
      order by r.priority desc, s.requested_at, s.id limit $2)
     union all
     (select f.pool, r.id, r.name, f.name, null, r.scheduled_start_time
      from rota_flow_runs r join rota_flows f on f.id = r.flow_id
      where f.pool = any($1::text[]) and r.state = 'scheduled' and r.parent_run_id is null and r.scheduled_start_time <= now()
      order by r.priority desc, r.scheduled_start_time, r.id limit $2)`,
    [names, limit],
  )
}

/**
 * Serialises the claims and slot grants that share a limit (a flow's maxActiveRuns, a pool, a
 * backfill) across every server on the database: transaction-scoped advisory locks, always taken in
 * sorted order so two claimers never wait for each other in a cycle.
 */
export async function lockLimits(tx: Queryable, keys: Iterable<string>): Promise<void> {
  for (const key of [...new Set(keys)].sort()) await tx.query(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`rota:${key}`])
}

// --- task slots ------------------------------------------------------------------------------

export interface SlotRequestRow {
  id: string
  state: 'waiting' | 'held'
  requestedAt: Date
}

/** The task's request: made once, seen again on every ask (a resent request finds it). */
export async function upsertSlotRequest(
  tx: Queryable,
  req: { pool: string; flowRunId: string; taskRunId: string; taskKey: string; taskName: string },
): Promise<SlotRequestRow> {
  const rows = await tx.query<SlotRequestRow>(
    `insert into rota_pool_slots (pool, flow_run_id, task_run_id, task_key, task_name, state) values ($1, $2, $3, $4, $5, 'waiting')
     on conflict (flow_run_id, task_run_id) do update set seen_at = now()
     returning id::text, state, requested_at as "requestedAt"`,
    [req.pool, req.flowRunId, req.taskRunId, req.taskKey, req.taskName],
  )
  return rows[0] as SlotRequestRow
}

/** Waiters of the pool that come before this request: higher run priority, then first come. */
export async function waitersAhead(tx: Queryable, pool: string, request: SlotRequestRow, priority: number): Promise<number> {
  const rows = await tx.query<{ n: number }>(
    `select count(*)::int as n from rota_pool_slots s join rota_flow_runs r on r.id = s.flow_run_id
     where s.pool = $1 and s.state = 'waiting' and s.id <> $2::bigint and r.state in ${ACTIVE}
       and s.seen_at > now() - make_interval(secs => ${WAITER_SILENCE_S})
       and (r.priority > $3 or (r.priority = $3 and (s.requested_at, s.id) < ($4, $2::bigint)))`,
    [pool, request.id, priority, request.requestedAt],
  )
  return rows[0]?.n ?? 0
}

export async function grantSlot(tx: Queryable, id: string): Promise<void> {
  await tx.query(`update rota_pool_slots set state = 'held', acquired_at = now() where id = $1::bigint`, [id])
}

/** Gives a slot back (or withdraws a request); returns its pool, or undefined if it was not there. */
export async function deleteSlot(db: Queryable, flowRunId: string, slotId: number): Promise<string | undefined> {
  const rows = await db.query<{ pool: string }>(`delete from rota_pool_slots where id = $1 and flow_run_id = $2 returning pool`, [slotId, flowRunId])
  return rows[0]?.pool
}

/** Everything a run held or asked for: called when it ends. Returns the pools concerned. */
export async function releaseRunSlots(tx: Queryable, flowRunId: string): Promise<string[]> {
  const rows = await tx.query<{ pool: string }>(`delete from rota_pool_slots where flow_run_id = $1 returning pool`, [flowRunId])
  return [...new Set(rows.map((r) => r.pool))]
}
