/** SQL for run logs: ordered per run, idempotent per (run, source, seq). */
import type { Queryable } from '../db/index.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogRow {
  id: number
  flowRunId: string
  taskName: string | null
  time: Date
  level: LogLevel
  message: string
}

const LOG_COLUMNS = `id, flow_run_id as "flowRunId", task_name as "taskName", time, level, message`

export async function listLogs(db: Queryable, flowRunId: string, opts: { afterId?: number; limit: number; levels?: readonly string[] | undefined; taskName?: string | undefined }): Promise<LogRow[]> {
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
  const rows = await db.query<LogRow>(`select ${LOG_COLUMNS} from rota_logs where flow_run_id = $1 and id > $2 ${extra} order by id limit $3`, values)
  // BIGINT arrives as a string from PostgreSQL.
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}

export interface LogInput {
  seq: number
  time: Date
  level: LogLevel
  message: string
  taskName?: string | null | undefined
}

/** Inserts a batch in order; lines of a batch sent twice (a retried request) are stored once. */
export async function insertLogs(db: Queryable, flowRunId: string, source: string, logs: readonly LogInput[]): Promise<LogRow[]> {
  if (logs.length === 0) return []
  const payload = logs.map((l) => ({ seq: l.seq, time: l.time.toISOString(), level: l.level, message: l.message, task_name: l.taskName ?? null }))
  const rows = await db.query<LogRow>(
    `insert into rota_logs (flow_run_id, source, seq, time, level, message, task_name)
     select $1, $2, x.seq, x.time, x.level, x.message, x.task_name
     from jsonb_to_recordset($3::jsonb) as x(seq bigint, time timestamptz, level text, message text, task_name text)
     order by x.seq
     on conflict (flow_run_id, source, seq) do nothing
     returning ${LOG_COLUMNS}`,
    [flowRunId, source, JSON.stringify(payload)],
  )
  return rows.map((r) => ({ ...r, id: Number(r.id) }))
}
