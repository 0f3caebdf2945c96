/**
 * SQL for flow runs: reads, inserts, state writes and their history. Which state a run may take is
 * decided by the policy (orchestration/rules.ts); these functions only read and write what they are
 * told, each write guarded by the state it expects where a race could matter.
 */
import type { Queryable } from '../db/index.ts'
import type { State } from '../../core/states.ts'
import { isUuid, UUID } from '../../core/ids.ts'
import type { ParameterSpec } from '../../core/parameters.ts'

/** A scheduled run this long past its time without starting is flagged late. */
export const LATE_AFTER_MS = 15_000

/** A flow run as stored, with what its presentation needs (the flow's parameter specs for defaults and secrets). */
export interface FlowRunRow {
  id: string
  name: string
  flowId: string
  flowName: string
  state: State
  stateMessage: string | null
  /** The values given for this run (not the effective ones: the presenter adds the defaults). */
  overrides: Record<string, unknown>
  /** The flow's parameters: types, defaults, which are secret. */
  specs: ParameterSpec[]
  /** The flow's labels: only agents with all of them run it (why a late run waits). */
  flowLabels: string[]
  scheduledStartTime: Date
  startTime: Date | null
  endTime: Date | null
  late: boolean
  durationMs: number | null
  agentId: string | null
  attempt: number
  retryOf: string | null
  autoScheduled: boolean
  createdAt: Date
  updatedAt: Date
  /** The flow's, for a run's execution details. */
  entrypoint: string
  priority: number
  parentRunId: string | null
  backfillId: string | null
}

const RUN_COLUMNS = `r.id, r.name, r.flow_id as "flowId", f.name as "flowName", r.state, r.state_message as "stateMessage",
  r.parameters as overrides, f.parameters as specs, f.labels as "flowLabels", r.scheduled_start_time as "scheduledStartTime", r.start_time as "startTime",
  r.end_time as "endTime", (r.state = 'scheduled' and r.scheduled_start_time < now() - make_interval(secs => ${LATE_AFTER_MS / 1000})) as late,
  (extract(epoch from (coalesce(r.end_time, case when r.start_time is not null then now() end) - r.start_time)) * 1000)::float8 as "durationMs",
  r.agent_id as "agentId", r.attempt, r.retry_of as "retryOf", r.auto_scheduled as "autoScheduled", r.created_at as "createdAt", r.updated_at as "updatedAt",
  r.priority, r.parent_run_id as "parentRunId", r.backfill_id as "backfillId", f.entrypoint`

const FROM_RUNS = `rota_flow_runs r join rota_flows f on f.id = r.flow_id`

export async function getFlowRun(db: Queryable, id: string): Promise<FlowRunRow | undefined> {
  return (await db.query<FlowRunRow>(`select ${RUN_COLUMNS} from ${FROM_RUNS} where r.id = $1`, [id]))[0]
}

export interface RunFilter {
  flowIds?: readonly string[] | undefined
  states?: readonly State[] | undefined
  late?: boolean | undefined
  /** Runs whose name contains this text (case-insensitive); a run id finds that run. */
  search?: string | undefined
  /** upcoming: scheduled and not yet due; past: every other run. */
  when?: 'past' | 'upcoming' | undefined
  /** Only runs scheduled before / after this instant. */
  before?: Date | undefined
  after?: Date | undefined
  limit: number
  cursor?: { time: Date; id: string } | undefined
  order?: 'desc' | 'asc'
  /** Only the child runs of this run. */
  parentRunId?: string | undefined
}

