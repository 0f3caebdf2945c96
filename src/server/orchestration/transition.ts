/**
 * The one place where flow-run and task-run states change. Each change locks the run row, asks the
 * policy (rules.ts), writes the state and its history, and publishes an event after commit.
 */
import type { Db, Queryable } from '../db/index.ts'
import type { EventBus } from '../events.ts'
import { getFlowRun, insertFlowRun, TASK_COLUMNS, type FlowRunRow, type TaskRunRow } from '../store/runs.ts'
import { decideFlowRunTransition, decideTaskRunTransition, type Proposal, type Verdict } from './rules.ts'
import { isTerminal, type State } from '../../core/states.ts'
import { runName } from '../../core/names.ts'

export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

export interface TransitionResult {
  verdict: Verdict & { rule?: string }
  run: FlowRunRow
}

interface LockedRun {
  id: string
  flowId: string
  state: State
  scheduledStartTime: Date
  agentId: string | null
  attempt: number
  parameters: Record<string, unknown>
  retries: number
  retryDelaySeconds: number
  version: string
}

async function lockRun(tx: Queryable, id: string): Promise<LockedRun | undefined> {
  const rows = await tx.query<LockedRun>(
    `select r.id, r.flow_id as "flowId", r.state, r.scheduled_start_time as "scheduledStartTime", r.agent_id as "agentId", r.attempt,
       r.parameters, f.retries, f.retry_delay_seconds as "retryDelaySeconds", f.version
     from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = $1 for update of r`,
    [id],
  )
  return rows[0]
}

export async function setFlowRunState(db: Db, bus: EventBus, flowRunId: string, proposal: Proposal): Promise<TransitionResult> {
  const outcome = await db.transaction(async (tx) => {
    const locked = await lockRun(tx, flowRunId)
    if (!locked) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    const verdict = decideFlowRunTransition(locked, proposal)
    let retryId: string | undefined
    if (verdict.status === 'accept') {
      await writeFlowRunState(tx, locked, verdict.state, verdict.message ?? null, proposal)
      retryId = await scheduleRetryIfAllowed(tx, locked, verdict.state)
    }
    return { verdict, retryId }
  })
  const run = await getFlowRun(db, flowRunId)
  if (!run) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
  if (outcome.verdict.status === 'accept') {
    bus.publish({ type: 'flow-run', flowRunId, flowId: run.flowId, state: run.state })
    if (outcome.retryId) bus.publish({ type: 'runs-available' })
  }
  return { verdict: outcome.verdict, run }
}

async function writeFlowRunState(tx: Queryable, run: LockedRun, to: State, message: string | null, proposal: Proposal): Promise<void> {
  await tx.query(
    `update rota_flow_runs set state = $2, state_message = $3, updated_at = now(),
       start_time = case when $2 = 'running' and start_time is null then now() else start_time end,
       end_time = case when $4 then now() else end_time end,
       heartbeat_at = case when $2 in ('pending', 'running') then now() else heartbeat_at end,
       agent_id = case when $2 = 'scheduled' then null else agent_id end
     where id = $1`,
    [run.id, to, message, isTerminal(to)],
  )
  await tx.query(`insert into rota_flow_run_states (flow_run_id, from_state, to_state, message) values ($1, $2, $3, $4)`, [
    run.id,
    run.state,
    to,
    message ?? (proposal.by.kind === 'agent' ? 'by agent' : `by ${proposal.by.kind}`),
  ])
}

/** A crashed (or failed) run of a flow that allows retries comes back as a new run; history stays intact. */
async function scheduleRetryIfAllowed(tx: Queryable, run: LockedRun, to: State): Promise<string | undefined> {
  if ((to !== 'crashed' && to !== 'failed') || run.attempt > run.retries) return undefined
  return insertFlowRun(tx, {
    flowId: run.flowId,
    name: runName(),
    parameters: run.parameters,
    scheduledStartTime: new Date(Date.now() + run.retryDelaySeconds * 1000),
    flowVersion: run.version,
    attempt: run.attempt + 1,
    retryOf: run.id,
  })
}

