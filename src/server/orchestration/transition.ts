/**
 * The one place where flow-run and task-run states change. Each change locks the run row, asks the
 * policy (rules.ts), writes the state, its history and the effects the policy asked for (a retry
 * run) in one transaction, and publishes events after commit. Creating a run is here too: it is
 * the first state of a run.
 */
import type { Db, Queryable } from '../db/index.ts'
import type { EventBus, RotaEvent, RunFacts } from '../events.ts'
import {
  getFlowRun,
  insertFlowRun,
  insertFlowRunRow,
  insertStateHistory,
  listOpenChildren,
  lockRun,
  lockRunForTaskEvents,
  recordSeenTasks,
  writeRunResult,
  writeRunState,
  type ExecutionRow,
  type FlowRunRow,
  type LockedRun,
} from '../store/runs.ts'
import { lockClaimableRuns, markClaimed, noteWaiting, type ClaimedRunRow } from '../store/queue.ts'
import { releaseRunSlots } from '../store/pools.ts'
import { lockOpenTaskRuns, lockTaskRuns, upsertTaskRuns, type TaskRunRow } from '../store/task-runs.ts'
import { closeTaskRunsWith, decideFlowRunTransition, decideTaskRunTransition, type Effect, type Proposal, type Verdict } from './rules.ts'
import { closeAttempts, recordAttempt } from './attempts.ts'
import { ClaimLimitBook } from './limits.ts'
import { ACTIVE_STATES, isTerminal, type State } from '../../core/states.ts'
import { runName } from '../../core/names.ts'

export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

/** A write refused because the run it belongs to does not exist (foreign key violation, on PostgreSQL and PGlite). */
export function isMissingRun(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23503'
}

/** What is asked cannot be done in the current state of things (a 409): a run that ended cannot take a pool slot. */
export class ConflictError extends Error {
  override name = 'ConflictError'
}

/** Well-formed input that asks for something that cannot be (a 400): a backfill of a flow without a schedule. */
export class InvalidRequestError extends Error {
  override name = 'InvalidRequestError'
}

export interface TransitionResult {
  verdict: Verdict & { rule?: string }
  /** The run after the transition; with its flow's tasks (ExecutionRow) when a state was written. */
  run: FlowRunRow | ExecutionRow
}

/** Extra things an accepted state carries: the flow function's return value (JSON text) with success. */
export interface TransitionExtras {
  resultJson?: string | undefined
}

/** Proposes a state for a flow run; the policy decides, and the answer says what it decided. */
export async function setFlowRunState(db: Db, bus: EventBus, flowRunId: string, proposal: Proposal, extras: TransitionExtras = {}): Promise<TransitionResult> {
  // The run as the transition left it comes back from it: no read after the commit.
  const outcome = await db.transaction((tx) => transitionRun(tx, flowRunId, proposal, extras))
  publishAll(bus, outcome.events)
  return { verdict: outcome.verdict, run: outcome.run }
}

/**
 * One state change inside a transaction: lock the run, ask the policy, write the state and its
 * history, close its task runs when it ends, free what the run held, do the effects. Returns the
 * events to publish after commit.
 */
export async function transitionRun(
  tx: Queryable,
  flowRunId: string,
  proposal: Proposal,
  extras: TransitionExtras = {},
): Promise<{ verdict: Verdict & { rule?: string }; events: RotaEvent[]; run: FlowRunRow | ExecutionRow }> {
  const locked = await lockRun(tx, flowRunId)
  if (!locked) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
  const verdict = decideFlowRunTransition(locked, proposal)
  const events: RotaEvent[] = []
  // The run as it is after this transition; the rest of it (task runs, slots, effects) leaves the run's own row alone.
  let run: FlowRunRow | ExecutionRow = locked
  if (verdict.status === 'accept') {
    const history = verdict.message ?? (proposal.by.kind === 'agent' ? 'by agent' : `by ${proposal.by.kind}`)
    const times = (run = await writeRunState(tx, locked, verdict.state, verdict.message ?? null, history, isTerminal(verdict.state)))
    if (extras.resultJson !== undefined && verdict.state === 'success') await writeRunResult(tx, locked.id, extras.resultJson)
    if (isTerminal(verdict.state)) {
      const closed = await closeTaskRuns(tx, flowRunId, verdict.state, times.endTime ? new Date(times.endTime) : new Date())
      for (const t of closed) events.push({ type: 'task-run', flowRunId, taskRun: t })
      await recordSeenTasks(tx, locked.flowId, flowRunId, verdict.state === 'success')
    }
    events.push({ type: 'flow-run', flowRunId, flowId: locked.flowId, state: verdict.state, facts: runFacts(locked, times) })
    events.push(...(await freeSlots(tx, locked, verdict.state)))
    events.push(...(await runEffects(tx, locked, verdict.effects ?? [])))
  }
  return { verdict, events, run }
}

