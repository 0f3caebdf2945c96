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
import { missedRuns, silentRuns } from './store/queue.ts'
import { setFlowRunState } from './orchestration/transition.ts'

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

/** One sweep of both. */
export async function reap(db: Db, bus: EventBus, silenceMs: number, judgeCrashesFrom = 0): Promise<{ crashed: string[]; skipped: number }> {
  // No agent could heartbeat to a server that was down: crashes are judged only once a full
  // heartbeat window has passed since start-up (judgeCrashesFrom), or a restart would crash every healthy run.
  const crashed = Date.now() < judgeCrashesFrom ? [] : await markCrashedRuns(db, bus, silenceMs)
  const skipped = await skipMissedRuns(db, bus)
  return { crashed, skipped }
}
