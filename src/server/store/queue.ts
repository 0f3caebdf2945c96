/**
 * SQL for the run queue: which runs are due and claimable, which a given agent holds or was handed,
 * which went silent (the reaper's crash sweep) and which were missed (its catch-up sweep).
 * Claiming is two statements in one transaction: lock the due runs (FOR UPDATE SKIP LOCKED, so two
 * agents never get the same run and neither waits for the other), then, for those the policy
 * accepts, write `pending` (guarded: only runs still scheduled).
 */
import type { Queryable } from '../db/index.ts'
import type { State } from '../../core/states.ts'
import type { Isolation } from '../../core/isolation.ts'
import type { LockedRun } from './runs.ts'

/** A run handed to an agent: what it needs to start it. */
export interface ClaimedRunRow {
  id: string
  name: string
  flowName: string
  entrypoint: string
  scheduledStartTime: Date
  /** The version of the flow the run executes (set when claimed). */
  flowVersion: string
  /** The flow's choice of isolation; null: the agent decides. */
  isolation: Isolation | null
}

/**
 * Locks up to `limit` runs an agent with `labels` may claim: scheduled, due within `prefetchMs`,
 * oldest first. For catch-up 'latest' flows, a run that has a newer due sibling is left for the
 * reaper to skip.
 */
export async function lockClaimableRuns(tx: Queryable, labels: readonly string[], limit: number, prefetchMs: number): Promise<LockedRun[]> {
  return tx.query<LockedRun>(
    `select r.id, r.flow_id as "flowId", r.state, r.scheduled_start_time as "scheduledStartTime", r.agent_id as "agentId", r.attempt,
       r.parameters, f.retries, f.retry_delay_seconds as "retryDelaySeconds", f.version
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.scheduled_start_time <= now() + make_interval(secs => $2::float8 / 1000)
       and f.labels <@ $1::jsonb
       and not (f.catch_up = 'latest' and r.auto_scheduled and exists (
         select 1 from rota_flow_runs n where n.flow_id = r.flow_id and n.auto_scheduled and n.state = 'scheduled'
           and n.scheduled_start_time > r.scheduled_start_time and n.scheduled_start_time <= now()))
     order by r.scheduled_start_time, r.id
     limit $3
     for update of r skip locked`,
    [JSON.stringify(labels), prefetchMs, limit],
  )
}

/** Writes `pending` for the agent on runs locked by `lockClaimableRuns`; returns what the agent needs. */
export async function markClaimed(tx: Queryable, ids: readonly string[], agentId: string): Promise<(ClaimedRunRow & { flowId: string })[]> {
  if (ids.length === 0) return []
  return tx.query<ClaimedRunRow & { flowId: string }>(
    `update rota_flow_runs r set state = 'pending', agent_id = $2, heartbeat_at = now(), updated_at = now(), state_message = null, flow_version = f.version
     from rota_flows f
     where r.id = any($1::uuid[]) and f.id = r.flow_id and r.state = 'scheduled'
     returning r.id, r.name, f.name as "flowName", f.entrypoint, r.scheduled_start_time as "scheduledStartTime", r.flow_id as "flowId",
       f.version as "flowVersion", f.isolation`,
    [ids, agentId],
  )
}

/** The states of the runs an agent says it holds (runs the server no longer knows are absent). */
export async function runStates(db: Queryable, ids: readonly string[]): Promise<{ id: string; state: State }[]> {
  if (ids.length === 0) return []
  return db.query<{ id: string; state: State }>(`select id, state from rota_flow_runs where id = any($1::uuid[])`, [ids])
}

/** Runs claimed for this agent that it does not hold: the answer that carried them was lost. */
export async function undeliveredRuns(db: Queryable, agentId: string, held: readonly string[]): Promise<ClaimedRunRow[]> {
  return db.query<ClaimedRunRow>(
    `select r.id, r.name, f.name as "flowName", f.entrypoint, r.scheduled_start_time as "scheduledStartTime", r.flow_version as "flowVersion", f.isolation
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.agent_id = $1 and r.state = 'pending' and not (r.id = any($2::uuid[]))`,
    [agentId, held],
  )
}

/** Runs claimed for this agent that it never started. */
export async function pendingRunsOfAgent(db: Queryable, agentId: string): Promise<string[]> {
  return (await db.query<{ id: string }>(`select id from rota_flow_runs where agent_id = $1 and state = 'pending'`, [agentId])).map((r) => r.id)
}

/** When the next scheduled run is due (any flow), to know how long a long-poll may sleep. */
export async function nextScheduledTime(db: Queryable): Promise<Date | null> {
  const rows = await db.query<{ t: Date | null }>(`select min(scheduled_start_time) as t from rota_flow_runs where state = 'scheduled'`)
  return rows[0]?.t ? new Date(rows[0].t) : null
}

/** Runs some process should be executing, whose agent has been silent for `silenceMs`. */
export async function silentRuns(db: Queryable, silenceMs: number, limit = 500): Promise<{ id: string; state: State }[]> {
  return db.query<{ id: string; state: State }>(
    `select id, state from rota_flow_runs
     where state in ('pending', 'running', 'cancelling') and coalesce(heartbeat_at, updated_at) < now() - make_interval(secs => $1::float8 / 1000)
     limit $2`,
    [silenceMs, limit],
  )
}

/** Overdue runs of catch-up 'latest' flows that have a newer due sibling. */
export async function missedRuns(db: Queryable, limit = 1000): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `select r.id from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.auto_scheduled and f.catch_up = 'latest' and r.scheduled_start_time < now()
       and exists (select 1 from rota_flow_runs n where n.flow_id = r.flow_id and n.auto_scheduled and n.state = 'scheduled'
                   and n.scheduled_start_time > r.scheduled_start_time and n.scheduled_start_time <= now())
     limit $1`,
    [limit],
  )
  return rows.map((r) => r.id)
}
