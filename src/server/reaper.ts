/**
 * The reaper: the server's sweeps for runs nobody will finish. A run whose agent went silent
 * becomes crashed (or cancelled, if a cancel was pending), and is retried if its flow allows; an
 * overdue run of a catch-up 'latest' flow with a newer due sibling is skipped with a reason. Both go
 * through the policy like any other change, so a race with a late report is decided there.
 * Idempotent in the database: several servers may sweep at once.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import type { State } from '../core/states.ts'
import { blockedRuns, missedRuns, noteWaiting, silentRuns } from './store/queue.ts'
import { setFlowRunState } from './orchestration/transition.ts'
import { decideFlowRunTransition } from './orchestration/rules.ts'
import { ClaimLimitBook } from './orchestration/limits.ts'

/** Runs whose agent went silent: crashed (or cancelled, if a cancel was pending). Returns their ids. */
export async function markCrashedRuns(db: Db, bus: EventBus, silenceMs: number): Promise<string[]> {
  const crashed: string[] = []
  for (const run of await silentRuns(db, silenceMs)) {
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
  const missed = await missedRuns(db)
  for (const id of missed) {
    await setFlowRunState(db, bus, id, {
      state: 'skipped',
      message: "missed: a newer run of this flow was already due (catch-up policy 'latest' runs only the newest missed run)",
      by: { kind: 'server' },
    })
  }
  return missed.length
}

/**
 * Due runs that wait behind a limit (their flow's maxActiveRuns, a full pool, their backfill's
 * maxActive) say why, in their state message: the policy's own reason, found by proposing each
 * `pending` in claim order as an agent would (without claiming anything). A run that no longer waits
 * for a limit loses the message. Returns how many messages changed.
 */
export async function explainWaitingRuns(db: Db, bus: EventBus): Promise<number> {
  const runs = await blockedRuns(db)
  if (runs.length === 0) return 0
  const book = await ClaimLimitBook.load(db, runs, { lock: false })
  const now = new Date()
  const notes: { id: string; message: string | null }[] = []
  for (const run of runs) {
    const verdict = decideFlowRunTransition({ ...run, limits: book.limitsFor(run) }, { state: 'pending', by: { kind: 'server' } }, now)
    if (verdict.status === 'wait') notes.push({ id: run.id, message: verdict.reason })
    else {
      if (verdict.status === 'accept' && verdict.state === 'pending') book.take(run)
      if (run.stateMessage?.startsWith('waiting')) notes.push({ id: run.id, message: null })
    }
  }
  const changed = await db.transaction((tx) => noteWaiting(tx, notes))
  for (const r of changed) bus.publish({ type: 'flow-run', flowRunId: r.id, flowId: r.flowId, state: 'scheduled' })
  return changed.length
}

/** One sweep of all three. */
export async function reap(db: Db, bus: EventBus, silenceMs: number, judgeCrashesFrom = 0): Promise<{ crashed: string[]; skipped: number }> {
  // No agent could heartbeat to a server that was down: crashes are judged only once a full
  // heartbeat window has passed since start-up (judgeCrashesFrom), or a restart would crash every healthy run.
  const crashed = Date.now() < judgeCrashesFrom ? [] : await markCrashedRuns(db, bus, silenceMs)
  const skipped = await skipMissedRuns(db, bus)
  await explainWaitingRuns(db, bus)
  return { crashed, skipped }
}
