/**
 * Orchestration policy: the allowed transitions as a table, then an ordered list of small named
 * rules (as in Prefect's orchestration core). Each rule sees the current run and the proposed state
 * and answers accept, reject (the run keeps its state), wait (ask again in N ms) or abort
 * (the proposer must stop working on this run). The first rule that does not accept decides.
 * An accepting rule may ask for side effects (a retry run, as Prefect's RetryFailedFlows), which
 * happen only if the whole policy accepts, in the transaction that writes the state.
 *
 * Every change of a flow run's state goes through here: an agent claiming it, its process starting
 * and ending it, a user cancelling it, the reaper declaring it crashed or missed.
 *
 * Pure functions only: the caller (transition.ts) locks the row, asks the policy, writes the result.
 */
import type { State } from '../../core/states.ts'
import { isTerminal } from '../../core/states.ts'
import type { Overlap } from '../../core/flow-control.ts'

/** A side effect the policy asks for with an accepted state: done in the same transaction. */
export type Effect =
  | { kind: 'retry'; delayMs: number }
  /** Other runs to cancel (overlap 'cancel-running'), each through the policy. */
  | { kind: 'cancel-runs'; runIds: readonly string[]; message: string }
  /** The run's unfinished child runs follow it to this state, each through the policy. */
  | { kind: 'end-children'; state: 'cancelling' | 'cancelled' | 'crashed'; message: string }

export type Verdict =
  | { status: 'accept'; state: State; message?: string | undefined; effects?: readonly Effect[] | undefined }
  | { status: 'reject'; reason: string }
  /** effects: done even though the run waits (overlap 'cancel-running' cancels the running run, then waits for it to end). */
  | { status: 'wait'; reason: string; retryAfterMs: number; effects?: readonly Effect[] | undefined }
  | { status: 'abort'; reason: string }

export interface RunSnapshot {
  state: State
  scheduledStartTime: Date
  /** Agent that claimed the run, if any. */
  agentId: string | null
  /** 1 for a first run, n + 1 for the retry of attempt n. */
  attempt: number
  /** The flow's: how many times a crashed or failed run comes back, and after how long. */
  retries: number
  retryDelaySeconds: number
  /** For messages; optional so a bare snapshot still decides. */
  name?: string | undefined
  /** Set for a child flow run: it runs inside its parent's process and its slot. */
  parentRunId?: string | null | undefined
  /** Set for a run a backfill made. */
  backfillId?: string | null | undefined
  /** Child runs of this run that have not ended. */
  openChildren?: number | undefined
  /** What the run would share if it started now; loaded for claims only (see ClaimLimits). */
  limits?: ClaimLimits | undefined
}

/** A run that holds a slot: pending, running, retrying or cancelling. */
export interface ActiveRun {
  id: string
  name: string
  state: State
}

/** Who holds a slot of a pool: a whole run, or one of its tasks. */
export interface SlotHolder {
  flowRunName: string
  taskName: string | null
}

/**
 * The limits a claimed run must fit in, read after the claim locked them (per flow, pool and backfill
 * advisory locks), so several agents and servers claiming at once never exceed them.
 */
export interface ClaimLimits {
  /** Its flow's maxActiveRuns and the runs of the flow that hold a slot now. */
  flow?: { name: string; maxActiveRuns: number; overlap: Overlap; active: readonly ActiveRun[] } | undefined
  /** The pool the whole run takes a slot of (defineFlow({ pool })). */
  pool?: { name: string; slots: number; holders: readonly SlotHolder[] } | undefined
  /** Its backfill's maxActive and the backfill's active runs. */
  backfill?: { id: string; maxActive: number; active: readonly ActiveRun[] } | undefined
}

export interface Proposal {
  state: State
  message?: string | undefined
  /** Who proposes: an agent (with its id), the flow's own process, the server itself, or a user (API/CLI). */
  by: { kind: 'agent'; agentId: string } | { kind: 'child' } | { kind: 'server' } | { kind: 'user' }
}

export interface FlowRunRule {
  name: string
  from: readonly State[] | '*'
  to: readonly State[] | '*'
  decide(run: RunSnapshot, proposal: Proposal, now: Date): Verdict
}

