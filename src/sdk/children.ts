/**
 * A flow called from another flow's body: `await otherFlow({ n: 2 })` runs it as a child run. The
 * child is its own run on the server (own tasks, logs and result, `parentRunId` on it) and is
 * executed here, inside the parent's process: it takes no agent slot, so a parent waiting for its
 * child can never deadlock an agent whose slots are all held by parents. It is awaited, and its
 * return value is what the call returns; a child that does not succeed makes the call throw a
 * ChildFlowError. Stopping the parent stops the child; cancelling the child fails the call.
 */
import { randomUUID } from 'node:crypto'
import type { Scope } from './context.ts'
import type { FlowDefinition } from './flow.ts'
import { ChildFlowError } from './control.ts'
import { runFlow, type FlowOutcome } from './runtime.ts'
import { resolveParameters } from '../core/parameters.ts'
import { runName } from '../core/names.ts'

export async function callFlow(flow: FlowDefinition, parameters: Record<string, unknown>, scope: Scope): Promise<unknown> {
  const parent = scope.runScope
  const control = parent.control
  let outcome: FlowOutcome
  let id: string
  if (!control) {
    // No server (`rota run --local`): the child runs inline, reported with its parent's reporter.
    id = randomUUID()
    outcome = await runFlow(flow, {
      flowRunId: id,
      flowRunName: runName(),
      parameters: resolveParameters(flow.parameters, parameters),
      reporter: parent.reporter,
      signal: parent.run.signal,
      secrets: parent.secrets,
    })
  } else {
    const child = await control.startChild({ parentRunId: parent.run.flowRunId, flowName: flow.name, parameters, signal: parent.run.signal })
    id = child.id
    outcome = await runFlow(flow, {
      flowRunId: child.id,
      flowRunName: child.name,
      parameters: child.parameters,
      scheduledStartTime: child.scheduledStartTime,
      reporter: child.reporter,
      signal: child.signal,
      secrets: parent.secrets,
      control: child.control,
      expectedTasks: child.expectedTasks,
    })
    await child.finish(outcome)
  }
  if (outcome.state !== 'success') throw new ChildFlowError(flow.name, id, outcome.state, `child run ${id} of flow ${flow.name} ended ${outcome.state}: ${outcome.message}`)
  return outcome.result
}
