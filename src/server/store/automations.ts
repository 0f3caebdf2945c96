/**
 * SQL for automations and their firings. A firing is claimed by insert-on-conflict on (automation,
 * dedupe key), in a transaction that holds the automation's row, so several servers evaluating the
 * same trigger fire once, and the minimum gap between firings is judged by one of them at a time.
 * Deliveries are leased (`lease_until`): a server that dies mid-delivery leaves it to another.
 */
import type { Db, Queryable } from '../db/index.ts'
import type { AutomationAction, AutomationTrigger } from '../../core/contract.ts'
import type { State } from '../../core/states.ts'
import { isUuid } from '../../core/ids.ts'

export interface AutomationRow {
  id: string
  name: string
  enabled: boolean
  trigger: AutomationTrigger
  /** As stored: header values in clear (the presenter redacts them). */
  action: AutomationAction
  minGapSeconds: number
  createdAt: Date
  updatedAt: Date
}

export type FiringKind = 'flow-run-state' | 'late' | 'no-success' | 'recovery' | 'consecutive-failures'
export type FiringStatus = 'pending' | 'delivered' | 'failed' | 'throttled'

export interface FiringRow {
  id: string | number
  automationId: string
  dedupeKey: string
  kind: FiringKind
  flowRunId: string | null
  flowRunName: string | null
  flowName: string | null
  state: string | null
  message: string
  payload: Record<string, unknown>
  status: FiringStatus
  attempts: number
  statusCode: number | null
  error: string | null
  createdAt: Date
  finishedAt: Date | null
}

const COLUMNS = `id, name, enabled, trigger, action, min_gap_seconds as "minGapSeconds", created_at as "createdAt", updated_at as "updatedAt"`
const FIRING_COLUMNS = `f.id, f.automation_id as "automationId", f.dedupe_key as "dedupeKey", f.kind, f.flow_run_id as "flowRunId",
  f.flow_run_name as "flowRunName", f.flow_name as "flowName", f.state, f.message, f.payload, f.status, f.attempts,
  f.status_code as "statusCode", f.error, f.created_at as "createdAt", f.finished_at as "finishedAt"`

export class DuplicateNameError extends Error {
  override name = 'DuplicateNameError'
}

export async function listAutomations(db: Queryable, options: { enabledOnly?: boolean } = {}): Promise<AutomationRow[]> {
  return db.query<AutomationRow>(`select ${COLUMNS} from rota_automations ${options.enabledOnly ? 'where enabled' : ''} order by name`)
}

export async function getAutomation(db: Queryable, idOrName: string): Promise<AutomationRow | undefined> {
  const byId = isUuid(idOrName)
  return (await db.query<AutomationRow>(`select ${COLUMNS} from rota_automations where ${byId ? 'id = $1::uuid' : 'name = $1'}`, [idOrName]))[0]
}

export interface AutomationFields {
  name: string
  trigger: AutomationTrigger
  action: AutomationAction
  enabled: boolean
  minGapSeconds: number
}

export async function insertAutomation(db: Queryable, a: AutomationFields): Promise<AutomationRow> {
  const rows = await db.query<AutomationRow>(
    `insert into rota_automations (name, trigger, action, enabled, min_gap_seconds) values ($1, $2::jsonb, $3::jsonb, $4, $5)
     on conflict (name) do nothing returning ${COLUMNS}`,
    [a.name, JSON.stringify(a.trigger), JSON.stringify(a.action), a.enabled, a.minGapSeconds],
  )
  if (!rows[0]) throw new DuplicateNameError(`an automation named "${a.name}" already exists`)
  return rows[0]
}

export async function updateAutomation(db: Queryable, id: string, a: AutomationFields): Promise<AutomationRow | undefined> {
  try {
    const rows = await db.query<AutomationRow>(
      `update rota_automations set name = $2, trigger = $3::jsonb, action = $4::jsonb, enabled = $5, min_gap_seconds = $6, updated_at = now()
       where id = $1 returning ${COLUMNS}`,
      [id, a.name, JSON.stringify(a.trigger), JSON.stringify(a.action), a.enabled, a.minGapSeconds],
    )
    return rows[0]
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new DuplicateNameError(`an automation named "${a.name}" already exists`)
    throw err
  }
}

/** Deletes an automation and its firing history. False when there was none. */
export async function deleteAutomation(db: Queryable, id: string): Promise<boolean> {
  return (await db.query(`delete from rota_automations where id = $1 returning id`, [id])).length > 0
}

