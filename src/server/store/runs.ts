/** SQL for flow runs, task runs, logs and artifacts (reads and plain inserts; state changes live in orchestration/). */
import type { Queryable } from '../db/index.ts'
import type { State } from '../orchestration/states.ts'
import { redactParameters, resolveParameters, type ParameterSpec } from '../../sdk/parameters.ts'

/** A scheduled run this long past its time without starting is flagged late. */
export const LATE_AFTER_MS = 15_000

export interface FlowRunRow {
  id: string
  name: string
  flowId: string
  flowName: string
  state: State
  stateMessage: string | null
  parameters: Record<string, unknown>
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
}

interface RawRun extends Omit<FlowRunRow, 'parameters'> {
  overrides: Record<string, unknown>
  specs: ParameterSpec[]
}

export const RUN_COLUMNS = `r.id, r.name, r.flow_id as "flowId", f.name as "flowName", r.state, r.state_message as "stateMessage",
  r.parameters as overrides, f.parameters as specs, r.scheduled_start_time as "scheduledStartTime", r.start_time as "startTime",
  r.end_time as "endTime", (r.state = 'scheduled' and r.scheduled_start_time < now() - make_interval(secs => ${LATE_AFTER_MS / 1000})) as late,
  (extract(epoch from (coalesce(r.end_time, case when r.start_time is not null then now() end) - r.start_time)) * 1000)::float8 as "durationMs",
  r.agent_id as "agentId", r.attempt, r.retry_of as "retryOf", r.auto_scheduled as "autoScheduled", r.created_at as "createdAt", r.updated_at as "updatedAt"`

/** Public shape: parameters are the effective values, with secret ones redacted. */
export function toFlowRun(raw: RawRun): FlowRunRow {
  const { overrides, specs, ...rest } = raw
  let effective: Record<string, unknown>
  try {
    effective = resolveParameters(specs, overrides)
  } catch {
    effective = { ...Object.fromEntries(specs.map((s) => [s.name, s.default])), ...overrides } // flow changed since: show what we have
  }
  return { ...rest, durationMs: rest.durationMs === null ? null : Math.round(Number(rest.durationMs)), parameters: redactParameters(specs, effective) }
}

export async function getFlowRun(db: Queryable, id: string): Promise<FlowRunRow | undefined> {
  const rows = await db.query<RawRun>(`select ${RUN_COLUMNS} from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = $1`, [id])
  return rows[0] && toFlowRun(rows[0])
}

export async function getFlowRuns(db: Queryable, ids: readonly string[]): Promise<FlowRunRow[]> {
  if (ids.length === 0) return []
  const rows = await db.query<RawRun>(`select ${RUN_COLUMNS} from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.id = any($1::uuid[])`, [ids])
  return rows.map(toFlowRun)
}

export interface RunFilter {
  flowId?: string | undefined
  states?: readonly State[] | undefined
  late?: boolean | undefined
  /** Only runs scheduled before / after this instant. */
  before?: Date | undefined
  after?: Date | undefined
  limit: number
  cursor?: { time: Date; id: string } | undefined
  order?: 'desc' | 'asc'
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
  if (filter.flowId) add((n) => `r.flow_id = ${n}`, filter.flowId)
  if (filter.states?.length) add((n) => `r.state = any(${n}::text[])`, filter.states)
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
  const rows = await db.query<RawRun>(
    `select ${RUN_COLUMNS} from rota_flow_runs r join rota_flows f on f.id = r.flow_id
     ${where.length ? `where ${where.join(' and ')}` : ''}
     order by r.scheduled_start_time ${dir}, r.id ${dir} limit $${values.length}`,
    values,
  )
  const items = rows.slice(0, filter.limit).map(toFlowRun)
  const last = items.at(-1)
  const nextCursor = rows.length > filter.limit && last ? encodeCursor(last.scheduledStartTime, last.id) : null
  return { items, nextCursor }
}

