/** The one retry and backoff helper (src/core/backoff.ts): delays by policy, retry gives up when told. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { backoffDelay, retry } from '../../src/core/backoff.ts'

describe('backoffDelay', () => {
  it('grows by its factor from the base and never passes the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay({ baseMs: 500, maxMs: 10_000 }, n)), [500, 1000, 2000, 4000, 8000, 10_000])
    assert.deepEqual([1, 2, 3].map((n) => backoffDelay({ baseMs: 250, maxMs: Infinity, factor: 1 }, n)), [250, 250, 250])
  })
  it('is finite, non-negative, capped and never shrinks as failures add up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 600_000 }), fc.double({ min: 1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), (baseMs, maxMs, factor, n) => {
        const policy = { baseMs, maxMs, factor }
        const d = backoffDelay(policy, n)
        assert.ok(Number.isFinite(d) && d >= 0 && d <= maxMs)
        assert.ok(backoffDelay(policy, n + 1) >= d)
      }),
    )
  })
})

describe('retry', () => {
  it('retries until success, with the waits of its policy', async () => {
    const waits: number[] = []
    const result = await retry(
      async (attempt) => {
        if (attempt < 3) throw new Error(`fail ${attempt}`)
        return attempt
      },
      { policy: { baseMs: 1, maxMs: 10 }, onRetry: (_e, _n, delay) => waits.push(delay) },
    )
    assert.equal(result, 3)
    assert.deepEqual(waits, [1, 2])
  })
  it('gives up on a failure that is not retryable, and after its attempts', async () => {
    let calls = 0
    await assert.rejects(retry(async () => { calls++; throw new Error('fatal') }, { policy: { baseMs: 1, maxMs: 1 }, retryable: () => false }), /fatal/)
    assert.equal(calls, 1)
    calls = 0
    await assert.rejects(retry(async () => { calls++; throw new Error(`no ${calls}`) }, { policy: { baseMs: 1, maxMs: 1 }, attempts: 4 }), /no 4/)
    assert.equal(calls, 4)
  })
  it('stops when its signal aborts', async () => {
    const stop = new AbortController()
    let calls = 0
    await assert.rejects(
      retry(async () => {
        if (++calls === 2) stop.abort()
        throw new Error(`down ${calls}`)
      }, { policy: { baseMs: 5, maxMs: 5 }, signal: stop.signal }),
      /down 2/,
    )
  })
})
