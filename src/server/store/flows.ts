/** SQL for flows. */
import type { Queryable } from '../db/index.ts'
import type { Schedule } from '../../core/schedule.ts'
import type { ParameterSpec } from '../../core/parameters.ts'
import { isUuid } from '../../core/ids.ts'
import type { Isolation } from '../../core/isolation.ts'
import type { Overlap } from '../../core/flow-control.ts'
import type { Retention } from '../../core/contract.ts'

export interface FlowRow {
  id: string
  name: string
  description: string
  version: string
  entrypoint: string
  schedule: Schedule | null
  scheduleActive: boolean
  parameters: ParameterSpec[]
  /** The tasks the flow declares (`defineFlow({ tasks })`); often none. */
  tasks: string[]
  /** The tasks its runs called, learned as they end (recordSeenTasks in store/runs.ts). */
  seenTasks: string[]
  labels: string[]
  catchUp: 'latest' | 'all'
  retries: number
  retryDelaySeconds: number
  maxActiveRuns: number | null
  overlap: Overlap
  pool: string | null
  taskPools: Record<string, string>
  /** The flow's own retention; null: the server's. */
  retention: Retention | null
  isolation: Isolation | null
  scheduledUntil: Date | null
  createdAt: Date
  updatedAt: Date
}

const COLUMNS = `id, name, description, version, entrypoint, schedule, schedule_active as "scheduleActive", parameters, tasks, seen_tasks as "seenTasks", labels,
  catch_up as "catchUp", retries, retry_delay_seconds as "retryDelaySeconds", retention, scheduled_until as "scheduledUntil",
  max_active_runs as "maxActiveRuns", overlap, pool, task_pools as "taskPools", isolation,
  created_at as "createdAt", updated_at as "updatedAt"`

export interface FlowRegistration {
  name: string
  description: string
  version: string
  entrypoint: string
  schedule: Schedule | null
  parameters: ParameterSpec[]
  tasks: string[]
  labels: string[]
  catchUp: 'latest' | 'all'
  retries: number
  retryDelaySeconds: number
  maxActiveRuns: number | null
  overlap: Overlap
  pool: string | null
  taskPools: Record<string, string>
  /** Absent or null: the server's retention. */
  retention?: Retention | null | undefined
  isolation: Isolation | null
}

export async function getFlow(db: Queryable, idOrName: string): Promise<FlowRow | undefined> {
  const byId = isUuid(idOrName)
  const rows = await db.query<FlowRow>(`select ${COLUMNS} from rota_flows where ${byId ? 'id = $1::uuid' : 'name = $1'}`, [idOrName])
  return rows[0]
}

/** Flows by names or ids; the names not found are returned too. */
export async function getFlows(db: Queryable, idsOrNames: readonly string[]): Promise<{ found: FlowRow[]; missing: string[] }> {
  const ids = idsOrNames.filter(isUuid)
  const rows = await db.query<FlowRow>(`select ${COLUMNS} from rota_flows where name = any($1::text[]) or id = any($2::uuid[])`, [idsOrNames, ids])
  const missing = idsOrNames.filter((n) => !rows.some((r) => r.name === n || r.id === n))
  return { found: rows, missing }
}

/** A flow's task list: the declared one, or else the one learned from its runs. */
export function flowTasks(flow: Pick<FlowRow, 'tasks' | 'seenTasks'>): string[] {
  return flow.tasks.length ? flow.tasks : flow.seenTasks
}

export async function getFlowForUpdate(db: Queryable, name: string): Promise<FlowRow | undefined> {
  return (await db.query<FlowRow>(`select ${COLUMNS} from rota_flows where name = $1 for update`, [name]))[0]
}

export async function listFlows(db: Queryable): Promise<FlowRow[]> {
  return db.query<FlowRow>(`select ${COLUMNS} from rota_flows order by name`)
}

export async function listScheduledFlows(db: Queryable): Promise<FlowRow[]> {
  return db.query<FlowRow>(`select ${COLUMNS} from rota_flows where schedule is not null and schedule_active order by name`)
}

export async function insertFlow(db: Queryable, f: FlowRegistration): Promise<FlowRow> {
  const rows = await db.query<FlowRow>(
    `insert into rota_flows (name, description, version, entrypoint, schedule, parameters, tasks, labels, catch_up, retries, retry_delay_seconds,
       max_active_runs, overlap, pool, task_pools, retention, isolation)
     values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13, $14, $15::jsonb, $16::jsonb, $17)
     on conflict (name) do nothing
     returning ${COLUMNS}`,
    registrationValues(f),
  )
  return rows[0] as FlowRow
}

export async function updateFlowDefinition(db: Queryable, f: FlowRegistration, scheduleChanged: boolean): Promise<FlowRow> {
  const rows = await db.query<FlowRow>(
    `update rota_flows set description = $2, version = $3, entrypoint = $4, schedule = $5::jsonb, parameters = $6::jsonb, tasks = $7::jsonb,
       labels = $8::jsonb, catch_up = $9, retries = $10, retry_delay_seconds = $11, updated_at = now(),
       max_active_runs = $12, overlap = $13, pool = $14, task_pools = $15::jsonb, retention = $16::jsonb, isolation = $17,
       scheduled_until = case when $18 then null else scheduled_until end
     where name = $1 returning ${COLUMNS}`,
    [...registrationValues(f), scheduleChanged],
  )
  return rows[0] as FlowRow
}

function registrationValues(f: FlowRegistration): unknown[] {
  return [
    f.name,
    f.description,
    f.version,
    f.entrypoint,
    f.schedule === null ? null : JSON.stringify(f.schedule),
    JSON.stringify(f.parameters),
    JSON.stringify(f.tasks),
    JSON.stringify(f.labels),
    f.catchUp,
    f.retries,
    f.retryDelaySeconds,
    f.maxActiveRuns,
    f.overlap,
    f.pool,
    JSON.stringify(f.taskPools),
    f.retention ? JSON.stringify(f.retention) : null,
    f.isolation,
  ]
}

export async function setScheduleActive(db: Queryable, flowId: string, active: boolean): Promise<FlowRow | undefined> {
  // Resuming starts from now: the paused gap is not caught up.
  const rows = await db.query<FlowRow>(
    `update rota_flows set schedule_active = $2, updated_at = now(), scheduled_until = case when $2 and not schedule_active then now() else scheduled_until end
     where id = $1 returning ${COLUMNS}`,
    [flowId, active],
  )
  return rows[0]
}

export async function advanceScheduleCursor(db: Queryable, flowId: string, until: Date): Promise<void> {
  await db.query(`update rota_flows set scheduled_until = greatest(coalesce(scheduled_until, $2), $2) where id = $1`, [flowId, until])
}