/**
 * A run that ends takes its unfinished task runs with it, in its transaction: whoever ends it (its
 * process, its agent, the reaper, a user), no task is left running for ever.
 */
async function closeTaskRuns(tx: Queryable, flowRunId: string, flowState: State, now: Date): Promise<TaskRunRow[]> {
  const close = closeTaskRunsWith(flowState)
  if (!close) return []
  const open = await lockOpenTaskRuns(tx, flowRunId)
  if (open.length === 0) return []
  const closed = open
    .filter((t) => decideTaskRunTransition(t.state, close.state).status === 'accept')
    .map((t) => ({ ...t, state: close.state, message: close.reason, endTime: now, attemptLog: closeAttempts(t.attemptLog, close.state, now, close.reason) }))
  await upsertTaskRuns(tx, flowRunId, closed)
  return closed
}

function publishTaskRuns(bus: EventBus, flowRunId: string, rows: readonly TaskRunRow[]): void {
  if (rows.length === 0) return
  bus.publishBatch(
    rows.map((t) => ({ type: 'task-run' as const, flowRunId, taskRun: t })),
    { type: 'task-run', flowRunId, taskRun: undefined },
  )
}

/**
 * A run that leaves the active states frees its flow's slot, its pool slots and its backfill's slot
 * (they are counted from states, so nothing is written for them); its task slot rows go. Whoever
 * waits is woken: agents (a queued run may be claimable now) and tasks waiting for the pools.
 */
async function freeSlots(tx: Queryable, run: LockedRun, to: State): Promise<RotaEvent[]> {
  if (!ACTIVE_STATES.has(run.state) || ACTIVE_STATES.has(to)) return []
  const pools = new Set(isTerminal(to) ? await releaseRunSlots(tx, run.id) : [])
  if (run.pool) pools.add(run.pool)
  const events: RotaEvent[] = [...pools].map((pool) => ({ type: 'pool' as const, pool }))
  if (run.limited || run.backfillId || pools.size > 0) events.push({ type: 'runs-available' })
  return events
}

/** The effects an accepted transition asked for, in its transaction; returns the events they make. */
async function runEffects(tx: Queryable, run: LockedRun, effects: readonly Effect[]): Promise<RotaEvent[]> {
  const events: RotaEvent[] = []
  for (const effect of effects) {
    if (effect.kind === 'retry') {
      const id = await createRetry(tx, run, effect.delayMs)
      events.push({ type: 'runs-available' }, { type: 'flow-run', flowRunId: id, flowId: run.flowId, state: 'scheduled' })
    } else if (effect.kind === 'cancel-runs') {
      for (const id of effect.runIds) events.push(...(await transitionRun(tx, id, { state: 'cancelling', message: effect.message, by: { kind: 'server' } })).events)
    } else if (effect.kind === 'end-children') {
      for (const id of await listOpenChildren(tx, run.id)) events.push(...(await transitionRun(tx, id, { state: effect.state, message: effect.message, by: { kind: 'server' } })).events)
    }
  }
  return events
}

/** A retry is a new run (attempt + 1) with the same parameters, pointing at the run it retries. */
function createRetry(tx: Queryable, run: LockedRun, delayMs: number): Promise<string> {
  return insertFlowRun(tx, {
    flowId: run.flowId,
    name: runName(),
    parameters: run.parameters,
    scheduledStartTime: new Date(Date.now() + delayMs),
    flowVersion: run.version,
    attempt: run.attempt + 1,
    retryOf: run.id,
    message: `retry ${run.attempt + 1} of run ${run.id}`,
    priority: run.priority,
    backfillId: run.backfillId,
  })
}

/** What metrics and automations need of a run that changed state (events.ts RunFacts). */
function runFacts(run: { flowName: string; scheduledStartTime: Date | string }, times: { startTime: Date | string | null; endTime: Date | string | null }): RunFacts {
  const iso = (t: Date | string | null) => (t === null ? null : new Date(t).toISOString())
  return { flowName: run.flowName, scheduledStartTime: new Date(run.scheduledStartTime).toISOString(), startTime: iso(times.startTime), endTime: iso(times.endTime) }
}

