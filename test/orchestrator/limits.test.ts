/**
 * Issue 9, item 7, against a real server: a run's parameters are at most 256 KiB (413 with a
 * message, on Quick Run and on registration defaults); lists show summaries of big values while a
 * run's own page has them whole; an event-stream subscriber that stops reading is dropped, its
 * connection closed, while one that reads keeps everything.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { claimRun, startHarness, waitFor, type Harness } from '../helpers/rota.ts'
import type { FlowRun } from '../../src/client/index.ts'

const QUEUE = { maxEvents: 100_000, maxBytes: 1024 * 1024 }
let h: Harness
before(async () => {
  h = await startHarness({ server: { eventQueue: QUEUE } })
  // Never run (no agent here): only its parameters matter.
  const res = await post('/api/flows', {
    name: 'params',
    version: 'v1',
    entrypoint: 'test/fixtures/hello.ts:default',
    schedule: null,
    parameters: [
      { name: 'text', type: 'string', default: 'short', secret: false },
      { name: 'data', type: 'json', default: null, secret: false },
      { name: 'key', type: 'string', default: 'k'.repeat(40), secret: true },
    ],
    tasks: [],
    catchUp: 'all',
  })
  assert.equal(res.status, 200, res.text)
})
after(async () => {
  await h?.close()
})

async function post(p: string, body: unknown) {
  const res = await fetch(`${h.server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, text, json: JSON.parse(text) as Record<string, unknown> & { error?: { message: string } } }
}
const KiB = 1024

describe('parameter size', () => {
  it('refuses a run whose parameters exceed 256 KiB with 413 and a message, and takes one just under', async () => {
    for (const parameters of [{ text: 'x'.repeat(300 * KiB) }, { data: { rows: Array.from({ length: 30_000 }, (_, i) => ({ i })) } }, { text: 'é'.repeat(130 * KiB) }]) {
      const res = await post('/api/flows/params/runs', { parameters })
      assert.equal(res.status, 413, res.text.slice(0, 200))
      assert.match(String(res.json.error?.message), /take \d+(\.\d)? KiB as JSON; a run takes at most 256 KiB of parameters: pass a reference/)
      assert.ok(res.text.length < 1000, 'the answer does not echo the value')
    }
    assert.equal((await post('/api/flows/params/runs', { parameters: { text: 'x'.repeat(250 * KiB) } })).status, 201)
  })

  it('refuses a flow whose parameter defaults exceed 256 KiB', async () => {
    const res = await post('/api/flows', {
      name: 'fat-defaults',
      version: 'v1',
      entrypoint: 'test/fixtures/hello.ts:default',
      schedule: null,
      parameters: [{ name: 'blob', type: 'string', default: 'x'.repeat(300 * KiB), secret: false }],
      tasks: [],
      catchUp: 'all',
    })
    assert.equal(res.status, 413)
    assert.match(String(res.json.error?.message), /the flow's parameter defaults take 300 KiB as JSON; a run takes at most 256 KiB/)
  })
})

describe('parameter summaries', () => {
  it('lists (and the stream of all runs) summarize big values; the run itself has them whole', async () => {
    const text = 'y'.repeat(200 * KiB)
    // The stream of all runs, open before the runs are made.
    const events = openStream('/api/events')
    const ids: string[] = []
    for (let i = 0; i < 20; i++) ids.push((await post('/api/flows/params/runs', { parameters: { text, data: { small: i } } })).json.id as string)
    const list = await fetch(`${h.server.url}/api/flow-runs?flow=params&limit=50`)
    const body = await list.text()
    assert.ok(body.length < 40 * KiB, `20 runs of 200 KiB are listed in ${body.length} bytes`)
    const { items } = JSON.parse(body) as { items: FlowRun[] }
    const listed = items.find((r) => r.id === ids[0]) as FlowRun
    assert.equal(listed.parametersSummarized, true)
    assert.equal(listed.parameters.text, '[text of 204,800 characters, 200 KiB of JSON: see the run]')
    assert.deepEqual(listed.parameters.data, { small: 0 }, 'small values are kept')
    assert.equal(listed.parameters.key, '********', 'secrets stay hidden')
    const whole = await h.client.getRun(ids[0] as string)
    assert.equal(whole.parametersSummarized, false)
    assert.equal(whole.parameters.text, text)
    const flows = await (await fetch(`${h.server.url}/api/flows`)).text()
    assert.ok(flows.length < 20 * KiB, `the flows list (with last runs) is ${flows.length} bytes`)
    const created = await waitFor('the stream to carry a run of the flow', () => events.data().find((d) => d.includes(ids[0] as string)))
    assert.match(created, /"parametersSummarized":true/)
    events.close()
  })
})

describe('event stream queues', () => {
  it('drops a subscriber that stopped reading (its connection is closed) and keeps one that reads', async () => {
    const run = await h.client.createRun('params', {})
    const forRun = await claimRun(h.client, run.id)
    const before = h.server.bus.subscribers
    const fast = openStream(`/api/events?flowRunId=${run.id}`)
    const slow = await stalledStream(`/api/events?flowRunId=${run.id}`)
    await waitFor('both subscribers', () => h.server.bus.subscribers === before + 2)
    const line = 'z'.repeat(2 * KiB)
    let seq = 0
    let batches = 0
    const dropped = () => h.server.bus.subscribers === before + 1
    // 500 KiB a batch, each read by the fast subscriber before the next is sent: only the slow one falls behind.
    while (!dropped() && batches < 60) {
      const logs = Array.from({ length: 250 }, () => ({ seq: seq++, time: new Date().toISOString(), level: 'info' as const, message: line }))
      await forRun.postLogs(run.id, 'flood', logs)
      batches++
      await waitFor(`the fast subscriber to read batch ${batches}`, () => fast.count('event: log') === seq, 20_000, 20)
    }
    assert.ok(dropped(), `the slow subscriber was dropped, the fast one still listens (after ${batches} batches, ${((batches * 500) / 1024).toFixed(1)} MiB)`)
    // Not at the first burst: a batch (500 KiB) is within the bounds (1 MiB); it takes the socket's buffers filling up, then the queue.
    assert.ok(batches >= 3, `dropped after ${batches} batches`)
    console.log(`event stream: the stalled subscriber was dropped after ${batches} batches of 500 KiB`)
    // Its connection was closed: reading again, it finds the end of what the server had sent.
    slow.resume()
    await waitFor('the slow subscriber to see its stream end', () => slow.closed(), 10_000)
    assert.ok(slow.received() < seq * line.length, `the slow subscriber got only part of the stream (${slow.received()} bytes)`)
    // The fast one keeps streaming after the drop.
    await forRun.postLogs(run.id, 'flood', [{ seq: seq++, time: new Date().toISOString(), level: 'info', message: 'after the drop' }])
    await waitFor('the fast subscriber to read on', () => fast.count('event: log') === seq)
    fast.close()
  })
})

/** An event stream read as it comes. */
function openStream(p: string) {
  const ac = new AbortController()
  let text = ''
  void fetch(`${h.server.url}${p}`, { signal: ac.signal })
    .then(async (res) => {
      const decoder = new TextDecoder()
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true })
    })
    .catch(() => undefined)
  return {
    count: (what: string) => text.split(what).length - 1,
    data: () => text.split('\n').filter((l) => l.startsWith('data: ')),
    close: () => ac.abort(),
  }
}

/** An event stream whose reader stops reading after the first bytes (a stalled tab). */
async function stalledStream(p: string) {
  let closed = false
  let received = 0
  let stalled = true
  let resume = () => undefined as void
  const url = new URL(`${h.server.url}${p}`)
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, headers: { host: url.host } }, (res) => {
      res.on('data', (d: Buffer) => {
        received += d.length
        if (!stalled) return
        stalled = false
        res.pause()
        resolve()
      })
      res.once('end', () => (closed = true))
      res.once('error', () => (closed = true))
      res.socket.once('close', () => (closed = true))
      resume = () => res.resume()
    })
    req.once('error', reject)
  })
  return { closed: () => closed, received: () => received, resume: () => resume() }
}