export interface ClaimedRunRow {
  id: string
  name: string
  flowName: string
  entrypoint: string
  scheduledStartTime: Date
}

/**
 * Claims up to `limit` due runs for an agent in one statement: FOR UPDATE SKIP LOCKED means two
 * agents never get the same run, and neither waits for the other. Runs due within `prefetchMs`
 * are claimed early so the agent can start them on the dot (the no-start-before-scheduled-time rule
 * keeps them from starting sooner). For catch-up 'latest' flows, a run that has a newer due sibling
 * is left for the scheduler to skip.
 */
export async function claimDueRuns(db: Db, bus: EventBus, agent: { id: string; labels: string[] }, limit: number, prefetchMs: number): Promise<ClaimedRunRow[]> {
  if (limit <= 0) return []
  const claimed = await db.transaction(async (tx) => {
    const rows = await tx.query<ClaimedRunRow & { flowId: string }>(
      `with due as (
         select r.id from rota_flow_runs r join rota_flows f on f.id = r.flow_id
         where r.state = 'scheduled' and r.scheduled_start_time <= now() + make_interval(secs => $3::float8 / 1000)
           and f.labels <@ $2::jsonb
           and not (f.catch_up = 'latest' and r.auto_scheduled and exists (
             select 1 from rota_flow_runs n where n.flow_id = r.flow_id and n.auto_scheduled and n.state = 'scheduled'
               and n.scheduled_start_time > r.scheduled_start_time and n.scheduled_start_time <= now()))
         order by r.scheduled_start_time, r.id
         limit $4
         for update of r skip locked
       )
       update rota_flow_runs r set state = 'pending', agent_id = $1, heartbeat_at = now(), updated_at = now(), state_message = null, flow_version = f.version
       from due, rota_flows f
       where r.id = due.id and f.id = r.flow_id and r.state = 'scheduled'
       returning r.id, r.name, f.name as "flowName", f.entrypoint, r.scheduled_start_time as "scheduledStartTime", r.flow_id as "flowId"`,
      [agent.id, JSON.stringify(agent.labels), prefetchMs, limit],
    )
    if (rows.length > 0) {
      await tx.query(
        `insert into rota_flow_run_states (flow_run_id, from_state, to_state, message)
         select id, 'scheduled', 'pending', $2 from unnest($1::uuid[]) as id`,
        [rows.map((r) => r.id), `claimed by agent ${agent.id}`],
      )
    }
    return rows
  })
  for (const r of claimed) bus.publish({ type: 'flow-run', flowRunId: r.id, flowId: r.flowId, state: 'pending' })
  return claimed.map(({ flowId: _flowId, ...r }) => r)
}

/** Runs whose agent went silent: crashed (or cancelled, if a cancel was pending). */
export async function markCrashedRuns(db: Db, bus: EventBus, silenceMs: number): Promise<string[]> {
  const stale = await db.query<{ id: string; state: State }>(
    `select id, state from rota_flow_runs
     where state in ('pending', 'running', 'cancelling') and coalesce(heartbeat_at, updated_at) < now() - make_interval(secs => $1::float8 / 1000)
     limit 500`,
    [silenceMs],
  )
  const crashed: string[] = []
  for (const run of stale) {
    const to: State = run.state === 'cancelling' ? 'cancelled' : 'crashed'
    const message =
      to === 'cancelled' ? 'cancelled: the agent stopped answering while cancelling' : `crashed: no heartbeat from its agent for ${Math.round(silenceMs / 1000)}s`
    const { verdict } = await setFlowRunState(db, bus, run.id, { state: to, message, by: { kind: 'server' } })
    if (verdict.status === 'accept') crashed.push(run.id)
  }
  return crashed
}