/**
 * Publishes events made in a committed transaction: wake-ups once each (a claim may wake agents
 * twice), and a run's task runs as one batch (one notice to the other replicas).
 */
export function publishAll(bus: EventBus, events: readonly RotaEvent[]): void {
  const seen = new Set<string>()
  const taskRuns = new Map<string, TaskRunRow[]>()
  for (const e of events) {
    if (e.type === 'task-run' && e.taskRun) {
      const list = taskRuns.get(e.flowRunId) ?? []
      list.push(e.taskRun as TaskRunRow)
      taskRuns.set(e.flowRunId, list)
    }
  }
  for (const [flowRunId, rows] of taskRuns) publishTaskRuns(bus, flowRunId, rows)
  for (const e of events) {
    if (e.type === 'task-run' && e.taskRun) continue
    const key = e.type === 'runs-available' ? e.type : e.type === 'pool' ? `pool:${e.pool}` : undefined
    if (key !== undefined) {
      if (seen.has(key)) continue
      seen.add(key)
    }
    bus.publish(e)
  }
}

/** Runs a run again now, as a new run (POST /flow-runs/{id}/retry): the same effect as the policy's retries. */
export async function retryFlowRun(db: Db, bus: EventBus, flowRunId: string): Promise<FlowRunRow> {
  const events = await db.transaction(async (tx) => {
    const locked = await lockRun(tx, flowRunId)
    if (!locked) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    return runEffects(tx, locked, [{ kind: 'retry', delayMs: 0 }])
  })
  publishAll(bus, events)
  const created = events.find((e): e is Extract<RotaEvent, { type: 'flow-run' }> => e.type === 'flow-run')
  return (await getFlowRun(db, (created as { flowRunId: string }).flowRunId)) as FlowRunRow
}

/** A new run of a flow (Quick Run), scheduled for `at` (default now). */
export async function createFlowRun(
  db: Db,
  bus: EventBus,
  flow: { id: string; version: string },
  input: { parameters: Record<string, unknown>; scheduledStartTime?: Date | undefined; priority?: number | undefined },
): Promise<FlowRunRow> {
  const run = await insertFlowRunRow(db, {
    flowId: flow.id,
    name: runName(),
    parameters: input.parameters,
    scheduledStartTime: input.scheduledStartTime ?? new Date(),
    flowVersion: flow.version,
    message: 'created',
    priority: input.priority ?? 0,
  })
  bus.publish({ type: 'runs-available' })
  bus.publish({ type: 'flow-run', flowRunId: run.id, flowId: flow.id, state: run.state })
  return run
}

/**
 * Claims up to `limit` due runs for an agent. The due runs are locked with SKIP LOCKED (two agents
 * never get the same run, and neither waits for the other); each goes through the policy as the
 * agent's proposal of `pending`, like any other change, with the limits it must fit in read under
 * their locks (limits.ts): a run of a flow at its maxActiveRuns waits with a reason, ends skipped, or
 * has the running one cancelled; a run whose pool or backfill is full waits with a reason. Runs due
 * within `prefetchMs` are claimed early so the agent can start them on the dot
 * (no-start-before-scheduled-time keeps them from starting sooner).
 */