/** The newest firing of each automation, by automation id. */
export async function lastFirings(db: Queryable, ids: readonly string[]): Promise<Map<string, FiringRow>> {
  if (ids.length === 0) return new Map()
  const rows = await db.query<FiringRow>(
    `select ${FIRING_COLUMNS} from unnest($1::uuid[]) as ids(id)
     cross join lateral (select * from rota_automation_firings x where x.automation_id = ids.id order by x.id desc limit 1) f`,
    [ids],
  )
  return new Map(rows.map((r) => [r.automationId, r]))
}

export async function listFirings(db: Queryable, automationId: string, limit: number): Promise<FiringRow[]> {
  return db.query<FiringRow>(`select ${FIRING_COLUMNS} from rota_automation_firings f where f.automation_id = $1 order by f.id desc limit $2`, [automationId, limit])
}

// --- claiming and delivering -----------------------------------------------------------------

export interface NewFiring {
  dedupeKey: string
  kind: FiringKind
  flowRunId: string | null
  flowRunName: string | null
  flowName: string | null
  state: string | null
  message: string
  payload: Record<string, unknown>
  /** Recoveries are delivered whatever the gap: they end an alarm that was delivered. */
  exemptFromGap?: boolean
}

/**
 * Claims a firing: none when this (automation, key) already fired (here or on another server) or
 * the automation is gone or disabled; status `throttled` when a firing was delivered or is being
 * delivered within its minimum gap.
 */
export async function claimFiring(db: Db, automationId: string, f: NewFiring): Promise<{ id: string; status: FiringStatus } | undefined> {
  return db.transaction(async (tx) => {
    const [a] = await tx.query<{ gap: number }>(`select min_gap_seconds as gap from rota_automations where id = $1 and enabled for update`, [automationId])
    if (!a) return undefined
    let status: FiringStatus = 'pending'
    if (a.gap > 0 && !f.exemptFromGap) {
      const recent = await tx.query(
        `select 1 from rota_automation_firings where automation_id = $1 and status <> 'throttled' and created_at > now() - make_interval(secs => $2::float8) limit 1`,
        [automationId, a.gap],
      )
      if (recent.length > 0) status = 'throttled'
    }
    const rows = await tx.query<{ id: string }>(
      `insert into rota_automation_firings (automation_id, dedupe_key, kind, flow_run_id, flow_run_name, flow_name, state, message, payload, status, finished_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, case when $10 = 'pending' then null else now() end)
       on conflict (automation_id, dedupe_key) do nothing returning id`,
      [automationId, f.dedupeKey, f.kind, f.flowRunId, f.flowRunName, f.flowName, f.state, f.message, JSON.stringify(f.payload), status],
    )
    return rows[0] ? { id: String(rows[0].id), status } : undefined
  })
}

/** A firing leased for delivery, with what its automation does now. */
export interface LeasedFiring {
  id: string
  automationId: string
  automationName: string
  action: AutomationAction
  kind: FiringKind
  flowName: string | null
  flowRunId: string | null
  payload: Record<string, unknown>
  /** This attempt's number (1 = the first). */
  attempts: number
}

/** Leases up to `limit` due deliveries for `leaseSeconds`; another server takes them over when the lease runs out. */
export async function leaseDeliveries(db: Queryable, limit: number, leaseSeconds: number): Promise<LeasedFiring[]> {
  return db.query<LeasedFiring>(
    `update rota_automation_firings f set lease_until = now() + make_interval(secs => $2::float8), attempts = f.attempts + 1
     from rota_automations a
     where f.id in (select id from rota_automation_firings
                    where status = 'pending' and next_attempt_at <= now() and (lease_until is null or lease_until < now())
                    order by next_attempt_at limit $1 for update skip locked)
       and a.id = f.automation_id
     returning f.id::text as id, f.automation_id as "automationId", a.name as "automationName", a.action, f.kind, f.flow_name as "flowName",
       f.flow_run_id as "flowRunId", f.payload, f.attempts`,
    [limit, leaseSeconds],
  )
}

/** Records an attempt: delivered, failed for good, or pending again at `retryAt`. */
export async function settleFiring(
  db: Queryable,
  id: string,
  outcome: { status: FiringStatus; statusCode: number | null; error: string | null; retryAt?: Date | undefined },
): Promise<void> {
  await db.query(
    `update rota_automation_firings set status = $2, status_code = $3, error = $4, lease_until = null,
       next_attempt_at = coalesce($5, next_attempt_at), finished_at = case when $2 = 'pending' then null else now() end
     where id = $1`,
    [id, outcome.status, outcome.statusCode, outcome.error, outcome.retryAt ?? null],
  )
}

