/**
 * The client's kept-alive connections: a request that leaves on a connection the server has just
 * closed goes again on a new one, once the server has dropped it; a request that reached a server
 * which then failed is not sent twice. And a run's start: proposing `running` with `withExecution`
 * answers with what the run executes (one request a run less).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { Socket } from 'node:net'
import { RotaClient, ServerUnreachableError } from '../../src/client/index.ts'
import { DB_KIND, startHarness } from '../helpers/rota.ts'

describe('client connections', { skip: DB_KIND === 'pglite' ? false : 'no database involved: runs in the PGlite pass only' }, () => {
  let server: http.Server
  let url: string
  /** Requests the server saw, by path. */
  const seen = new Map<string, number>()
  /** Requests served on each connection. */
  const served = new WeakMap<Socket, number>()

  before(async () => {
    server = http.createServer((req, res) => {
      const path = req.url ?? ''
      seen.set(path, (seen.get(path) ?? 0) + 1)
      const n = (served.get(req.socket) ?? 0) + 1
      served.set(req.socket, n)
      // What a server closing an idle connection looks like to a request sent on it: a reset, no answer.
      if (path.startsWith('/stale') && n > 1) return req.socket.destroy()
      if (path.startsWith('/broken')) return req.socket.destroy()
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ path, n }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('sends a request again when its kept-alive connection was closed under it', async () => {
    const client = new RotaClient(url)
    // the first request opens a connection that stays in the pool; the second reuses it and is reset
    assert.deepEqual(await client.request('GET', '/stale/a'), { path: '/stale/a', n: 1 })
    const answer = await client.request<{ path: string; n: number }>('GET', '/stale/b')
    assert.deepEqual(answer, { path: '/stale/b', n: 1 }, 'answered on a fresh connection')
    assert.equal(seen.get('/stale/b'), 2, 'the reset attempt, then the one that was answered')
  })

  it('does not send again a request whose fresh connection failed', async () => {
    // a new client, but the pool is shared: wait until no idle connection is left to reuse
    const client = new RotaClient(url)
    server.closeIdleConnections()
    await new Promise((r) => setTimeout(r, 50))
    await assert.rejects(client.request('POST', '/broken', { x: 1 }), ServerUnreachableError)
    assert.equal(seen.get('/broken'), 1)
  })
})

describe("a run's start", () => {
  it('answers a proposal of running with the execution details when asked, and only then', async () => {
    const h = await startHarness()
    try {
      await h.register('test/fixtures/hello.ts')
      const agent = await h.client.registerAgent({ name: 'by-hand', type: 'local' })
      const [a, b] = [await h.client.createRun('hello', { n: 7 }), await h.client.createRun('hello', {})]
      const claimed = await h.client.poll(agent.id, { slots: 2, waitMs: 0 })
      assert.deepEqual(new Set(claimed.runs.map((r) => r.id)), new Set([a.id, b.id]))
      for (const r of claimed.runs) assert.equal(r.entrypoint, 'test/fixtures/hello.ts:default', 'the claim names the entrypoint (the agent hands it to the run)')
      // each run's process acts for it with its own token (run-access.test.ts: without it, nothing)
      const forRun = (id: string) => h.client.forRun(claimed.runs.find((r) => r.id === id)?.token as string)

      const started = await forRun(a.id).proposeState(a.id, 'running', undefined, undefined, { withExecution: true })
      assert.equal(started.verdict.status, 'accept')
      assert.deepEqual(started.execution && { ...started.execution, run: started.execution.run.id }, {
        run: a.id,
        entrypoint: 'test/fixtures/hello.ts:default',
        flowName: 'hello',
        parameters: { n: 7 },
        secretParameters: [],
        tasks: [],
      })
      // the same as GET .../execution, but for the run's duration, which grows meanwhile
      const steady = (e: typeof started.execution) => e && { ...e, run: { ...e.run, durationMs: 0 } }
      assert.deepEqual(steady(started.execution), steady(await forRun(a.id).execution(a.id)))

      const plain = await forRun(b.id).proposeState(b.id, 'running')
      assert.equal(plain.verdict.status, 'accept')
      assert.equal(plain.execution, undefined)
      // a proposal that is not accepted carries none either
      await h.client.cancelRun(a.id)
      const refused = await forRun(a.id).proposeState(a.id, 'running', undefined, undefined, { withExecution: true })
      assert.notEqual(refused.verdict.status, 'accept')
      assert.equal(refused.execution, undefined)
    } finally {
      await h.close()
    }
  })
})
