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
import type { Overlap } from '../../core/flow-control.ts'
import { LOCKED_COLUMNS, type LockedRun } from './runs.ts'
import { ACTIVE } from './pools.ts'

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

/** A due run an agent may claim, with what its limits need: its flow's maxActiveRuns and overlap, its flow's pool. */
export interface ClaimCandidate extends LockedRun {
  flowName: string
  maxActiveRuns: number | null
  overlap: Overlap
  flowPool: string | null
}

const CANDIDATE_COLUMNS = `${LOCKED_COLUMNS}, 0 as "openChildren", f.name as "flowName", f.max_active_runs as "maxActiveRuns", f.overlap, f.pool as "flowPool"`

/** Slots of a pool (`expr`) held now, by whole runs and by tasks. */
const POOL_HELD = (expr: string) =>
  `((select count(*) from rota_flow_runs a where a.pool = ${expr} and a.state in ${ACTIVE})
    + (select count(*) from rota_pool_slots s join rota_flow_runs a on a.id = s.flow_run_id where s.pool = ${expr} and s.state = 'held' and a.state in ${ACTIVE}))`

/**
 * A run that cannot start now whatever the claim decides: its flow is at its maxActiveRuns and
 * queues (or cancels, and enough of its runs are already being cancelled), its flow's pool is full,
 * or its backfill is at its maxActive. Read without locks: the claim
 * leaves such runs alone (so they never take an agent's slot in the batch) and decides the others
 * under locks (orchestration/limits.ts).
 */
const FLOW_ACTIVE = (states: string) => `(select count(*) from rota_flow_runs a where a.flow_id = r.flow_id and a.parent_run_id is null and a.state in ${states})`
const BLOCKED = `(
  (f.max_active_runs is not null and (f.overlap = 'queue' or r.backfill_id is not null)
    and ${FLOW_ACTIVE(ACTIVE)} >= f.max_active_runs)
  -- cancel-running whose cancellations are already under way: it waits for them to end
  or (f.max_active_runs is not null and f.overlap = 'cancel-running' and r.backfill_id is null
    and ${FLOW_ACTIVE(`('cancelling')`)} >= ${FLOW_ACTIVE(ACTIVE)} - f.max_active_runs + 1
    and ${FLOW_ACTIVE(ACTIVE)} >= f.max_active_runs)
  or (f.pool is not null and ${POOL_HELD('f.pool')} >= coalesce((select p.slots from rota_pools p where p.name = f.pool), 1))
  or (r.backfill_id is not null and (select count(*) from rota_flow_runs a where a.backfill_id = r.backfill_id and a.state in ${ACTIVE})
        >= coalesce((select b.max_active from rota_backfills b where b.id = r.backfill_id), ${2 ** 31 - 1})))`

/** Overdue runs of catch-up 'latest' flows that have a newer due sibling: the reaper skips them. */
const SUPERSEDED = `(f.catch_up = 'latest' and r.auto_scheduled and exists (
  select 1 from rota_flow_runs n where n.flow_id = r.flow_id and n.auto_scheduled and n.state = 'scheduled'
    and n.scheduled_start_time > r.scheduled_start_time and n.scheduled_start_time <= now()))`

/**
 * Locks up to `limit` runs an agent with `labels` may claim: scheduled, due within `prefetchMs`,
 * highest priority first, then oldest. For catch-up 'latest' flows, a run that has a newer due
 * sibling is left for the reaper to skip; runs blocked by a limit are left waiting. Child runs are
 * never claimed: they run inside their parent's process.
 */
export async function lockClaimableRuns(tx: Queryable, labels: readonly string[], limit: number, prefetchMs: number): Promise<ClaimCandidate[]> {
  return tx.query<ClaimCandidate>(
    `select ${CANDIDATE_COLUMNS}
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.parent_run_id is null and r.scheduled_start_time <= now() + make_interval(secs => $2::float8 / 1000)
       and f.labels <@ $1::jsonb
       and not ${SUPERSEDED}
       and not ${BLOCKED}
     order by r.priority desc, r.scheduled_start_time, r.id
     limit $3
     for update of r skip locked`,
    [JSON.stringify(labels), prefetchMs, limit],
  )
}

