/**
 * SQL for retention and the database's size. Pruning deletes finished runs in small batches, one
 * short statement each, oldest first; their task runs, state history, logs and artifacts go with
 * them through ON DELETE CASCADE (each child table is indexed by flow_run_id, and retries' retry_of
 * by migration 0004). Runs in any other state are never touched.
 */
import type { Queryable } from '../db/index.ts'
import { TERMINAL_STATES } from '../../core/states.ts'
import type { Retention } from '../../core/contract.ts'

const FINISHED = [...TERMINAL_STATES]

/** A flow and its own retention (null: the server's). */
export async function flowsForRetention(db: Queryable): Promise<{ id: string; name: string; retention: Retention | null }[]> {
  return db.query(`select id, name, retention from rota_flows order by name`)
}

/** Where the previous batch of a sweep stopped: the next one starts after it, not over dead index entries. */
export interface PruneCursor {
  time: Date
  id: string
}

/**
 * Deletes at most `limit` finished runs of one flow that are older than `maxAgeSeconds` (both
 * scheduled and ended before the cut) and not among its `keepLast` newest finished runs. Rows locked
 * by someone else (a retry being made from a run) are skipped, never waited for. Returns the
 * deleted runs' ids and where the batch stopped.
 */
export async function pruneFlowRuns(
  db: Queryable,
  flowId: string,
  policy: { maxAgeSeconds: number; keepLast: number },
  limit: number,
  after: PruneCursor | undefined,
): Promise<{ deleted: number; last: PruneCursor | undefined }> {
  const rows = await db.query<{ id: string; time: Date }>(
    `with bound as (
       -- the newest finished run that may go: the keepLast newest are kept
       select scheduled_start_time as t, id from rota_flow_runs
       where flow_id = $1 and state = any($2::text[])
       order by scheduled_start_time desc, id desc offset $3 limit 1
     ), doomed as (
       select r.id, r.scheduled_start_time from rota_flow_runs r, bound
       where r.flow_id = $1 and r.state = any($2::text[])
         and (r.scheduled_start_time, r.id) <= (bound.t, bound.id)
         ${after ? 'and (r.scheduled_start_time, r.id) > ($6::timestamptz, $7::uuid)' : ''}
         and r.scheduled_start_time < now() - make_interval(secs => $4::float8)
         and coalesce(r.end_time, r.updated_at) < now() - make_interval(secs => $4::float8)
       order by r.scheduled_start_time, r.id
       limit $5
       for update of r skip locked
     )
     delete from rota_flow_runs d using doomed where d.id = doomed.id
     returning d.id, doomed.scheduled_start_time as time`,
    [flowId, FINISHED, policy.keepLast, policy.maxAgeSeconds, limit, ...(after ? [after.time, after.id] : [])],
  )
  let last: PruneCursor | undefined
  for (const r of rows) {
    const time = new Date(r.time)
    if (!last || time > last.time || (time.getTime() === last.time.getTime() && r.id > last.id)) last = { time, id: r.id }
  }
  return { deleted: rows.length, last }
}

/**
 * Deletes firings older than `maxAgeSeconds`, keeping the newest `keep` of each automation (so an
 * automation's last firings stay visible, and a no-success breach stays known until its recovery).
 */
export async function pruneFirings(db: Queryable, maxAgeSeconds: number, keep: number, limit: number): Promise<number> {
  const rows = await db.query(
    `delete from rota_automation_firings where id in (
       select f.id from rota_automation_firings f
       where f.created_at < now() - make_interval(secs => $1::float8) and f.status <> 'pending'
         and f.id < (select coalesce(min(k.id), 9223372036854775807) from (
               select id from rota_automation_firings k where k.automation_id = f.automation_id order by id desc limit $2) k)
       limit $3)
     returning id`,
    [maxAgeSeconds, keep, limit],
  )
  return rows.length
}

/** The embedded database reclaims nothing by itself (PGlite runs no autovacuum): done after large deletes. */
export async function vacuumRunTables(db: Queryable): Promise<void> {
  await db.query('vacuum rota_flow_runs, rota_flow_run_states, rota_task_runs, rota_logs, rota_artifacts, rota_automation_firings')
}

export interface StorageRow {
  databaseBytes: number | null
  oldestRun: Date | null
  runs: number
}

/** The database's size on disk, the oldest run kept, and how many runs (exact up to 200,000, then the planner's estimate). */
export async function storageFacts(db: Queryable): Promise<StorageRow> {
  const [row] = await db.query<{ bytes: string | number | null; oldest: Date | null; estimate: number | null }>(
    `select pg_database_size(current_database()) as bytes,
            (select min(scheduled_start_time) from rota_flow_runs) as oldest,
            (select reltuples::float8 from pg_class where oid = 'rota_flow_runs'::regclass) as estimate`,
  )
  const estimate = Number(row?.estimate ?? -1)
  const runs =
    estimate > 200_000 ? Math.round(estimate) : Number((await db.query<{ n: string | number }>(`select count(*) as n from rota_flow_runs`))[0]?.n ?? 0)
  return { databaseBytes: row?.bytes === null || row?.bytes === undefined ? null : Number(row.bytes), oldestRun: row?.oldest ?? null, runs }
}