/** Keyset paging on (scheduled_start_time, id): constant time per page at any depth. */
export async function listFlowRuns(db: Queryable, filter: RunFilter): Promise<{ items: FlowRunRow[]; nextCursor: string | null }> {
  const where: string[] = []
  const values: unknown[] = []
  const add = (clause: (n: string) => string, value: unknown) => {
    values.push(value)
    where.push(clause(`$${values.length}`))
  }
  const desc = (filter.order ?? 'desc') === 'desc'
  if (filter.flowIds?.length) add((n) => `r.flow_id = any(${n}::uuid[])`, filter.flowIds)
  if (filter.parentRunId) add((n) => `r.parent_run_id = ${n}`, filter.parentRunId)
  if (filter.states?.length) add((n) => `r.state = any(${n}::text[])`, filter.states)
  if (filter.search) {
    const text = filter.search.trim()
    if (UUID.test(text)) add((n) => `r.id = ${n}::uuid`, text)
    else add((n) => `r.name ilike ${n}`, `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
  }
  // Upcoming runs are the due-index's (partial on state = 'scheduled'); past runs walk the list index from the newest.
  if (filter.when === 'upcoming') where.push(`(r.state = 'scheduled' and r.scheduled_start_time > now())`)
  if (filter.when === 'past') where.push(`(r.state <> 'scheduled' or r.scheduled_start_time <= now())`)
  if (filter.before) add((n) => `r.scheduled_start_time < ${n}`, filter.before)
  if (filter.after) add((n) => `r.scheduled_start_time > ${n}`, filter.after)
  if (filter.late !== undefined) {
    where.push(`(r.state = 'scheduled' and r.scheduled_start_time < now() - make_interval(secs => ${LATE_AFTER_MS / 1000})) = ${filter.late ? 'true' : 'false'}`)
  }
  if (filter.cursor) {
    values.push(filter.cursor.time, filter.cursor.id)
    where.push(`(r.scheduled_start_time, r.id) ${desc ? '<' : '>'} ($${values.length - 1}, $${values.length}::uuid)`)
  }
  values.push(filter.limit + 1)
  const dir = desc ? 'desc' : 'asc'
  const rows = await db.query<FlowRunRow>(
    `select ${RUN_COLUMNS} from ${FROM_RUNS}
     ${where.length ? `where ${where.join(' and ')}` : ''}
     order by r.scheduled_start_time ${dir}, r.id ${dir} limit $${values.length}`,
    values,
  )
  const items = rows.slice(0, filter.limit)
  const last = items.at(-1)
  const nextCursor = rows.length > filter.limit && last ? encodeCursor(last.scheduledStartTime, last.id) : null
  return { items, nextCursor }
}

/** The newest run of each flow that is due by now (the "last run" of the flows list), by flow id. */
export async function lastRunsOfFlows(db: Queryable, flowIds: readonly string[]): Promise<Map<string, FlowRunRow>> {
  if (flowIds.length === 0) return new Map()
  const rows = await db.query<FlowRunRow>(
    `select ${RUN_COLUMNS} from unnest($1::uuid[]) as ids(flow_id)
     cross join lateral (select id from rota_flow_runs x where x.flow_id = ids.flow_id and x.scheduled_start_time <= now()
                         order by x.scheduled_start_time desc, x.id desc limit 1) last
     join rota_flow_runs r on r.id = last.id join rota_flows f on f.id = r.flow_id`,
    [flowIds],
  )
  return new Map(rows.map((r) => [r.flowId, r]))
}

export function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${new Date(time).toISOString()}|${id}`).toString('base64url')
}

export function decodeCursor(cursor: string): { time: Date; id: string } | undefined {
  const [t, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!t || !id || Number.isNaN(Date.parse(t)) || !isUuid(id)) return undefined
  return { time: new Date(t), id }
}

export async function runStats(db: Queryable, hours: number): Promise<{ start: Date; counts: Record<string, number> }[]> {
  const rows = await db.query<{ start: Date; state: string; n: number }>(
    `select date_trunc('hour', scheduled_start_time) as start, state, count(*)::int as n from rota_flow_runs
     where scheduled_start_time > now() - make_interval(hours => $1) and scheduled_start_time <= now()
     group by 1, 2 order by 1`,
    [hours],
  )
  const buckets = new Map<number, { start: Date; counts: Record<string, number> }>()
  const first = Math.floor(Date.now() / 3_600_000) * 3_600_000 - (hours - 1) * 3_600_000
  for (let i = 0; i < hours; i++) buckets.set(first + i * 3_600_000, { start: new Date(first + i * 3_600_000), counts: {} })
  for (const r of rows) {
    const b = buckets.get(new Date(r.start).getTime())
    if (b) b.counts[r.state] = r.n
  }
  return [...buckets.values()]
}

/** A run with its flow's tasks (declared, or learned from its runs): what its execution details need. */
export type ExecutionRow = FlowRunRow & { flowTasks: string[] }

/** The flow's tasks as its runs' execution details name them (flows.ts flowTasks, in SQL). */
const FLOW_TASKS = `(case when jsonb_array_length(f.tasks) > 0 then f.tasks else f.seen_tasks end) as "flowTasks"`

/** What a run's process needs: the run (its values, the flow's parameter specs), the flow's entrypoint and tasks; one query. */
export async function getExecution(db: Queryable, id: string): Promise<ExecutionRow | undefined> {
  return (await db.query<ExecutionRow>(`select ${RUN_COLUMNS}, ${FLOW_TASKS} from ${FROM_RUNS} where r.id = $1`, [id]))[0]
}

// --- creating runs ---------------------------------------------------------------------------

export interface NewFlowRun {
  flowId: string
  name: string
  parameters: Record<string, unknown>
  scheduledStartTime: Date
  flowVersion: string
  attempt?: number
  retryOf?: string | null
  /** The first line of its history. */
  message: string
  priority?: number
  backfillId?: string | null
  parentRunId?: string | null
  /** Chosen by the caller (a child run: a resent request finds it); default a new one. */
  id?: string
}

/** One run, in state scheduled, with the first line of its history. */
export async function insertFlowRun(tx: Queryable, run: NewFlowRun): Promise<string> {
  return (await insertFlowRunRow(tx, run)).id
}

/** The same, returning the new run: one statement (atomic by itself, so it needs no transaction). */
export async function insertFlowRunRow(db: Queryable, run: NewFlowRun): Promise<FlowRunRow> {
  const rows = await db.query<FlowRunRow>(
    `with r as (
       insert into rota_flow_runs (id, flow_id, name, state, parameters, scheduled_start_time, flow_version, attempt, retry_of, priority, backfill_id, parent_run_id)
       values (coalesce($1::uuid, gen_random_uuid()), $2, $3, 'scheduled', $4::jsonb, $5, $6, $7, $8, $9, $10, $11) returning *
     ), history as (
       insert into rota_flow_run_states (flow_run_id, from_state, to_state, message) select id, null, 'scheduled', $12 from r
     )
     select ${RUN_COLUMNS} from r join rota_flows f on f.id = r.flow_id`,
    [
      run.id ?? null,
      run.flowId,
      run.name,
      JSON.stringify(run.parameters),
      run.scheduledStartTime,
      run.flowVersion,
      run.attempt ?? 1,
      run.retryOf ?? null,
      run.priority ?? 0,
      run.backfillId ?? null,
      run.parentRunId ?? null,
      run.message,
    ],
  )
  return rows[0] as FlowRunRow
}

/**
 * The scheduler's runs of one flow, one per fire time: insert-on-conflict on (flow, time) among
 * scheduler-made runs, so replicas and restarts never make one twice. Returns the new ones' ids.
 */
export async function insertScheduledRuns(tx: Queryable, flow: { id: string; version: string }, runs: readonly { time: Date; name: string }[]): Promise<string[]> {
  if (runs.length === 0) return []
  const inserted = await tx.query<{ id: string }>(
    `insert into rota_flow_runs (flow_id, name, state, parameters, scheduled_start_time, auto_scheduled, flow_version)
     select $1, x.name, 'scheduled', '{}'::jsonb, x.t, true, $2
     from unnest($3::timestamptz[], $4::text[]) as x(t, name)
     on conflict (flow_id, scheduled_start_time) where auto_scheduled do nothing
     returning id`,
    [flow.id, flow.version, runs.map((r) => r.time), runs.map((r) => r.name)],
  )
  const ids = inserted.map((r) => r.id)
  await insertStateHistory(tx, ids, null, 'scheduled', 'scheduled by the scheduler')
  return ids
}

/** Removes the scheduler's upcoming runs of a flow that nobody claimed (pause; a new schedule); returns their ids. */
export async function deleteScheduledRuns(tx: Queryable, flowId: string, options: { futureOnly: boolean }): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(
    `delete from rota_flow_runs where flow_id = $1 and auto_scheduled and state = 'scheduled'${options.futureOnly ? ' and scheduled_start_time > now()' : ''} returning id`,
    [flowId],
  )
  return rows.map((r) => r.id)
}

