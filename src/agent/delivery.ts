/**
 * The one retry policy for what a run process and an agent send to the server:
 * - a 4xx will not get better by sending it again (the request is wrong): it is not retried;
 * - 5xx and network errors (a server restarting, a proxy hiccup) are retried with a capped,
 *   jittered exponential backoff, for as long as the caller allows (its give-up time).
 */
import { ApiError } from '../client/index.ts'

/** Default give-up time: how long a run keeps going while nothing it reports reaches the server. */
export const DEFAULT_GIVE_UP_MS = 5 * 60_000

/** True when the same request may succeed later: network errors and 5xx. */
export function retryable(err: unknown): boolean {
  return !(err instanceof ApiError) || err.status >= 500
}

/** Wait before attempt `attempt + 1`: 200 ms doubling to 5 s, with jitter so restarts are not stampeded. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 6))
  return Math.round(base * (0.75 + Math.random() * 0.5))
}

export interface RetryOptions {
  /** Give up once calls have failed for this long. */
  giveUpMs: number
  /** Stop retrying when aborted (the last error is thrown). */
  signal?: AbortSignal | undefined
  /** Called on the first failure and every tenth after it. */
  onRetry?: (err: Error, attempt: number) => void
}

/** Calls until it succeeds; throws at once on a 4xx, and the last error once failures lasted giveUpMs. */
export async function retryUntilDelivered<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  const since = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await call()
    } catch (err) {
      if (!retryable(err) || options.signal?.aborted) throw err
      const left = since + options.giveUpMs - Date.now()
      if (left <= 0) throw err
      if (attempt === 1 || attempt % 10 === 0) options.onRetry?.(err as Error, attempt)
      await new Promise((r) => setTimeout(r, Math.min(left, backoffMs(attempt))))
    }
  }
}
