/**
 * The one retry and backoff helper. Every loop that waits after a failure (the server's periodic
 * jobs, the agent's poll, a run process's reports and control calls, the Docker launcher's wait,
 * the dashboard's event stream, task retries) takes its delays from `backoffDelay`, so the policy
 * of each is one line of numbers, not a hand-rolled loop.
 *
 * Pure and free of Node APIs: the dashboard bundle uses it too.
 */

export interface BackoffPolicy {
  /** The wait after the first failure. */
  readonly baseMs: number
  /** No wait is longer than this. */
  readonly maxMs: number
  /** Each further failure multiplies the wait by this (default 2; 1 is a fixed delay). */
  readonly factor?: number
}

/** The wait after `failures` consecutive failures (1 = the first): base * factor^(failures-1), capped. */
export function backoffDelay(policy: BackoffPolicy, failures: number): number {
  const n = Math.max(1, Math.floor(failures))
  const factor = policy.factor ?? 2
  // Bounded exponent: 2^60 ms is already beyond any cap, and it keeps the number finite.
  const raw = policy.baseMs * factor ** Math.min(n - 1, 60)
  return Math.max(0, Math.min(policy.maxMs, raw))
}

/** Waits `ms`; resolves early (never rejects) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const onAbort = () => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface RetryOptions {
  policy: BackoffPolicy
  /** Give up after this many attempts in all (default: no limit). */
  attempts?: number
  /** Give up when a failure comes this long after the first attempt started (default: no limit). */
  deadlineMs?: number
  /** Whether a failure is worth another attempt (default: every failure is). */
  retryable?: (error: unknown) => boolean
  /** Told about each failure that will be retried, before the wait. */
  onRetry?: (error: unknown, failures: number, delayMs: number) => void
  /** Stops retrying: the last failure is thrown. */
  signal?: AbortSignal
}

/** Calls `fn` until it succeeds; waits by the policy between failures; throws the last failure when it gives up. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      const giveUp =
        (options.retryable && !options.retryable(error)) ||
        (options.attempts !== undefined && attempt >= options.attempts) ||
        (options.deadlineMs !== undefined && Date.now() - started > options.deadlineMs) ||
        options.signal?.aborted === true
      if (giveUp) throw error
      const delay = backoffDelay(options.policy, attempt)
      options.onRetry?.(error, attempt, delay)
      await sleep(delay, options.signal)
    }
  }
}