// --- state changes ---------------------------------------------------------------------------

/** The one place a state-history line is written: the same message for every run in `ids`. */
export async function insertStateHistory(tx: Queryable, ids: readonly string[], from: State | null, to: State, message: string): Promise<void> {
  if (ids.length === 0) return
  await tx.query(
    `insert into rota_flow_run_states (flow_run_id, from_state, to_state, message) select id, $2, $3, $4 from unnest($1::uuid[]) as id`,
    [ids, from, to, message],
  )
}

export async function listStateHistory(db: Queryable, flowRunId: string): Promise<{ fromState: string | null; toState: string; message: string | null; time: Date }[]> {
  return db.query(`select from_state as "fromState", to_state as "toState", message, time from rota_flow_run_states where flow_run_id = $1 order by id`, [flowRunId])
}

/** A run locked for a state change, with what the policy needs to decide. */
export interface LockedRun {
  id: string
  flowId: string
  state: State
  scheduledStartTime: Date
  agentId: string | null
  attempt: number
  parameters: Record<string, unknown>
  /** The flow's: how many times a crashed or failed run comes back, and after how long. */
  retries: number
  retryDelaySeconds: number
  version: string
  name: string
  priority: number
  parentRunId: string | null
  backfillId: string | null
  /** The pool whose slot the run holds while active (its flow's, when it was claimed). */
  pool: string | null
  /** Its flow has a maxActiveRuns: its end may let a waiting run start. */
  limited: boolean
  /** Child runs that have not ended. */
  openChildren: number
  flowName: string
}

