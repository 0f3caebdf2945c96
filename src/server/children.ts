/**
 * Child flow runs: a flow's body calls another flow (`await otherFlow({ n: 2 })`), and the child is
 * a run of its own (own tasks, logs, result; `parentRunId` points at the parent), executed inside
 * the parent's process (src/sdk/children.ts): it needs no agent slot, so a parent waiting for its
 * child can never deadlock an agent whose slots are all taken by parents. It follows its parent:
 * cancelled with it, ended with it (children-follow-their-parent), and it is judged by its parent's
 * heartbeat, not its own.
 */
import type { Db } from './db/index.ts'
import type { EventBus } from './events.ts'
import { flowTasks, getFlow } from './store/flows.ts'
import { getExecution, getFlowRun, insertFlowRun, lockRun, type FlowRunRow } from './store/runs.ts'
import { ConflictError, InvalidRequestError, NotFoundError, publishAll, transitionRun } from './orchestration/transition.ts'
import { runCredentials } from './store/run-tokens.ts'
import { runRedactor } from './run-access.ts'
import { resolveParameters, type ParameterSpec } from '../core/parameters.ts'
import { runName } from '../core/names.ts'
import type { State } from '../core/states.ts'

export interface ChildExecution {
  run: FlowRunRow
  entrypoint: string
  specs: ParameterSpec[]
  overrides: Record<string, unknown>
  /** The child flow's tasks (declared, or learned from its runs): those it never reaches are recorded as skipped. */
  tasks: string[]
}

/** Creates (or, for a resent request, finds) the child run `id` of `parentRunId` and starts it: pending, then its parent's process proposes running. */
export async function startChildRun(db: Db, bus: EventBus, parentRunId: string, req: { id: string; flow: string; parameters: Record<string, unknown> }): Promise<ChildExecution> {
  const flow = await getFlow(db, req.flow)
  if (!flow) {
    throw new NotFoundError(`flow "${req.flow}" is not registered: a child flow run needs its flow on the server; export it from a registered file (rota register <file>, or package.json "rota.flows")`)
  }
  resolveParameters(flow.parameters, req.parameters) // names and types: a ParameterError is a 400
  await refuseParentSecrets(db, parentRunId, flow, req.parameters)
  // A child runs at once, inside its parent's process: it could not wait for its flow's limits
  // (waiting inside a parent that holds the same slot would never end), and running past them would break them.
  if (flow.maxActiveRuns !== null || flow.pool !== null) {
    const limit = flow.maxActiveRuns !== null ? `maxActiveRuns ${flow.maxActiveRuns}` : `the pool ${flow.pool}`
    throw new ConflictError(
      `flow ${flow.name} has ${limit}, so it cannot run as a child run (a child starts at once inside its parent's process and would not respect it); start it as a run of its own (POST /api/flows/${flow.name}/runs), or remove the limit`,
    )
  }
  const events = await db.transaction(async (tx) => {
    const parent = await lockRun(tx, parentRunId)
    if (!parent) throw new NotFoundError(`flow run ${parentRunId} does not exist`)
    const existing = await getFlowRun(tx, req.id)
    if (existing) {
      if (existing.parentRunId !== parentRunId || existing.flowId !== flow.id) throw new ConflictError(`run ${req.id} exists and is not a run of flow ${flow.name} started by run ${parentRunId}`)
      return []
    }
    if (parent.state !== 'running') throw new ConflictError(`run ${parent.name} is ${parent.state}: only a running run starts child runs`)
    await insertFlowRun(tx, {
      id: req.id,
      flowId: flow.id,
      name: runName(),
      parameters: req.parameters,
      scheduledStartTime: new Date(),
      flowVersion: flow.version,
      message: `started by run ${parent.name} (${parent.id})`,
      priority: parent.priority,
      parentRunId,
    })
    return (await transitionRun(tx, req.id, { state: 'pending', message: `runs inside the process of its parent run ${parent.name}`, by: { kind: 'server' } })).events
  })
  publishAll(bus, events)
  const run = (await getFlowRun(db, req.id)) as FlowRunRow
  const exec = (await getExecution(db, req.id)) as NonNullable<Awaited<ReturnType<typeof getExecution>>>
  return { run, entrypoint: exec.entrypoint, specs: exec.specs, overrides: exec.overrides, tasks: flowTasks(flow) }
}

/**
 * A parent's secret passed to its child as a parameter the child does not declare secret would be
 * shown on the child's page and in the API (its reports are redacted with the parent's secrets, the
 * parameters are not): refused (400), saying how to pass it.
 */
async function refuseParentSecrets(db: Db, parentRunId: string, flow: { name: string; parameters: ParameterSpec[] }, parameters: Record<string, unknown>): Promise<void> {
  const credentials = await runCredentials(db, parentRunId)
  if (!credentials) return
  const secrets = runRedactor(parentRunId, credentials)
  if (secrets.empty) return
  for (const spec of flow.parameters) {
    if (spec.secret || !(spec.name in parameters)) continue
    const value = parameters[spec.name]
    if (JSON.stringify(secrets.value(value)) !== JSON.stringify(value)) {
      throw new InvalidRequestError(
        `parameter "${spec.name}" of child flow ${flow.name} carries a secret value of its parent run, and the child run would show it: declare "${spec.name}" in ${flow.name}'s secretParameters`,
      )
    }
  }
}

/** Answers as soon as the run is no longer in `whileState`, or after `waitMs` (long-poll). */
export async function waitForRun(db: Db, bus: EventBus, id: string, whileState: State, waitMs: number, gone: AbortSignal): Promise<FlowRunRow> {
  const deadline = Date.now() + waitMs
  const done = new AbortController()
  const signal = AbortSignal.any([gone, done.signal])
  try {
    for (;;) {
      const changed = bus.waitFor((e) => e.type === 'flow-run' && e.flowRunId === id, Math.max(1, deadline - Date.now()), signal)
      const run = await getFlowRun(db, id)
      if (!run) throw new NotFoundError(`flow run ${id} does not exist`)
      if (run.state !== whileState || Date.now() >= deadline || signal.aborted) return run
      await changed
    }
  } finally {
    done.abort()
  }
}