const accept = (p: Proposal): Verdict => ({ status: 'accept', state: p.state, message: p.message })
/** How long a run waiting for a slot should wait before it is proposed again (claims re-propose on every poll). */
const SLOT_RETRY_MS = 1000

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const listRuns = (runs: readonly ActiveRun[]) =>
  runs.length === 0 ? 'none' : runs.slice(0, 3).map((r) => `run ${r.name} (${r.state})`).join(', ') + (runs.length > 3 ? ` and ${runs.length - 3} more` : '')
/** `run calm-otter, task dbt of run brave-fox` */
export function describeHolders(holders: readonly SlotHolder[]): string {
  if (holders.length === 0) return 'nobody'
  const named = holders.slice(0, 3).map((h) => (h.taskName ? `task ${h.taskName} of run ${h.flowRunName}` : `run ${h.flowRunName}`))
  return named.join(', ') + (holders.length > 3 ? ` and ${holders.length - 3} more` : '')
}
/** The message of a task or run waiting for a pool slot: it starts with "waiting", as every waiting reason does. */
export function poolWaitMessage(pool: { name: string; slots: number; holders: readonly SlotHolder[] }): string {
  return pool.slots === 0
    ? `waiting for a slot in pool ${pool.name} (the pool has 0 slots: \`rota pool set ${pool.name} --slots N\` opens it)`
    : `waiting for a slot in pool ${pool.name} (${pool.holders.length}/${pool.slots} held by ${describeHolders(pool.holders)})`
}

/** Which states may follow which. Anything not listed is rejected by `allowedTransitions`. */
export const FLOW_RUN_TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  scheduled: ['scheduled', 'pending', 'cancelled', 'skipped'],
  pending: ['scheduled', 'running', 'cancelling', 'cancelled', 'failed', 'crashed'],
  running: ['success', 'failed', 'cancelling', 'cancelled', 'crashed'],
  retrying: ['running', 'failed', 'cancelling', 'cancelled', 'crashed'],
  cancelling: ['cancelled', 'success', 'failed', 'crashed'],
  success: [],
  failed: [],
  skipped: [],
  cancelled: [],
  crashed: [],
}