export const LOCKED_COLUMNS = `r.id, r.flow_id as "flowId", r.state, r.scheduled_start_time as "scheduledStartTime", r.agent_id as "agentId", r.attempt,
  r.parameters, f.retries, f.retry_delay_seconds as "retryDelaySeconds", f.version, r.name, r.priority, r.parent_run_id as "parentRunId",
  r.backfill_id as "backfillId", r.pool, (f.max_active_runs is not null) as limited, f.name as "flowName"`

const OPEN_CHILDREN = `(select count(*)::int from rota_flow_runs c where c.parent_run_id = r.id
  and c.state not in ('success', 'failed', 'skipped', 'cancelled', 'crashed')) as "openChildren"`

/**
 * Locks one run (FOR UPDATE) until the transaction ends, with what the policy needs and the run as
 * it is (the answer when nothing changes, without reading it again).
 */
export async function lockRun(tx: Queryable, id: string): Promise<(LockedRun & FlowRunRow) | undefined> {
  return (await tx.query<LockedRun & FlowRunRow>(`select ${RUN_COLUMNS}, ${LOCKED_COLUMNS}, ${OPEN_CHILDREN} from ${FROM_RUNS} where r.id = $1 for update of r`, [id]))[0]
}

/**
 * Writes a state the policy accepted, with its history line, in one statement; returns the run as
 * it now is, with its flow's tasks (for the execution details a starting run gets with its answer).
 * Times and the agent follow the state.
 */