export async function claimRuns(db: Db, bus: EventBus, agent: { id: string; labels: string[] }, limit: number, prefetchMs: number): Promise<ClaimedRunRow[]> {
  if (limit <= 0) return []
  const proposal: Proposal = { state: 'pending', by: { kind: 'agent', agentId: agent.id } }
  const { claimed, events } = await db.transaction(async (tx) => {
    const due = await lockClaimableRuns(tx, agent.labels, limit, prefetchMs)
    const book = await ClaimLimitBook.load(tx, due, { lock: true })
    const now = new Date()
    const accepted: string[] = []
    const waiting: { id: string; message: string }[] = []
    const events: RotaEvent[] = []
    for (const run of due) {
      const verdict = decideFlowRunTransition({ ...run, limits: book.limitsFor(run) }, proposal, now)
      if (verdict.status === 'accept' && verdict.state === 'pending') {
        book.take(run)
        accepted.push(run.id)
        for (const effect of verdict.effects ?? []) if (effect.kind === 'cancel-runs') book.cancelled(run.flowId, effect.runIds)
        events.push(...(await runEffects(tx, run, verdict.effects ?? [])))
      } else if (verdict.status === 'accept') {
        // another state instead of the claim (overlap 'skip'): written like any accepted state
        const times = await writeRunState(tx, run, verdict.state, verdict.message ?? null, verdict.message ?? 'by agent', isTerminal(verdict.state))
        events.push({ type: 'flow-run', flowRunId: run.id, flowId: run.flowId, state: verdict.state, facts: runFacts(run, times) })
      } else if (verdict.status === 'wait') {
        waiting.push({ id: run.id, message: verdict.reason })
        for (const effect of verdict.effects ?? []) if (effect.kind === 'cancel-runs') book.cancelled(run.flowId, effect.runIds)
        events.push(...(await runEffects(tx, run, verdict.effects ?? [])))
      }
    }
    const rows = await markClaimed(tx, accepted, agent.id)
    await insertStateHistory(tx, rows.map((r) => r.id), 'scheduled', 'pending', `claimed by agent ${agent.id}`)
    for (const r of await noteWaiting(tx, waiting)) events.push({ type: 'flow-run', flowRunId: r.id, flowId: r.flowId, state: 'scheduled' })
    // in the order the policy accepted them: highest priority first
    rows.sort((a, b) => accepted.indexOf(a.id) - accepted.indexOf(b.id))
    return { claimed: rows, events }
  })
  for (const r of claimed) {
    const facts = { flowName: r.flowName, scheduledStartTime: new Date(r.scheduledStartTime).toISOString(), startTime: null, endTime: null }
    bus.publish({ type: 'flow-run', flowRunId: r.id, flowId: r.flowId, state: 'pending', facts })
  }
  publishAll(bus, events)
  return claimed.map(({ flowId: _flowId, ...r }) => r)
}

// --- task runs -------------------------------------------------------------------------------

export interface TaskEventInput {
  taskRunId: string
  taskKey: string
  taskName: string
  position: number
  state: State
  message?: string | null | undefined
  stack?: string | null | undefined
  inputs?: readonly string[] | undefined
  attempts: number
  time: Date
  mapIndex?: number | null | undefined
}

/**
 * Applies a batch of task-run events from a flow's process. Events for one task arrive in order;
 * they are folded in memory and each task run is written once per batch (a batch of 80 events for
 * 40 tasks is 2 statements, not 80).
 */
export async function applyTaskEvents(
  db: Db,
  bus: EventBus,
  flowRunId: string,
  events: readonly TaskEventInput[],
): Promise<{ applied: number; rejected: { index: number; reason: string }[] }> {
  const rejected: { index: number; reason: string }[] = []
  const rows = await db.transaction(async (tx) => {
    // Locked against the run ending meanwhile: its end closes its task runs, and none may start after.
    const flowState = await lockRunForTaskEvents(tx, flowRunId)
    if (!flowState) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    const current = await lockTaskRuns(tx, flowRunId, [...new Set(events.map((e) => e.taskKey))])
    const byKey = new Map<string, TaskRunRow>(current.map((t) => [t.taskKey, t]))
    const touched = new Set<string>()
    events.forEach((e, index) => {
      const prev = byKey.get(e.taskKey)
      const verdict = decideTaskRunTransition(prev?.state, e.state, flowState)
      if (verdict.status !== 'accept') {
        rejected.push({ index, reason: verdict.status === 'reject' ? verdict.reason : 'rejected' })
        return
      }
      byKey.set(e.taskKey, {
        id: prev?.id ?? e.taskRunId,
        flowRunId,
        taskKey: e.taskKey,
        taskName: e.taskName,
        position: prev?.position ?? e.position,
        state: e.state,
        message: e.message ?? null,
        attempts: Math.max(prev?.attempts ?? 0, e.attempts),
        startTime: prev?.startTime ?? (e.state === 'running' ? e.time : null),
        endTime: isTerminal(e.state) ? e.time : null,
        mapIndex: prev?.mapIndex ?? e.mapIndex ?? null,
        // The stack of the failure that ended or is retrying the task; a new attempt clears it.
        stack: e.state === 'running' ? null : (e.stack ?? (e.state === 'success' ? null : (prev?.stack ?? null))),
        inputs: e.inputs ? [...e.inputs] : (prev?.inputs ?? []),
        attemptLog: recordAttempt(prev?.attemptLog ?? [], e),
      })
      touched.add(e.taskKey)
    })
    const changed = [...touched].map((k) => byKey.get(k) as TaskRunRow)
    await upsertTaskRuns(tx, flowRunId, changed)
    return changed
  })
  publishTaskRuns(bus, flowRunId, rows)
  return { applied: events.length - rejected.length, rejected }
}
