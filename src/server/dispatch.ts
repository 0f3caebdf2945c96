/**
 * The agent protocol, out of the HTTP layer (as graphile-worker keeps its fetch loop out of its
 * transport). One long-poll (`POST /api/agents/{id}/poll`):
 *
 * 1. heartbeat: the agent and the runs it says it holds are alive;
 * 2. cancel and lost: held runs being cancelled, and held runs that already ended on the server
 *    (or that it no longer knows), which the agent must stop;
 * 3. redeliver: runs claimed for this agent that it does not hold (the answer that carried them was
 *    lost: the agent aborted the poll, the network dropped it) are handed over again;
 * 4. claim: due runs for its free slots, through the policy (orchestration/transition.ts);
 *    every run handed over (claimed or redelivered) carries a fresh run token (run-access.ts): the
 *    agent and the run's process act for the run with it, and nobody else can;
 * 5. wait: with nothing to say, sleep until a run may be due or an event arrives, up to `waitMs`.
 *
 * An agent that goes away in the middle gets nothing claimed for it: what was claimed goes back.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { getAgent, heartbeat, markAgentStopped, upsertAgent, type AgentRow } from './store/agents.ts'
import { nextScheduledTime, pendingRunsOfAgent, runStates, undeliveredRuns, type ClaimedRunRow } from './store/queue.ts'
import { claimRuns, NotFoundError, setFlowRunState } from './orchestration/transition.ts'
import { issueRunTokens } from './run-access.ts'

export interface DispatchContext {
  db: Db
  bus: EventBus
  /** Aborted when the server stops: long polls end. */
  shutdown: AbortSignal
}

export interface PollRequest {
  /** Runs the agent can start now. */
  slots: number
  /** Runs the agent holds. */
  runIds: readonly string[]
  /** Longest wait for work. */
  waitMs: number
  /** Runs due within this are claimed early, to start on the dot. */
  prefetchMs: number
}

export interface Work {
  runs: (ClaimedRunRow & { token: string })[]
  cancel: string[]
  lost: string[]
}

const NOTHING: Work = { runs: [], cancel: [], lost: [] }

export async function registerAgent(ctx: DispatchContext, agent: { name: string; type: 'local' | 'docker'; labels: string[]; concurrency: number }): Promise<AgentRow> {
  const row = await upsertAgent(ctx.db, agent)
  ctx.bus.publish({ type: 'agent', agentId: row.id })
  return row
}

/** Answers one poll; `left` aborts when the agent gives up on it (it stops, or a slot freed up). */
export async function poll(ctx: DispatchContext, agentId: string, request: PollRequest, left: AbortSignal): Promise<Work> {
  const { db, bus } = ctx
  const agent = await getAgent(db, agentId)
  if (!agent) throw new NotFoundError(`agent ${agentId} is not registered; register again with POST /api/agents`)
  const deadline = Date.now() + request.waitMs
  const gone = AbortSignal.any([ctx.shutdown, left])
  const held = new Set(request.runIds)
  for (;;) {
    if (gone.aborted) return NOTHING
    await heartbeat(db, agentId, request.runIds)
    const states = await runStates(db, request.runIds)
    const known = new Set(states.map((r) => r.id))
    const cancel = states.filter((r) => r.state === 'cancelling').map((r) => r.id)
    const lost = [...states.filter((r) => r.state === 'cancelled' || r.state === 'crashed').map((r) => r.id), ...request.runIds.filter((id) => !known.has(id))]
    const undelivered = await undeliveredRuns(db, agentId, request.runIds)
    const claimed = await claimRuns(db, bus, { id: agentId, labels: agent.labels }, request.slots - undelivered.length, request.prefetchMs)
    if (claimed.length > 0 && gone.aborted) {
      await releaseRuns(ctx, claimed.map((r) => r.id), 'the agent left before receiving the run')
      return NOTHING
    }
    const runs = await issueRunTokens(db, agentId, [...undelivered, ...claimed])
    const remaining = deadline - Date.now()
    if (runs.length > 0 || cancel.length > 0 || lost.length > 0 || remaining <= 0 || ctx.shutdown.aborted) return { runs, cancel, lost }
    // Sleep until something may have changed: a new or cancelled run, or the next run entering the prefetch window.
    const next = await nextScheduledTime(db)
    const nextAt = next ? next.getTime() - request.prefetchMs : Infinity
    const sleep = Math.max(1, Math.min(remaining, nextAt - Date.now()))
    await bus.waitFor(
      (e) => e.type === 'runs-available' || (e.type === 'flow-run' && held.has(e.flowRunId) && e.state !== 'running'),
      request.slots > 0 ? sleep : remaining,
      gone,
    )
  }
}

/** Claimed runs that will not start where they were claimed go back to the queue, through the policy. */
export async function releaseRuns(ctx: DispatchContext, ids: readonly string[], why: string): Promise<void> {
  for (const id of ids) await setFlowRunState(ctx.db, ctx.bus, id, { state: 'scheduled', message: `back in the queue: ${why}`, by: { kind: 'server' } })
}

/** An agent says goodbye: shown offline at once; runs claimed for it that it never started go back. */
export async function agentStopped(ctx: DispatchContext, agentId: string): Promise<void> {
  if (!(await markAgentStopped(ctx.db, agentId))) throw new NotFoundError(`agent ${agentId} is not registered`)
  await releaseRuns(ctx, await pendingRunsOfAgent(ctx.db, agentId), 'its agent stopped before starting it')
  ctx.bus.publish({ type: 'agent', agentId })
}
