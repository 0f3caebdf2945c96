/**
 * What a run's process offers the SDK besides reporting: pool slots for tasks and child runs for
 * flows called from a flow's body. The agent's run process gives a server-backed one
 * (src/agent/run-control.ts); `rota run --local` gives none (tasks take no slots, children run inline).
 */
import type { Reporter } from './context.ts'
import type { FlowOutcome } from './runtime.ts'

export interface SlotRequest {
  flowRunId: string
  pool: string
  taskRunId: string
  taskKey: string
  taskName: string
}

/** A held slot; release() gives it back (at most once, whatever the number of calls). */
export interface SlotLease {
  release(): Promise<void>
}

export interface ChildRunRequest {
  parentRunId: string
  flowName: string
  parameters: Record<string, unknown>
  /** The parent's: stopping the parent stops the child. */
  signal: AbortSignal
}

/** A child run, created on the server and started: the parent's process executes it. */
export interface ChildRun {
  id: string
  name: string
  /** Its effective parameters (the server's resolution, secrets included). */
  parameters: Record<string, unknown>
  scheduledStartTime: Date
  reporter: Reporter
  /** Aborted when the child is cancelled on the server or its parent is stopped. */
  signal: AbortSignal
  /** Reports the child's final state and result. */
  finish(outcome: FlowOutcome): Promise<void>
  /** The child's own control (its pool slots and children are asked for with its run token). */
  control: RunControl
  /** The flow's tasks as the server knows them: those the child never reaches are recorded as skipped. */
  expectedTasks: readonly string[]
}

export interface RunControl {
  /** Resolves once the task holds a slot of the pool; `onWaiting` says why it waits, each time that changes. */
  acquireSlot(request: SlotRequest, onWaiting: (message: string) => void, signal: AbortSignal): Promise<SlotLease>
  startChild(request: ChildRunRequest): Promise<ChildRun>
}

/** A child run that did not succeed: the parent's `await otherFlow()` throws it. */
export class ChildFlowError extends Error {
  override name = 'ChildFlowError'
  constructor(
    readonly flowName: string,
    readonly flowRunId: string,
    readonly state: string,
    message: string,
  ) {
    super(message)
  }
}
