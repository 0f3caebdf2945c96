/** What a run's process reports besides states: log lines (streamed to watchers) and artifacts. */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { insertLogs, type LogInput, type LogRow } from './store/logs.ts'
import { insertArtifact, type ArtifactRow, type NewArtifact } from './store/artifacts.ts'
import { runExists } from './store/runs.ts'
import { isMissingRun, NotFoundError } from './orchestration/transition.ts'

async function mustExist(db: Db, flowRunId: string): Promise<void> {
  if (!(await runExists(db, flowRunId))) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
}

/** Stores a batch of a run's log lines (a resent batch is harmless) and streams the new ones. */
export async function appendLogs(db: Db, bus: EventBus, flowRunId: string, source: string, logs: readonly LogInput[]): Promise<LogRow[]> {
  if (logs.length === 0) await mustExist(db, flowRunId)
  // An unknown run fails the insert on its foreign key (one statement less than asking first).
  const rows = await insertLogs(db, flowRunId, source, logs).catch((err: unknown) => {
    throw isMissingRun(err) ? new NotFoundError(`flow run ${flowRunId} does not exist`) : err
  })
  bus.publishBatch(
    rows.map((log) => ({ type: 'log' as const, flowRunId, log })),
    { type: 'log', flowRunId, log: undefined },
  )
  return rows
}

export async function keepArtifact(db: Db, flowRunId: string, artifact: NewArtifact): Promise<ArtifactRow> {
  await mustExist(db, flowRunId)
  return insertArtifact(db, flowRunId, artifact)
}
