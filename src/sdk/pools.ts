/** A task's pool slot, taken through the run's control (src/sdk/control.ts) for one attempt. */
import type { RunScope } from './context.ts'
import type { SlotLease } from './control.ts'

/**
 * Waits until the task holds a slot of `pool` (undefined: the task uses no pool; without a server,
 * as in `rota run --local`, pools do not exist and nothing waits). `onWaiting` is told why it waits.
 */
export async function takeSlot(
  run: RunScope,
  pool: string | undefined,
  task: { taskRunId: string; taskKey: string; taskName: string },
  onWaiting: (message: string) => void,
): Promise<SlotLease | undefined> {
  if (pool === undefined || !run.control) return undefined
  return run.control.acquireSlot(
    { flowRunId: run.run.flowRunId, pool, taskRunId: task.taskRunId, taskKey: task.taskKey, taskName: task.taskName },
    onWaiting,
    run.run.signal,
  )
}
