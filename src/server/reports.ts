/**
 * What a run's process reports: task states, log lines (streamed to watchers) and artifacts. The
 * run's secrets are hidden in all of it on the way in (src/core/redact.ts): the run process
 * redacts too, but a line printed past the SDK (stdout, a subprocess) reaches the server as printed.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { insertLogs, type LogInput, type LogRow } from './store/logs.ts'
import { insertArtifact, type ArtifactRow, type NewArtifact } from './store/artifacts.ts'
import { runExists } from './store/runs.ts'
import { applyTaskEvents, isMissingRun, NotFoundError, type TaskEventInput } from './orchestration/transition.ts'
import type { Redactor } from '../core/redact.ts'

async function mustExist(db: Db, flowRunId: string): Promise<void> {
  if (!(await runExists(db, flowRunId))) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
}

/** Stores a batch of a run's log lines (a resent batch is harmless) and streams the new ones. */
export async function appendLogs(db: Db, bus: EventBus, flowRunId: string, source: string, logs: readonly LogInput[], secrets: Redactor): Promise<LogRow[]> {
  if (logs.length === 0) await mustExist(db, flowRunId)
  // An unknown run fails the insert on its foreign key (one statement less than asking first).
  const rows = await insertLogs(db, flowRunId, source, secrets.empty ? logs : logs.map((l) => ({ ...l, message: secrets.text(l.message) }))).catch((err: unknown) => {
    throw isMissingRun(err) ? new NotFoundError(`flow run ${flowRunId} does not exist`) : err
  })
  bus.publishBatch(
    rows.map((log) => ({ type: 'log' as const, flowRunId, log })),
    { type: 'log', flowRunId, log: undefined },
  )
  return rows
}

/** Applies a batch of the run's task-state events (orchestration/transition.ts), their messages redacted. */
export function reportTaskEvents(db: Db, bus: EventBus, flowRunId: string, events: readonly TaskEventInput[], secrets: Redactor) {
  const redacted = secrets.empty
    ? events
    : events.map((e) => ({
        ...e,
        ...(e.message ? { message: secrets.text(e.message) } : {}),
        ...(e.stack ? { stack: secrets.text(e.stack) } : {}),
      }))
  return applyTaskEvents(db, bus, flowRunId, redacted)
}

export async function keepArtifact(db: Db, flowRunId: string, artifact: NewArtifact, secrets: Redactor): Promise<ArtifactRow> {
  await mustExist(db, flowRunId)
  return insertArtifact(
    db,
    flowRunId,
    secrets.empty ? artifact : { ...artifact, key: secrets.text(artifact.key), description: artifact.description == null ? artifact.description : secrets.text(artifact.description), data: secrets.value(artifact.data) },
  )
}