export const FLOW_RUN_RULES: readonly FlowRunRule[] = [
  {
    // Finished runs stay finished; a retry is a new run, so history is never rewritten.
    name: 'terminal-states-are-final',
    from: '*',
    to: '*',
    decide: (run, p) =>
      isTerminal(run.state) ? { status: 'abort', reason: `run already ended as ${run.state}; it cannot become ${p.state}` } : accept(p),
  },
  {
    // Two agents racing for one run: the second proposal of pending is told to walk away.
    name: 'no-double-submission',
    from: ['pending', 'running', 'cancelling'],
    to: ['pending'],
    decide: (run) => ({ status: 'abort', reason: `run is already ${run.state} on another agent` }),
  },
  {
    name: 'only-the-claiming-agent-moves-a-pending-run',
    from: ['pending'],
    to: ['running', 'scheduled'],
    decide: (run, p) =>
      p.by.kind === 'agent' && run.agentId !== null && p.by.agentId !== run.agentId
        ? { status: 'abort', reason: 'run was claimed by another agent' }
        : accept(p),
  },
  {
    // Agents prefetch runs a little ahead; a run never starts before its scheduled time.
    name: 'no-start-before-scheduled-time',
    from: ['pending'],
    to: ['running'],
    decide: (run, p, now) => {
      const early = run.scheduledStartTime.getTime() - now.getTime()
      return early > 0 ? { status: 'wait', reason: `scheduled for ${run.scheduledStartTime.toISOString()}`, retryAfterMs: early } : accept(p)
    },
  },
  {
    // A cancel request wins over a run that is only starting: the process must stop.
    name: 'cancelling-stops-the-start',
    from: ['cancelling'],
    to: ['running', 'retrying'],
    decide: () => ({ status: 'abort', reason: 'run is being cancelled' }),
  },
  {
    // Cancelling a run that nothing executes yet needs no process to stop: it ends at once.
    name: 'cancel-idle-runs-directly',
    from: ['scheduled'],
    to: ['cancelling'],
    decide: (_run, p) => ({ status: 'accept', state: 'cancelled', message: p.message }),
  },
  {
    // maxActiveRuns, decided when an agent claims a run (the claim has locked the flow's count):
    // 'queue' (the default) leaves the run scheduled with a reason until a slot frees; 'skip' ends
    // it skipped; 'cancel-running' cancels the oldest active runs and waits until they have ended (a
    // cancelling run's process may still be working: starting now would run two at once). Backfill
    // runs always queue: dropping them would defeat the backfill.
    name: 'flow-concurrency-limit',
    from: ['scheduled'],
    to: ['pending'],
    decide: (run, p) => {
      const flow = run.limits?.flow
      if (!flow || run.parentRunId) return accept(p)
      const overlap: Overlap = run.backfillId ? 'queue' : flow.overlap
      const holding = flow.active
      if (holding.length < flow.maxActiveRuns) return accept(p)
      const limit = `flow ${flow.name} allows ${plural(flow.maxActiveRuns, 'active run')}`
      if (overlap === 'skip') {
        return { status: 'accept', state: 'skipped', message: `skipped: ${limit} and one is active (${listRuns(holding)}); its overlap policy is 'skip'` }
      }
      if (overlap === 'cancel-running') {
        // enough of the oldest runs to fit, less those already being cancelled
        const ending = holding.filter((a) => a.state === 'cancelling')
        const more = holding.length - flow.maxActiveRuns + 1 - ending.length
        const victims = holding.filter((a) => a.state !== 'cancelling').slice(0, Math.max(0, more))
        const message = `cancelled: a newer run${run.name ? ` (${run.name})` : ''} of flow ${flow.name} is waiting to start, and its overlap policy is 'cancel-running'`
        return {
          status: 'wait',
          reason: `waiting: ${limit}; cancelling ${listRuns([...ending, ...victims.map((v) => ({ ...v, state: 'cancelling' as const }))])} first (overlap 'cancel-running')`,
          retryAfterMs: SLOT_RETRY_MS,
          ...(victims.length ? { effects: [{ kind: 'cancel-runs', runIds: victims.map((a) => a.id), message }] } : {}),
        }
      }
      return { status: 'wait', reason: `waiting: ${limit} (held by ${listRuns(holding)})`, retryAfterMs: SLOT_RETRY_MS }
    },
  },
  {
    // defineFlow({ pool }): the whole run takes a slot of the pool when it is claimed.
    name: 'pool-slots',
    from: ['scheduled'],
    to: ['pending'],
    decide: (run, p) => {
      const pool = run.limits?.pool
      if (!pool || run.parentRunId || pool.holders.length < pool.slots) return accept(p)
      return { status: 'wait', reason: poolWaitMessage(pool), retryAfterMs: SLOT_RETRY_MS }
    },
  },
  {
    // `rota backfill --max-active N`: at most N of the backfill's runs active at once.
    name: 'backfill-max-active',
    from: ['scheduled'],
    to: ['pending'],
    decide: (run, p) => {
      const backfill = run.limits?.backfill
      if (!backfill || backfill.active.length < backfill.maxActive) return accept(p)
      return {
        status: 'wait',
        reason: `waiting: backfill ${backfill.id.slice(0, 8)} runs at most ${plural(backfill.maxActive, 'run')} at once (held by ${listRuns(backfill.active)})`,
        retryAfterMs: SLOT_RETRY_MS,
      }
    },
  },
  {
    name: 'allowed-transitions',
    from: '*',
    to: '*',
    decide: (run, p) =>
      FLOW_RUN_TRANSITIONS[run.state].includes(p.state) ? accept(p) : { status: 'reject', reason: `a ${run.state} run cannot become ${p.state}` },
  },
  {
    // A crashed or failed run of a flow that allows retries comes back as a new run (attempt + 1)
    // after the flow's retry delay; history is never rewritten. Last, so it fires only on an accept.
    name: 'retry-failed-runs',
    from: '*',
    to: ['crashed', 'failed'],
    // A child run is not retried on its own: its parent's code decides what a failed child means.
    decide: (run, p) =>
      run.attempt > run.retries || run.parentRunId ? accept(p) : { ...accept(p), effects: [{ kind: 'retry', delayMs: run.retryDelaySeconds * 1000 }] },
  },
  {
    // Child runs execute inside their parent's process: when the parent is cancelled they are
    // cancelled with it, and when it ends (or crashes) before them, they end too. Last, so it fires
    // only on an accept.
    name: 'children-follow-their-parent',
    from: '*',
    to: ['cancelling', 'cancelled', 'crashed', 'failed', 'success', 'skipped'],
    decide: (run, p) => {
      if (!run.openChildren) return accept(p)
      const state = p.state === 'cancelling' ? 'cancelling' : p.state === 'crashed' ? 'crashed' : 'cancelled'
      const message =
        p.state === 'cancelling' || p.state === 'cancelled'
          ? `cancelled: its parent run${run.name ? ` ${run.name}` : ''} was cancelled`
          : `${state}: its parent run${run.name ? ` ${run.name}` : ''} ended ${p.state} before it`
      return { ...accept(p), effects: [{ kind: 'end-children', state, message }] }
    },
  },
]