/** Overdue runs of catch-up 'latest' flows that have a newer due sibling: skipped with a reason. */
export async function skipMissedRuns(db: Db, bus: EventBus): Promise<number> {
  const missed = await db.query<{ id: string }>(
    `select r.id from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     where r.state = 'scheduled' and r.auto_scheduled and f.catch_up = 'latest' and r.scheduled_start_time < now()
       and exists (select 1 from rota_flow_runs n where n.flow_id = r.flow_id and n.auto_scheduled and n.state = 'scheduled'
                   and n.scheduled_start_time > r.scheduled_start_time and n.scheduled_start_time <= now())
     limit 1000`,
  )
  for (const { id } of missed) {
    await setFlowRunState(db, bus, id, {
      state: 'skipped',
      message: "missed: a newer run of this flow was already due (catch-up policy 'latest' runs only the newest missed run)",
      by: { kind: 'server' },
    })
  }
  return missed.length
}

// --- task runs -------------------------------------------------------------------------------

export interface TaskEventInput {
  taskRunId: string
  taskKey: string
  taskName: string
  position: number
  state: State
  message?: string | null | undefined
  attempts: number
  time: Date
}

/**
 * Applies a batch of task-run events from a flow's process. Events for one task arrive in order;
 * they are folded in memory and each task run is written once per batch (a batch of 80 events for
 * 40 tasks is 2 statements, not 80).
 */
export async function applyTaskEvents(
  db: Db,
  bus: EventBus,
  flowRunId: string,
  events: readonly TaskEventInput[],
): Promise<{ applied: number; rejected: { index: number; reason: string }[] }> {
  const rejected: { index: number; reason: string }[] = []
  const rows = await db.transaction(async (tx) => {
    const exists = await tx.query(`select 1 from rota_flow_runs where id = $1`, [flowRunId])
    if (exists.length === 0) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    const keys = [...new Set(events.map((e) => e.taskKey))]
    const current = await tx.query<TaskRunRow>(`select ${TASK_COLUMNS} from rota_task_runs where flow_run_id = $1 and task_key = any($2::text[]) for update`, [
      flowRunId,
      keys,
    ])
    const byKey = new Map<string, TaskRunRow>(current.map((t) => [t.taskKey, t]))
    const touched = new Set<string>()
    events.forEach((e, index) => {
      const prev = byKey.get(e.taskKey)
      const verdict = decideTaskRunTransition(prev?.state, e.state)
      if (verdict.status !== 'accept') {
        rejected.push({ index, reason: verdict.status === 'reject' ? verdict.reason : 'rejected' })
        return
      }
      byKey.set(e.taskKey, {
        id: prev?.id ?? e.taskRunId,
        flowRunId,
        taskKey: e.taskKey,
        taskName: e.taskName,
        position: prev?.position ?? e.position,
        state: e.state,
        message: e.message ?? null,
        attempts: Math.max(prev?.attempts ?? 0, e.attempts),
        startTime: prev?.startTime ?? (e.state === 'running' ? e.time : null),
        endTime: isTerminal(e.state) ? e.time : null,
      })
      touched.add(e.taskKey)
    })
    const changed = [...touched].map((k) => byKey.get(k) as TaskRunRow)
    if (changed.length > 0) {
      await tx.query(
        `insert into rota_task_runs (id, flow_run_id, task_key, task_name, position, state, message, attempts, start_time, end_time, updated_at)
         select x.id, $1, x.task_key, x.task_name, x.position, x.state, x.message, x.attempts, x.start_time, x.end_time, now()
         from jsonb_to_recordset($2::jsonb) as x(id uuid, task_key text, task_name text, position int, state text, message text, attempts int, start_time timestamptz, end_time timestamptz)
         on conflict (flow_run_id, task_key) do update set state = excluded.state, message = excluded.message, attempts = excluded.attempts,
           start_time = excluded.start_time, end_time = excluded.end_time, updated_at = now()`,
        [
          flowRunId,
          JSON.stringify(
            changed.map((t) => ({
              id: t.id,
              task_key: t.taskKey,
              task_name: t.taskName,
              position: t.position,
              state: t.state,
              message: t.message,
              attempts: t.attempts,
              start_time: t.startTime,
              end_time: t.endTime,
            })),
          ),
        ],
      )
    }
    return changed
  })
  bus.publishBatch(
    rows.map((t) => ({ type: 'task-run' as const, flowRunId, taskRun: t })),
    { type: 'task-run', flowRunId, taskRun: undefined },
  )
  return { applied: events.length - rejected.length, rejected }
}
