/** SQL for task runs: the steps of a flow run, reported by its process in ordered batches. */
import type { Queryable } from '../db/index.ts'
import type { State } from '../../core/states.ts'
import type { AttemptRecord } from '../orchestration/attempts.ts'

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
  /** The item's index when the task run is one of a map(). */
  mapIndex: number | null
  stack: string | null
  inputs: string[]
  attemptLog: AttemptRecord[]
}

const TASK_COLUMNS = `id, flow_run_id as "flowRunId", task_key as "taskKey", task_name as "taskName", position, state, message, attempts,
  start_time as "startTime", end_time as "endTime", map_index as "mapIndex", stack, inputs, attempt_log as "attemptLog"`

const TERMINAL = `('success', 'failed', 'skipped', 'cancelled', 'crashed')`

export async function listTaskRuns(db: Queryable, flowRunId: string): Promise<TaskRunRow[]> {
  return db.query<TaskRunRow>(`select ${TASK_COLUMNS} from rota_task_runs where flow_run_id = $1 order by position, task_key`, [flowRunId])
}

/** Locks the task runs of these keys (the ones that exist yet) until the transaction ends. */
export async function lockTaskRuns(tx: Queryable, flowRunId: string, taskKeys: readonly string[]): Promise<TaskRunRow[]> {
  return tx.query<TaskRunRow>(`select ${TASK_COLUMNS} from rota_task_runs where flow_run_id = $1 and task_key = any($2::text[]) for update`, [flowRunId, taskKeys])
}

/** Locks the task runs of a flow run that have not ended (to close them when the run ends). */
export async function lockOpenTaskRuns(tx: Queryable, flowRunId: string): Promise<TaskRunRow[]> {
  return tx.query<TaskRunRow>(`select ${TASK_COLUMNS} from rota_task_runs where flow_run_id = $1 and state not in ${TERMINAL} for update`, [flowRunId])
}

/** Writes each task run once (a batch of 80 events for 40 tasks is one statement, not 80). */
export async function upsertTaskRuns(tx: Queryable, flowRunId: string, taskRuns: readonly TaskRunRow[]): Promise<void> {
  if (taskRuns.length === 0) return
  await tx.query(
    `insert into rota_task_runs (id, flow_run_id, task_key, task_name, position, state, message, attempts, start_time, end_time, stack, inputs, attempt_log, updated_at, map_index)
     select x.id, $1, x.task_key, x.task_name, x.position, x.state, x.message, x.attempts, x.start_time, x.end_time, x.stack,
       coalesce(x.inputs, '[]'), coalesce(x.attempt_log, '[]'), now(), x.map_index
     from jsonb_to_recordset($2::jsonb) as x(id uuid, task_key text, task_name text, position int, state text, message text, attempts int,
       start_time timestamptz, end_time timestamptz, stack text, inputs jsonb, attempt_log jsonb, map_index int)
     on conflict (flow_run_id, task_key) do update set state = excluded.state, message = excluded.message, attempts = excluded.attempts,
       start_time = excluded.start_time, end_time = excluded.end_time, stack = excluded.stack, inputs = excluded.inputs,
       attempt_log = excluded.attempt_log, updated_at = now()`,
    [
      flowRunId,
      JSON.stringify(
        taskRuns.map((t) => ({
          id: t.id,
          task_key: t.taskKey,
          task_name: t.taskName,
          position: t.position,
          state: t.state,
          message: t.message,
          attempts: t.attempts,
          start_time: t.startTime,
          end_time: t.endTime,
          map_index: t.mapIndex,
          stack: t.stack,
          inputs: t.inputs,
          attempt_log: t.attemptLog,
        })),
      ),
    ],
  )
}
