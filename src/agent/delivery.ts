/**
 * The retry policy for what a run process and an agent send to the server:
 * - a 4xx will not get better by sending it again (the request is wrong): it is not retried;
 * - 5xx and network errors (a server restarting, a proxy hiccup) are retried with a capped,
 *   jittered exponential backoff (core/backoff.ts), for as long as the caller allows (its give-up time).
 */
import { ApiError } from '../client/index.ts'
import { backoffDelay, retry } from '../core/backoff.ts'

/** Default give-up time: how long a run keeps going while nothing it reports reaches the server. */
export const DEFAULT_GIVE_UP_MS = 5 * 60_000

/** 200 ms doubling to 5 s. */
const POLICY = { baseMs: 200, maxMs: 5000 } as const

/** True when the same request may succeed later: network errors and 5xx. */
export function retryable(err: unknown): boolean {
  return !(err instanceof ApiError) || err.status >= 500
}

/** Wait before attempt `attempt + 1`, with jitter so that many run processes do not stampede a restarted server. */
export function backoffMs(attempt: number): number {
  return Math.round(backoffDelay(POLICY, attempt) * (0.75 + Math.random() * 0.5))
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
export function retryUntilDelivered<T>(call: () => Promise<T>, options: RetryOptions): Promise<T> {
  return retry(() => call(), {
    policy: POLICY,
    deadlineMs: options.giveUpMs,
    retryable,
    ...(options.signal ? { signal: options.signal } : {}),
    onRetry: (err, failures) => {
      if (failures === 1 || failures % 10 === 0) options.onRetry?.(err as Error, failures)
    },
  })
}