function applies(rule: FlowRunRule, from: State, to: State): boolean {
  return (rule.from === '*' || rule.from.includes(from)) && (rule.to === '*' || rule.to.includes(to))
}

/**
 * Runs the policy. Rules may rewrite the proposed state (cancel-idle-runs-directly); later rules see
 * the rewrite. The effects of accepting rules are returned only when every rule accepted.
 */
export function decideFlowRunTransition(run: RunSnapshot, proposal: Proposal, now = new Date(), rules = FLOW_RUN_RULES): Verdict & { rule?: string } {
  let current: Proposal = proposal
  const effects: Effect[] = []
  for (const rule of rules) {
    if (!applies(rule, run.state, current.state)) continue
    const verdict = rule.decide(run, current, now)
    if (verdict.status !== 'accept') return { ...verdict, rule: rule.name }
    if (verdict.effects) effects.push(...verdict.effects)
    if (verdict.state !== current.state) current = { ...current, state: verdict.state, message: verdict.message }
  }
  return { status: 'accept', state: current.state, message: current.message, ...(effects.length ? { effects } : {}) }
}

/** Task runs follow a simpler table: they live inside one process, which reports them in order. */
export const TASK_RUN_TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  scheduled: ['pending', 'running', 'skipped', 'cancelled', 'failed', 'crashed'],
  // pending: a task waiting for a pool slot (pending -> pending updates who holds the slots)
  pending: ['pending', 'running', 'skipped', 'cancelled', 'crashed', 'failed'],
  running: ['success', 'failed', 'skipped', 'retrying', 'cancelled', 'crashed'],
  retrying: ['pending', 'running', 'failed', 'skipped', 'cancelled', 'crashed'],
  cancelling: ['cancelled', 'failed', 'skipped', 'crashed'],
  success: [],
  failed: [],
  skipped: [],
  cancelled: [],
  crashed: [],
}

/**
 * A task event from a run's process. Once the flow run has ended (`flowState` terminal), its task
 * runs were closed with it (`closeTaskRunsWith`): a late report may still record a task that ended
 * (a skipped one), never reopen or start one, or a cancelled run would show a task running for ever.
 */
export function decideTaskRunTransition(from: State | undefined, to: State, flowState?: State): Verdict {
  if (flowState !== undefined && isTerminal(flowState) && !isTerminal(to)) {
    return { status: 'reject', reason: `the flow run already ended as ${flowState}; its task runs cannot become ${to}` }
  }
  if (from === undefined) return { status: 'accept', state: to }
  if (from === to && to === 'running') return { status: 'accept', state: to } // attempt counter moves
  return TASK_RUN_TRANSITIONS[from].includes(to)
    ? { status: 'accept', state: to }
    : { status: 'reject', reason: `a ${from} task run cannot become ${to}` }
}

/**
 * When a flow run ends, the state its unfinished task runs end in, and why, in the transaction that
 * ends the run (transition.ts). A crash or a cancel stops tasks mid-way; a failed run's other tasks
 * fail with it; a run that succeeded while a task still ran (a task never awaited) leaves it
 * cancelled, since nobody will report how it ended.
 */
export function closeTaskRunsWith(flowState: State): { state: State; reason: string } | undefined {
  switch (flowState) {
    case 'cancelled':
      return { state: 'cancelled', reason: 'the flow run was cancelled before this task finished' }
    case 'crashed':
      return { state: 'crashed', reason: 'the flow run crashed before this task finished' }
    case 'failed':
      return { state: 'failed', reason: 'the flow run failed before this task finished' }
    case 'skipped':
      return { state: 'skipped', reason: 'the flow run was skipped' }
    case 'success':
      return { state: 'cancelled', reason: 'the flow run ended before this task finished (was it awaited?)' }
    default:
      return undefined
  }
}