export function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${time.toISOString()}|${id}`).toString('base64url')
}

export function decodeCursor(cursor: string): { time: Date; id: string } | undefined {
  const [t, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!t || !id || Number.isNaN(Date.parse(t)) || !/^[0-9a-f-]{36}$/i.test(id)) return undefined
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

export async function insertFlowRun(
  db: Queryable,
  run: { flowId: string; name: string; parameters: Record<string, unknown>; scheduledStartTime: Date; flowVersion: string; attempt?: number; retryOf?: string | null },
): Promise<string> {
  const rows = await db.query<{ id: string }>(
    `insert into rota_flow_runs (flow_id, name, state, parameters, scheduled_start_time, flow_version, attempt, retry_of)
     values ($1, $2, 'scheduled', $3::jsonb, $4, $5, $6, $7) returning id`,
    [run.flowId, run.name, JSON.stringify(run.parameters), run.scheduledStartTime, run.flowVersion, run.attempt ?? 1, run.retryOf ?? null],
  )
  const id = (rows[0] as { id: string }).id
  await db.query(`insert into rota_flow_run_states (flow_run_id, from_state, to_state, message) values ($1, null, 'scheduled', $2)`, [
    id,
    run.retryOf ? `retry ${run.attempt ?? 2} of run ${run.retryOf}` : 'created',
  ])
  return id
}

// --- task runs -------------------------------------------------------------------------------

export interface TaskRunRow {
  id: string
  flowRunId: string
  taskKey: string
  taskName: string
  position: number
  state: State
  message: string | null
  attempts: number
  startTime: Date | null
  endTime: Date | null
}

export const TASK_COLUMNS = `id, flow_run_id as "flowRunId", task_key as "taskKey", task_name as "taskName", position, state, message, attempts,
  start_time as "startTime", end_time as "endTime"`

export async function listTaskRuns(db: Queryable, flowRunId: string): Promise<TaskRunRow[]> {
  return db.query<TaskRunRow>(`select ${TASK_COLUMNS} from rota_task_runs where flow_run_id = $1 order by position, task_key`, [flowRunId])
}

// --- logs ------------------------------------------------------------------------------------

export interface LogRow {
  id: number
  flowRunId: string
  taskName: string | null
  time: Date
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
}

export async function listLogs(db: Queryable, flowRunId: string, opts: { afterId?: number; limit: number; levels?: readonly string[]; taskName?: string }): Promise<LogRow[]> {
  const values: unknown[] = [flowRunId, opts.afterId ?? 0, opts.limit]
  let extra = ''
  if (opts.levels?.length) {
    values.push(opts.levels)
    extra += ` and level = any($${values.length}::text[])`
  }
  if (opts.taskName !== undefined) {
    values.push(opts.taskName)
    extra += ` and task_name = $${values.length}`
  }
  const rows = await db.query<LogRow>(
    `select id, flow_run_id as "flowRunId", task_name as "taskName", time, level, message from rota_logs
     where flow_run_id = $1 and id > $2 ${extra} order by id limit $3`,
    values,
  )
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}

export interface LogInput {
  seq: number
  time: Date
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  taskName?: string | null | undefined
}

export async function insertLogs(db: Queryable, flowRunId: string, source: string, logs: readonly LogInput[]): Promise<LogRow[]> {
  if (logs.length === 0) return []
  const payload = logs.map((l) => ({ seq: l.seq, time: l.time.toISOString(), level: l.level, message: l.message, task_name: l.taskName ?? null }))
  const rows = await db.query<LogRow>(
    `insert into rota_logs (flow_run_id, source, seq, time, level, message, task_name)
     select $1, $2, x.seq, x.time, x.level, x.message, x.task_name
     from jsonb_to_recordset($3::jsonb) as x(seq bigint, time timestamptz, level text, message text, task_name text)
     order by x.seq
     on conflict (flow_run_id, source, seq) do nothing
     returning id, flow_run_id as "flowRunId", task_name as "taskName", time, level, message`,
    [flowRunId, source, JSON.stringify(payload)],
  )
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}

// --- artifacts -------------------------------------------------------------------------------

export interface ArtifactRow {
  id: number
  key: string
  taskName: string | null
  data: unknown
  createdAt: Date
}

export async function insertArtifact(db: Queryable, flowRunId: string, a: { key: string; data: unknown; taskName?: string | null }): Promise<ArtifactRow> {
  const rows = await db.query<ArtifactRow>(
    `insert into rota_artifacts (flow_run_id, key, data, task_name) values ($1, $2, $3::jsonb, $4)
     returning id, key, task_name as "taskName", data, created_at as "createdAt"`,
    [flowRunId, a.key, JSON.stringify(a.data ?? null), a.taskName ?? null],
  )
  const row = rows[0] as ArtifactRow
  return { ...row, id: Number(row.id) } // BIGINT arrives as a string from node-postgres
}

export async function listArtifacts(db: Queryable, flowRunId: string): Promise<ArtifactRow[]> {
  const rows = await db.query<ArtifactRow>(
    `select id, key, task_name as "taskName", data, created_at as "createdAt" from rota_artifacts where flow_run_id = $1 order by id`,
    [flowRunId],
  )
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}
