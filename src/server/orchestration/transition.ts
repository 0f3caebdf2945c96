/**
 * The one place where flow-run and task-run states change. Each change locks the run row, asks the
 * policy (rules.ts), writes the state, its history and the effects the policy asked for (a retry
 * run) in one transaction, and publishes events after commit. Creating a run is here too: it is
 * the first state of a run.
 */
import type { Db, Queryable } from '../db/index.ts'
import type { EventBus, RunFacts } from '../events.ts'
import { getFlowRun, insertFlowRun, insertStateHistory, lockRun, lockRunForTaskEvents, recordSeenTasks, writeRunState, type FlowRunRow, type LockedRun } from '../store/runs.ts'
import { lockClaimableRuns, markClaimed, type ClaimedRunRow } from '../store/queue.ts'
import { lockOpenTaskRuns, lockTaskRuns, upsertTaskRuns, type TaskRunRow } from '../store/task-runs.ts'
import { closeTaskRunsWith, decideFlowRunTransition, decideTaskRunTransition, type Effect, type Proposal, type Verdict } from './rules.ts'
import { closeAttempts, recordAttempt } from './attempts.ts'
import { isTerminal, type State } from '../../core/states.ts'
import { runName } from '../../core/names.ts'

export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

export interface TransitionResult {
  verdict: Verdict & { rule?: string }
  run: FlowRunRow
}

/** Proposes a state for a flow run; the policy decides, and the answer says what it decided. */
export async function setFlowRunState(db: Db, bus: EventBus, flowRunId: string, proposal: Proposal): Promise<TransitionResult> {
  const outcome = await db.transaction(async (tx) => {
    const locked = await lockRun(tx, flowRunId)
    if (!locked) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    const verdict = decideFlowRunTransition(locked, proposal)
    let created: string[] = []
    let closed: TaskRunRow[] = []
    if (verdict.status === 'accept') {
      const history = verdict.message ?? (proposal.by.kind === 'agent' ? 'by agent' : `by ${proposal.by.kind}`)
      const endTime = await writeRunState(tx, locked, verdict.state, verdict.message ?? null, history, isTerminal(verdict.state))
      if (isTerminal(verdict.state)) {
        closed = await closeTaskRuns(tx, flowRunId, verdict.state, endTime ? new Date(endTime) : new Date())
        await recordSeenTasks(tx, locked.flowId, flowRunId, verdict.state === 'success')
      }
      created = await runEffects(tx, locked, verdict.effects ?? [])
    }
    return { verdict, created, closed, flowId: locked.flowId }
  })
  const run = await getFlowRun(db, flowRunId)
  if (!run) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
  if (outcome.verdict.status === 'accept') {
    publishTaskRuns(bus, flowRunId, outcome.closed)
    bus.publish({ type: 'flow-run', flowRunId, flowId: run.flowId, state: run.state, facts: runFacts(run) })
    publishCreated(bus, outcome.flowId, outcome.created)
  }
  return { verdict: outcome.verdict, run }
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

/** The effects an accepted transition asked for, in its transaction; returns the runs they created. */
async function runEffects(tx: Queryable, run: LockedRun, effects: readonly Effect[]): Promise<string[]> {
  const created: string[] = []
  for (const effect of effects) {
    if (effect.kind === 'retry') created.push(await createRetry(tx, run, effect.delayMs))
  }
  return created
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
  })
}

function runFacts(run: FlowRunRow): RunFacts {
  const iso = (t: Date | null) => (t === null ? null : new Date(t).toISOString())
  return { flowName: run.flowName, scheduledStartTime: new Date(run.scheduledStartTime).toISOString(), startTime: iso(run.startTime), endTime: iso(run.endTime) }
}

function publishCreated(bus: EventBus, flowId: string, ids: readonly string[]): void {
  if (ids.length === 0) return
  bus.publish({ type: 'runs-available' })
  for (const id of ids) bus.publish({ type: 'flow-run', flowRunId: id, flowId, state: 'scheduled' })
}

/** Runs a run again now, as a new run (POST /flow-runs/{id}/retry): the same effect as the policy's retries. */
export async function retryFlowRun(db: Db, bus: EventBus, flowRunId: string): Promise<FlowRunRow> {
  const { created, flowId } = await db.transaction(async (tx) => {
    const locked = await lockRun(tx, flowRunId)
    if (!locked) throw new NotFoundError(`flow run ${flowRunId} does not exist`)
    return { created: await runEffects(tx, locked, [{ kind: 'retry', delayMs: 0 }]), flowId: locked.flowId }
  })
  publishCreated(bus, flowId, created)
  return (await getFlowRun(db, created[0] as string)) as FlowRunRow
}

/** A new run of a flow (Quick Run), scheduled for `at` (default now). */
export async function createFlowRun(
  db: Db,
  bus: EventBus,
  flow: { id: string; version: string },
  input: { parameters: Record<string, unknown>; scheduledStartTime?: Date | undefined },
): Promise<FlowRunRow> {
  const id = await db.transaction((tx) =>
    insertFlowRun(tx, { flowId: flow.id, name: runName(), parameters: input.parameters, scheduledStartTime: input.scheduledStartTime ?? new Date(), flowVersion: flow.version, message: 'created' }),
  )
  const run = (await getFlowRun(db, id)) as FlowRunRow
  bus.publish({ type: 'runs-available' })
  bus.publish({ type: 'flow-run', flowRunId: id, flowId: flow.id, state: run.state })
  return run
}

/**
 * Claims up to `limit` due runs for an agent. The due runs are locked with SKIP LOCKED (two agents
 * never get the same run, and neither waits for the other); each goes through the policy as the
 * agent's proposal of `pending`, like any other change. Runs due within `prefetchMs` are claimed
 * early so the agent can start them on the dot (no-start-before-scheduled-time keeps them from
 * starting sooner).
 */
export async function claimRuns(db: Db, bus: EventBus, agent: { id: string; labels: string[] }, limit: number, prefetchMs: number): Promise<ClaimedRunRow[]> {
  if (limit <= 0) return []
  const proposal: Proposal = { state: 'pending', by: { kind: 'agent', agentId: agent.id } }
  const claimed = await db.transaction(async (tx) => {
    const due = await lockClaimableRuns(tx, agent.labels, limit, prefetchMs)
    const now = new Date()
    const accepted = due.filter((run) => {
      const verdict = decideFlowRunTransition(run, proposal, now)
      return verdict.status === 'accept' && verdict.state === 'pending'
    })
    const rows = await markClaimed(tx, accepted.map((r) => r.id), agent.id)
    await insertStateHistory(tx, rows.map((r) => r.id), 'scheduled', 'pending', `claimed by agent ${agent.id}`)
    return rows
  })
  for (const r of claimed) {
    const facts = { flowName: r.flowName, scheduledStartTime: new Date(r.scheduledStartTime).toISOString(), startTime: null, endTime: null }
    bus.publish({ type: 'flow-run', flowRunId: r.id, flowId: r.flowId, state: 'pending', facts })
  }
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
