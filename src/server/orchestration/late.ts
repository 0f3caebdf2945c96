/**
 * Why a late run is still waiting, in words a person can act on. One function, so that every
 * reason lives in one place: a flow control that holds it back (maxActiveRuns, a pool, a backfill's
 * limit: the claim wrote why, a message starting with "waiting"), else agents with the flow's
 * labels and free slots on them. Pure: the caller
 * reads the active agents once per page of runs (store/agents.ts `activeAgentCapacity`).
 */
import type { AgentCapacity } from '../store/agents.ts'

export interface WaitingRun {
  late: boolean
  /** The flow's labels: only an agent with all of them claims the run. */
  flowLabels: readonly string[]
  /** What the last claim said of it: "waiting for …" when a flow control holds it back. */
  stateMessage?: string | null | undefined
}

export interface LateContext {
  /** Agents that heartbeat now, with their labels and used slots. */
  agents: readonly AgentCapacity[]
}

export function lateReason(run: WaitingRun, ctx: LateContext): string | null {
  if (!run.late) return null
  // An agent saw it and a limit said no: that is the reason, whatever the agents' slots say.
  if (run.stateMessage?.startsWith('waiting')) return run.stateMessage
  const labels = [...run.flowLabels]
  const labelFlags = labels.map((l) => ` --label ${l}`).join('')
  if (ctx.agents.length === 0) return `no agent is running: start one with \`rota agent start${labelFlags}\``
  const able = ctx.agents.filter((a) => labels.every((l) => a.labels.includes(l)))
  if (able.length === 0) {
    const seen = ctx.agents.slice(0, 5).map((a) => `${a.name} [${a.labels.join(', ')}]`).join(', ')
    return `no active agent has the labels ${labels.join(', ')} (agents: ${seen}${ctx.agents.length > 5 ? ', …' : ''}): start one with \`rota agent start${labelFlags}\``
  }
  const used = able.reduce((n, a) => n + Math.min(a.activeRuns, a.concurrency), 0)
  const slots = able.reduce((n, a) => n + a.concurrency, 0)
  if (used >= slots) {
    return `every agent that can run it is busy (${used} of ${slots} slot${slots === 1 ? '' : 's'} in use on ${able.map((a) => a.name).join(', ')})`
  }
  return `due, and ${able.length === 1 ? `agent ${able[0]?.name} has` : `${able.length} agents have`} a free slot: it should be claimed at the next poll`
}
