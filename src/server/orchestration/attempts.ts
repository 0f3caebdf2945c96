/**
 * A task run's attempts, folded from its events: `running` with attempt n opens attempt n; the next
 * event of that attempt closes it (`retrying` closes it as failed, since that attempt did fail).
 * Pure: transition.ts keeps the result with the task run, the Gantt draws one bar per attempt.
 */
import { isTerminal, type State } from '../../core/states.ts'

/** Times are Dates when just folded, ISO strings when read back from the database (jsonb). */
export interface AttemptRecord {
  attempt: number
  state: State
  startTime: Date | string
  endTime: Date | string | null
  message: string | null
}

/** A task retried more often than this keeps its latest attempts. */
export const MAX_ATTEMPTS_KEPT = 100

export function recordAttempt(log: readonly AttemptRecord[], event: { state: State; attempts: number; time: Date; message?: string | null | undefined }): AttemptRecord[] {
  const last = log.at(-1)
  if (event.state === 'running') {
    if (last && last.attempt === event.attempts && last.endTime === null) return [...log]
    return [...log, { attempt: event.attempts, state: 'running' as State, startTime: event.time, endTime: null, message: null }].slice(-MAX_ATTEMPTS_KEPT)
  }
  if (!last || last.endTime !== null || last.attempt !== event.attempts) return [...log]
  const state: State = event.state === 'retrying' ? 'failed' : event.state
  if (!isTerminal(state)) return [...log]
  return [...log.slice(0, -1), { ...last, state, endTime: event.time, message: event.message ?? null }]
}

/** Closes the open attempt, if any, when the task run is closed with its flow run. */
export function closeAttempts(log: readonly AttemptRecord[], state: State, time: Date, reason: string): AttemptRecord[] {
  const last = log.at(-1)
  if (!last || last.endTime !== null) return [...log]
  return [...log.slice(0, -1), { ...last, state, endTime: time, message: reason }]
}
