/**
 * Fan-out: one call per item, at most `concurrency` at once, results in item order. After a failure
 * no new item starts; the items in flight end, then the map throws the first failure (the items
 * never started are reported through `notStarted`). With `returnErrors`, every item runs and a
 * failed item's place in the results holds its error.
 */
export interface MapOptions {
  /** Items running at once; default 4. */
  concurrency?: number
  /** Return errors in place instead of failing the map. */
  returnErrors?: boolean
}

export const DEFAULT_MAP_CONCURRENCY = 4

export async function mapItems<I, R>(
  items: Iterable<I>,
  options: MapOptions,
  call: (item: I, index: number) => Promise<R>,
  context: {
    taskName: string
    signal?: AbortSignal | undefined
    notStarted?: ((index: number, reason: string) => void) | undefined
    /** The error the map throws for the first failed item. */
    failed?: ((error: unknown, index: number, total: number) => unknown) | undefined
  },
): Promise<(R | Error)[]> {
  if (items === null || items === undefined || typeof (items as Iterable<I>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${context.taskName}.map() needs a list (an iterable) of items, got ${items === null ? 'null' : typeof items}`)
  }
  const concurrency = options.concurrency ?? DEFAULT_MAP_CONCURRENCY
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`${context.taskName}.map(): concurrency must be a whole number >= 1, got ${String(concurrency)}`)
  const list = [...items]
  const results: (R | Error)[] = new Array<R | Error>(list.length)
  let next = 0
  let failure: { index: number; error: unknown } | undefined
  const stopped = () => failure !== undefined || context.signal?.aborted === true
  const worker = async () => {
    while (!stopped() && next < list.length) {
      const index = next++
      try {
        results[index] = await call(list[index] as I, index)
      } catch (error) {
        if (options.returnErrors) results[index] = error instanceof Error ? error : new Error(String(error))
        else failure ??= { index, error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker))
  if (next < list.length) {
    const reason = failure ? `not started: item ${failure.index} failed and the map stopped` : 'not started: the flow run was cancelled'
    for (let index = next; index < list.length; index++) context.notStarted?.(index, reason)
  }
  if (failure) throw context.failed ? context.failed(failure.error, failure.index, list.length) : failure.error
  return results
}