// --- what triggers read ----------------------------------------------------------------------

/** A state a run took, from the state history (the log every transition writes). */
export interface Transition {
  historyId: number
  flowRunId: string
  flowRunName: string
  flowId: string
  flowName: string
  state: State
  message: string | null
  time: Date
}

/** The newest history line's id (where a new server starts reading). */
export async function newestTransitionId(db: Queryable): Promise<number> {
  return Number((await db.query<{ id: string | number | null }>(`select max(id) as id from rota_flow_run_states`))[0]?.id ?? 0)
}

/** Transitions into `states` after history id `after`, oldest first. */
export async function transitionsSince(db: Queryable, after: number, states: readonly State[], limit: number): Promise<Transition[]> {
  const rows = await db.query<Transition & { historyId: string | number }>(
    `select h.id as "historyId", h.flow_run_id as "flowRunId", r.name as "flowRunName", r.flow_id as "flowId", f.name as "flowName",
       h.to_state as state, coalesce(r.state_message, h.message) as message, h.time
     from rota_flow_run_states h join rota_flow_runs r on r.id = h.flow_run_id join rota_flows f on f.id = r.flow_id
     where h.id > $1 and h.to_state = any($2::text[])
     order by h.id limit $3`,
    [after, states, limit],
  )
  return rows.map((r) => ({ ...r, historyId: Number(r.historyId) }))
}

export interface RunBrief {
  id: string
  name: string
  flowName: string
  state: State
  message: string | null
  scheduledStartTime: Date
  endTime: Date | null
}

const BRIEF = `r.id, r.name, f.name as "flowName", r.state, r.state_message as message, r.scheduled_start_time as "scheduledStartTime", r.end_time as "endTime"`

/** Runs still scheduled `forSeconds` after their time (of one flow, or any). */
export async function lateRuns(db: Queryable, flowId: string | null, forSeconds: number, limit: number): Promise<RunBrief[]> {
  return db.query<RunBrief>(
    `select ${BRIEF} from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.scheduled_start_time < now() - make_interval(secs => $2::float8) ${flowId ? 'and r.flow_id = $1' : 'and $1::uuid is null'}
     order by r.scheduled_start_time limit $3`,
    [flowId, forSeconds, limit],
  )
}

/** The flow's newest successful run. */
export async function lastSuccess(db: Queryable, flowId: string): Promise<RunBrief | undefined> {
  return (
    await db.query<RunBrief>(
      `select ${BRIEF} from rota_flow_runs r join rota_flows f on f.id = r.flow_id
       where r.flow_id = $1 and r.state = 'success' order by r.scheduled_start_time desc, r.id desc limit 1`,
      [flowId],
    )
  )[0]
}

/**
 * The flow's failures (failed, crashed) since its last success, oldest first, at most `limit`:
 * skipped and cancelled runs neither count nor break the streak.
 */
export async function failuresSinceSuccess(db: Queryable, flowId: string, limit: number): Promise<RunBrief[]> {
  return db.query<RunBrief>(
    `with last_ok as (select scheduled_start_time as t, id from rota_flow_runs
                      where flow_id = $1 and state = 'success' order by scheduled_start_time desc, id desc limit 1)
     select ${BRIEF} from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.flow_id = $1 and r.state in ('failed', 'crashed')
       and not exists (select 1 from last_ok where (r.scheduled_start_time, r.id) <= (last_ok.t, last_ok.id))
     order by r.scheduled_start_time, r.id limit $2`,
    [flowId, limit],
  )
}

/** The automation's newest breach or recovery firing: which of the two the flow is in. */
export async function lastEpisodeFiring(db: Queryable, automationId: string): Promise<{ kind: FiringKind; dedupeKey: string } | undefined> {
  return (
    await db.query<{ kind: FiringKind; dedupeKey: string }>(
      `select kind, dedupe_key as "dedupeKey" from rota_automation_firings where automation_id = $1 and kind in ('no-success', 'recovery') order by id desc limit 1`,
      [automationId],
    )
  )[0]
}

/** When a flow was registered (a flow that never succeeded is judged from then). */
export async function flowIdsByName(db: Queryable, names: readonly string[]): Promise<Map<string, { id: string; createdAt: Date }>> {
  if (names.length === 0) return new Map()
  const rows = await db.query<{ id: string; name: string; createdAt: Date }>(`select id, name, created_at as "createdAt" from rota_flows where name = any($1::text[])`, [names])
  return new Map(rows.map((r) => [r.name, { id: r.id, createdAt: r.createdAt }]))
}