/** Due runs that wait behind a limit (for the reaper to say why), in claim order; no locks. */
export async function blockedRuns(db: Queryable, limit = 200): Promise<(ClaimCandidate & { stateMessage: string | null })[]> {
  return db.query<ClaimCandidate & { stateMessage: string | null }>(
    `select ${CANDIDATE_COLUMNS}, r.state_message as "stateMessage"
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.parent_run_id is null and r.scheduled_start_time <= now()
       and (f.max_active_runs is not null or f.pool is not null or r.backfill_id is not null)
       and not ${SUPERSEDED}
     order by r.priority desc, r.scheduled_start_time, r.id
     limit $1`,
    [limit],
  )
}

/** Writes why scheduled runs wait (a message starting with "waiting"), or clears such a message; returns the runs changed. */
export async function noteWaiting(tx: Queryable, notes: readonly { id: string; message: string | null }[]): Promise<{ id: string; flowId: string }[]> {
  if (notes.length === 0) return []
  return tx.query<{ id: string; flowId: string }>(
    `update rota_flow_runs r set state_message = x.message, updated_at = now()
     from unnest($1::uuid[], $2::text[]) as x(id, message)
     where r.id = x.id and r.state = 'scheduled' and r.state_message is distinct from x.message
       and (x.message is not null or r.state_message like 'waiting%')
     returning r.id, r.flow_id as "flowId"`,
    [notes.map((n) => n.id), notes.map((n) => n.message)],
  )
}

/** The runs of these flows that hold a slot of their flow (child runs hold their parent's), oldest first. */
export async function activeRunsOfFlows(db: Queryable, flowIds: readonly string[]): Promise<{ flowId: string; id: string; name: string; state: State }[]> {
  if (flowIds.length === 0) return []
  return db.query(
    `select flow_id as "flowId", id, name, state from rota_flow_runs
     where flow_id = any($1::uuid[]) and parent_run_id is null and state in ${ACTIVE}
     order by coalesce(start_time, scheduled_start_time), id`,
    [flowIds],
  )
}

/** Each backfill's maxActive and its active runs. */
export async function backfillLimits(db: Queryable, ids: readonly string[]): Promise<{ backfillId: string; maxActive: number | null; id: string | null; name: string | null; state: State | null }[]> {
  if (ids.length === 0) return []
  return db.query(
    `select b.id as "backfillId", b.max_active as "maxActive", r.id, r.name, r.state
     from rota_backfills b left join rota_flow_runs r on r.backfill_id = b.id and r.state in ${ACTIVE}
     where b.id = any($1::uuid[])
     order by r.start_time nulls last, r.id`,
    [ids],
  )
}

/** Writes `pending` for the agent on runs locked by `lockClaimableRuns`; returns what the agent needs. */
export async function markClaimed(tx: Queryable, ids: readonly string[], agentId: string): Promise<(ClaimedRunRow & { flowId: string })[]> {
  if (ids.length === 0) return []
  // The run takes a slot of its flow's pool (if any) with the claim: it holds it while active.
  return tx.query<ClaimedRunRow & { flowId: string }>(
    `update rota_flow_runs r set state = 'pending', agent_id = $2, heartbeat_at = now(), updated_at = now(), state_message = null, flow_version = f.version,
       pool = f.pool
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

/**
 * Runs some process should be executing, whose agent has been silent for `silenceMs`. Child runs
 * are not judged here: they live in their parent's process and end with it (children-follow-their-parent).
 */
export async function silentRuns(db: Queryable, silenceMs: number, limit = 500): Promise<{ id: string; state: State }[]> {
  return db.query<{ id: string; state: State }>(
    `select id, state from rota_flow_runs
     where state in ('pending', 'running', 'cancelling') and parent_run_id is null
       and coalesce(heartbeat_at, updated_at) < now() - make_interval(secs => $1::float8 / 1000)
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