export async function writeRunState(
  tx: Queryable,
  run: { id: string; state: State },
  to: State,
  message: string | null,
  historyMessage: string,
  terminal: boolean,
): Promise<ExecutionRow> {
  const rows = await tx.query<ExecutionRow>(
    `with r as (
       update rota_flow_runs set state = $2, state_message = $3, updated_at = now(),
         start_time = case when $2 = 'running' and start_time is null then now() else start_time end,
         end_time = case when $4 then now() else end_time end,
         heartbeat_at = case when $2 in ('pending', 'running') then now() else heartbeat_at end,
         agent_id = case when $2 = 'scheduled' then null else agent_id end,
         -- a run back in the queue is no one's: the token of the agent that held it no longer acts for it
         token_hash = case when $2 = 'scheduled' then null else token_hash end
       where id = $1 returning *
     ), history as (
       insert into rota_flow_run_states (flow_run_id, from_state, to_state, message) select id, $5, $2, $6 from r
     )
     select ${RUN_COLUMNS}, ${FLOW_TASKS} from r join rota_flows f on f.id = r.flow_id`,
    [run.id, to, message, terminal, run.state, historyMessage],
  )
  return rows[0] as ExecutionRow
}

/** The child runs of a run that have not ended. */
export async function listOpenChildren(tx: Queryable, parentRunId: string): Promise<string[]> {
  const rows = await tx.query<{ id: string }>(
    `select id from rota_flow_runs where parent_run_id = $1 and state not in ('success', 'failed', 'skipped', 'cancelled', 'crashed') order by created_at, id`,
    [parentRunId],
  )
  return rows.map((r) => r.id)
}

/** Keeps what the flow function returned (JSON text, already checked for size). */
export async function writeRunResult(tx: Queryable, id: string, json: string): Promise<void> {
  await tx.query(`update rota_flow_runs set result = $2::jsonb where id = $1`, [id, json])
}

export async function getRunResult(db: Queryable, id: string): Promise<{ state: State; result: unknown } | undefined> {
  return (await db.query<{ state: State; result: unknown }>(`select state, result from rota_flow_runs where id = $1`, [id]))[0]
}

export async function runExists(db: Queryable, id: string): Promise<boolean> {
  return (await db.query(`select 1 from rota_flow_runs where id = $1`, [id])).length > 0
}

/**
 * The state of a run whose task runs are about to change, locked against the run ending meanwhile
 * (FOR KEY SHARE waits for the FOR UPDATE of a state change, not for heartbeats); undefined if none.
 */
export async function lockRunForTaskEvents(tx: Queryable, id: string): Promise<State | undefined> {
  return (await tx.query<{ state: State }>(`select state from rota_flow_runs where id = $1 for key share`, [id]))[0]?.state
}

/**
 * Learns a flow's tasks from a run that ended: the task names it called, in the order it called
 * them. A successful run's list replaces the flow's; another run's adds the names not yet known.
 */
export async function recordSeenTasks(tx: Queryable, flowId: string, flowRunId: string, replace: boolean): Promise<void> {
  const called = `select task_name as name, min(position) as pos from rota_task_runs where flow_run_id = $2 group by task_name`
  await tx.query(
    replace
      ? `update rota_flows f set seen_tasks = (select coalesce(jsonb_agg(t.name order by t.pos), '[]'::jsonb) from (${called}) t)
         where f.id = $1 and exists (select 1 from rota_task_runs where flow_run_id = $2)`
      : `update rota_flows f set seen_tasks = f.seen_tasks || (select coalesce(jsonb_agg(t.name order by t.pos), '[]'::jsonb) from (${called}) t
           where not (f.seen_tasks @> jsonb_build_array(t.name)))
         where f.id = $1`,
    [flowId, flowRunId],
  )
}
