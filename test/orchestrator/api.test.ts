/** The API through a real server and agent: Quick Run, task states, logs, skips, retries, cancel, secrets, bad input. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { claimRunToken, startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { RUN_TOKEN_HEADER } from '../../src/core/auth.ts'
import { MAX_LINE_BYTES } from '../../src/agent/output.ts'

let h: Harness
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-api-'))

before(async () => {
  h = await startHarness()
  await h.register('test/fixtures/hello.ts')
  await h.register('test/fixtures/flows.ts')
  await h.startAgent({ concurrency: 4 })
})
after(async () => {
  await h?.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

async function raw(method: string, p: string, body?: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(`${h.server.url}${p}`, { method, body, headers })
  const text = await res.text()
  return { status: res.status, text, json: (() => { try { return JSON.parse(text) as Record<string, unknown> } catch { return undefined } })() }
}

describe('health and OpenAPI', () => {
  it('answers health with the database kind', async () => {
    const health = await h.client.health()
    assert.equal(health.status, 'ok')
    assert.match(health.database, /pglite|postgres/)
  })
  it('documents the API', async () => {
    const doc = (await raw('GET', '/api/openapi.json')).json as { paths: Record<string, unknown> }
    for (const p of ['/api/health', '/api/flows', '/api/flows/{idOrName}', '/api/flows/{idOrName}/runs', '/api/flow-runs', '/api/flow-runs/{id}', '/api/flow-runs/{id}/cancel', '/api/flow-runs/{id}/task-runs', '/api/flow-runs/{id}/logs', '/api/agents', '/api/brt/vehicles']) {
      assert.ok(doc.paths[p], `missing ${p}`)
    }
  })
})

describe('Quick Run through server and agent', () => {
  it('runs a flow: states, task runs, logs and the run fields the dashboard needs', async () => {
    const created = await h.client.createRun('hello', { n: 4 })
    assert.equal(created.state, 'scheduled')
    assert.match(created.name, /^[a-z]+-[a-z]+$/)
    const run = await waitForRunState(h.client, created.id)
    assert.equal(run.state, 'success', run.stateMessage ?? '')
    for (const k of ['id', 'name', 'flowId', 'flowName', 'state', 'parameters', 'scheduledStartTime', 'startTime', 'endTime', 'late']) assert.ok(k in run, k)
    assert.deepEqual(run.parameters, { n: 4 })
    assert.equal(run.late, false)
    const tasks = (await h.client.taskRuns(run.id)).items
    assert.deepEqual(tasks.map((t) => [t.taskName, t.state, t.attempts]), [['extract', 'success', 1], ['transform', 'success', 1], ['load', 'success', 1]])
    for (const t of tasks) for (const k of ['id', 'taskName', 'state', 'attempts', 'startTime', 'endTime', 'message']) assert.ok(k in t, k)
    const logs = (await h.client.logs(run.id)).items.map((l) => `${l.taskName}:${l.message}`)
    assert.ok(logs.includes('extract:extracting 4 rows'), logs.join('\n'))
    assert.ok(logs.includes('transform:transforming 4 rows'), 'console.log inside a task is captured')
    const listed = await h.client.listRuns({ flow: 'hello', state: 'success', limit: 5 })
    assert.ok(listed.items.some((r) => r.id === run.id))
  })

  it('skips write-csv and everything fed by it; tasks never reached appear as skipped', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('skipping', { n: 3 })).id)
    assert.equal(run.state, 'success')
    const tasks = Object.fromEntries((await h.client.taskRuns(run.id)).items.map((t) => [t.taskName, t]))
    assert.equal(tasks.gather?.state, 'success')
    assert.equal(tasks['write-csv']?.state, 'skipped')
    assert.equal(tasks['write-csv']?.message, 'buffer has 3/10 captures')
    assert.equal(tasks.upload?.state, 'skipped')
    assert.equal(tasks.fails?.state, 'skipped')
    assert.equal(tasks.never?.state, 'skipped')

    const failed = await waitForRunState(h.client, (await h.client.createRun('skipping', { n: 12, fail: true })).id)
    assert.equal(failed.state, 'failed')
    const t2 = Object.fromEntries((await h.client.taskRuns(failed.id)).items.map((t) => [t.taskName, t]))
    assert.equal(t2.upload?.state, 'success')
    assert.equal(t2.fails?.state, 'failed')
    assert.equal(t2.fails?.message, 'boom')
    assert.match(t2.never?.message ?? '', /not reached/)
  })

  it('retries a task with its delay and reports the attempts', async () => {
    const counterFile = path.join(tmp, 'flaky.txt')
    const t0 = Date.now()
    const run = await waitForRunState(h.client, (await h.client.createRun('retrying', { counterFile })).id)
    assert.equal(run.state, 'success')
    assert.ok(Date.now() - t0 >= 2000, 'two retries of 1 s each')
    const [t] = (await h.client.taskRuns(run.id)).items
    assert.equal(t?.state, 'success')
    assert.equal(t?.attempts, 3)
    assert.equal(fs.readFileSync(counterFile, 'utf8'), '3')
  })

  it('cancels a running run: its process stops and the run ends cancelled', async () => {
    const created = await h.client.createRun('slow', { seconds: 60 })
    await waitForRunState(h.client, created.id, ['running'])
    await waitFor('a log line from the running task', async () => ((await h.client.logs(created.id)).items.length > 0 ? true : undefined))
    const t0 = Date.now()
    const cancelling = await h.client.cancelRun(created.id)
    assert.ok(['cancelling', 'cancelled'].includes(cancelling.state))
    const run = await waitForRunState(h.client, created.id, ['cancelled', 'crashed', 'failed', 'success'], 20_000)
    assert.equal(run.state, 'cancelled')
    assert.ok(Date.now() - t0 < 10_000, 'stopped within the kill grace period')
    const count = (await h.client.logs(created.id)).items.length
    await new Promise((r) => setTimeout(r, 1500))
    assert.equal((await h.client.logs(created.id)).items.length, count, 'no logs after the process was stopped')
    // a finished run cannot be cancelled again
    await assert.rejects(h.client.cancelRun(created.id), /cannot cancel/)
  })

  it('cancels a scheduled run at once', async () => {
    const res = await raw('POST', '/api/flows/hello/runs', JSON.stringify({ parameters: {}, scheduledStartTime: new Date(Date.now() + 3_600_000).toISOString() }))
    assert.equal(res.status, 201)
    const run = await h.client.cancelRun(String(res.json?.id))
    assert.equal(run.state, 'cancelled')
  })

  it('never shows secret parameters in the API or the logs', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('secretive', { token: 'tok-abcdef-123' })).id)
    assert.equal(run.state, 'success')
    assert.equal(run.parameters.token, '********')
    const logs = (await h.client.logs(run.id)).items.map((l) => l.message)
    assert.ok(logs.includes('using token ********'), logs.join('\n'))
    assert.ok(!JSON.stringify(await h.client.listRuns({ flow: 'secretive' })).includes('tok-abcdef-123'))
  })

  it("forwards what a run's process prints outside its tasks, a 4 MiB line cut to its start with a note, and the agent lives on", async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('loud', {})).id)
    assert.equal(run.state, 'success', run.stateMessage ?? '')
    const logs = await waitFor('the forwarded lines in the run logs', async () => {
      const { items } = await h.client.logs(run.id)
      return items.some((l) => l.message.includes('more bytes cut')) && items.some((l) => l.message === 'a short line on stderr') ? items : undefined
    })
    const big = logs.find((l) => l.message.includes('more bytes cut'))!
    assert.equal(big.level, 'info')
    assert.match(big.message, /^é+… \[[\d,]+ more bytes cut\]$/)
    assert.ok(Buffer.byteLength(big.message) <= MAX_LINE_BYTES + 64, `${Buffer.byteLength(big.message)} bytes kept`)
    assert.equal(logs.find((l) => l.message === 'a short line on stderr')?.level, 'warn')
    assert.equal((await waitForRunState(h.client, (await h.client.createRun('hello', { n: 1 })).id)).state, 'success')
  })

  it('shows the agent as active', async () => {
    const { items } = await h.client.listAgents()
    assert.ok(items.some((a) => a.status === 'active' && a.type === 'local'))
    for (const k of ['id', 'name', 'type', 'labels', 'lastHeartbeat', 'status']) assert.ok(k in (items[0] as object), k)
  })

  it('re-registering an unchanged flow changes nothing', async () => {
    const before = await h.client.getFlow('hello')
    const { registerFile } = await import('../../src/cli/register.ts')
    const [r] = await registerFile(h.client, 'test/fixtures/hello.ts')
    assert.equal(r?.status, 'unchanged')
    assert.equal((await h.client.getFlow('hello')).version, before.version)
  })
})

describe('artifacts', () => {
  it('keeps each kind, defaults to json, and refuses data that does not fit its kind', async () => {
    // Due in 30 s: this test's agent (prefetching 2 s) leaves it to the claim below, which gives its run token.
    const run = (await raw('POST', '/api/flows/hello/runs', JSON.stringify({ parameters: { n: 0 }, scheduledStartTime: new Date(Date.now() + 30_000).toISOString() }))).json as { id: string }
    const token = await claimRunToken(h.client, run.id)
    await h.client.cancelRun(run.id)
    const post = (body: unknown) => raw('POST', `/api/flow-runs/${run.id}/artifacts`, JSON.stringify(body), { 'content-type': 'application/json', [RUN_TOKEN_HEADER]: token })
    assert.equal((await post({ key: 'plain', data: { a: 1 } })).status, 201)
    assert.equal((await post({ key: 'csv', kind: 'link', data: { url: 'gs://lake/x.csv', text: 'x.csv' }, description: '3 rows' })).status, 201)
    assert.equal((await post({ key: 'rows', kind: 'table', data: { columns: ['a'], rows: [{ a: 1 }] } })).status, 201)
    assert.equal((await post({ key: 'files', kind: 'files', data: ['gs://lake/a.csv'] })).status, 201)
    assert.equal((await post({ key: 'notes', kind: 'markdown', data: '# hi', taskName: 'load' })).status, 201)
    const { items } = (await raw('GET', `/api/flow-runs/${run.id}/artifacts`)).json as { items: Array<{ key: string; kind: string; description: string | null; taskName: string | null }> }
    assert.deepEqual(items.map((a) => [a.key, a.kind, a.description, a.taskName]), [
      ['plain', 'json', null, null],
      ['csv', 'link', '3 rows', null],
      ['rows', 'table', null, null],
      ['files', 'files', null, null],
      ['notes', 'markdown', null, 'load'],
    ])
    for (const [body, message] of [
      [{ key: 'l', kind: 'link', data: 'gs://lake/x.csv' }, /data: link artifact/],
      [{ key: 't', kind: 'table', data: [{ a: 1 }] }, /data: table artifact/],
      [{ key: 'f', kind: 'files', data: [1] }, /data\.0: files artifact/],
      [{ key: 'm', kind: 'markdown', data: { text: 'x' } }, /markdown artifact/],
      [{ key: 'k', kind: 'picture', data: 1 }, /kind/],
    ] as const) {
      const res = await post(body)
      assert.equal(res.status, 400, res.text)
      assert.match((res.json?.error as { message: string }).message, message)
    }
  })
})

describe('bad input gets a 4xx with a message, never a 500 or a stack trace', () => {
  const cases: [string, string, string | undefined, number, RegExp][] = [
    ['GET', '/api/flows/no-such-flow', undefined, 404, /does not exist/],
    ['GET', '/api/flow-runs/not-a-uuid', undefined, 400, /UUID/],
    ['GET', '/api/flow-runs/00000000-0000-4000-8000-000000000000', undefined, 404, /does not exist/],
    ['GET', '/api/flow-runs?state=exploded', undefined, 400, /unknown state "exploded"/],
    ['GET', '/api/flow-runs?limit=abc', undefined, 400, /limit/],
    ['GET', '/api/flow-runs?limit=100000', undefined, 400, /limit/],
    ['GET', '/api/flow-runs?cursor=garbage', undefined, 400, /cursor/],
    ['POST', '/api/flows/hello/runs', '{"parameters": {"n": "four"}}', 400, /parameter "n" must be a number/],
    ['POST', '/api/flows/hello/runs', '{"parameters": {"bogus": 1}}', 400, /unknown parameter "bogus"/],
    ['POST', '/api/flows/hello/runs', '{"parameters": [1,2]}', 400, /parameters/],
    ['POST', '/api/flows/hello/runs', '{not json', 400, /JSON/i],
    ['POST', '/api/flows/hello/schedule', '{"active": "yes"}', 400, /active/],
    ['POST', '/api/flow-runs/00000000-0000-4000-8000-000000000000/cancel', undefined, 404, /does not exist/],
    ['POST', '/api/flows', '{"name": 5}', 400, /name/],
    ['POST', '/api/agents', '{"name": "a", "type": "spaceship"}', 400, /type/],
    ['GET', '/api/nope', undefined, 404, /no API route/],
  ]
  for (const [method, p, body, status, message] of cases) {
    it(`${method} ${p} ${body ?? ''} -> ${status}`, async () => {
      const res = await raw(method, p, body)
      assert.equal(res.status, status, res.text)
      const error = (res.json?.error as { message?: string } | undefined)?.message ?? ''
      assert.match(error, message)
      assert.doesNotMatch(res.text, /\n\s+at /, 'no stack trace')
    })
  }
  it('refuses an oversized body with 413', async () => {
    const res = await raw('POST', '/api/flows/hello/runs', JSON.stringify({ parameters: { n: 1 }, pad: 'x'.repeat(9 * 1024 * 1024) }))
    assert.equal(res.status, 413)
    assert.match(String((res.json?.error as { message?: string }).message), /too large/)
  })
})
