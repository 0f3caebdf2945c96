/**
 * Flow control, shared by the SDK (checks at definition), the server (the policy) and the dashboard:
 * what a run of a flow at its maxActiveRuns does, pool names, and the limits of results.
 */

/** What a new run of a flow at its maxActiveRuns does: wait for a slot, end skipped, or cancel the running one. */
export const OVERLAPS = Object.freeze(['queue', 'skip', 'cancel-running'] as const)
export type Overlap = (typeof OVERLAPS)[number]

/** A pool's name: like a flow's. */
export const POOL_NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/i

/** Slots a pool gets when a flow or a task names it before `rota pool set` did. */
export const DEFAULT_POOL_SLOTS = 1

/** Largest result (a flow function's return value, as JSON) kept with a run. */
export const MAX_RESULT_BYTES = 1024 * 1024

/** Most schedule times one backfill may cover. */
export const MAX_BACKFILL_TIMES = 10_000

export function isOverlap(value: unknown): value is Overlap {
  return typeof value === 'string' && (OVERLAPS as readonly string[]).includes(value)
}

/**
 * A flow function's return value as a run keeps it: JSON of at most MAX_RESULT_BYTES. Nothing is
 * kept for undefined; a value that is not JSON (a cycle, a BigInt) or too large is not kept, and
 * `problem` says why (the run's logs show it).
 */
export function storableResult(value: unknown): { result?: unknown; problem?: string } {
  if (value === undefined) return {}
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    return { problem: `the flow's return value is not kept: it is not JSON (${(err as Error).message})` }
  }
  if (text === undefined) return {}
  const bytes = new TextEncoder().encode(text).length
  if (bytes > MAX_RESULT_BYTES) return { problem: `the flow's return value is not kept: ${bytes} bytes of JSON, more than ${MAX_RESULT_BYTES} (keep large results in an artifact or a file)` }
  return { result: JSON.parse(text) as unknown }
}
