/**
 * Finding runs (issue 13): the runs list filters by several states, several flows, a name search,
 * past or upcoming and a time range, with keyset paging (property-tested against the same filter in
 * memory over a few hundred runs); bad filters get clear errors; bulk cancel and retry go through
 * the policy run by run; pausing a schedule tells every open page which runs it removed.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { startHarness, waitFor, type Harness } from '../helpers/rota.ts'
import { STATES, type State } from '../../src/core/states.ts'
import type { FlowRun, RunPage } from '../../src/core/contract.ts'

let h: Harness
const FLOWS = ['deliveries', 'stocktake', 'ledger'] as const
const NAMES = ['brave-otter', 'calm-lynx', 'eager-otter', 'fifty%off', 'snake_case', 'snakeXcase', 'quiet-heron', 'Otter-Bay']
interface Row {
  id: string
  name: string
  flow: string
  state: State
  time: number
}
const rows: Row[] = []
const now = Date.now()

before(async () => {
  h = await startHarness()
  await h.register('test/fixtures/truth-flows.ts')
  await h.register('test/fixtures/scheduled.ts')
  await h.client.setSchedule('every-second', false)
  // 300 runs spread over ten days back and two ahead, minutes apart from now (no run sits on the past/upcoming edge).
  const rnd = fc.sample(fc.tuple(fc.constantFrom(...FLOWS), fc.constantFrom(...STATES), fc.constantFrom(...NAMES), fc.integer({ min: -14_400, max: 2_880 })), { numRuns: 300, seed: 13 })
  for (const [flow, state, name, minutes] of rnd) {
    const offset = minutes === 0 ? 7 : minutes
    rows.push({ id: randomUUID(), name, flow, state, time: now + offset * 60_000 + Math.floor(Math.random() * 1000) })
  }
  const ids = await h.server.db.query<{ id: string; name: string }>(`select id, name from rota_flows`)
  const flowId = (name: string) => ids.find((f) => f.name === name)?.id
  await h.server.db.query(
    // A heartbeat a day ahead: the reaper leaves the "running" ones alone while the test reads them.
    `insert into rota_flow_runs (id, flow_id, name, state, scheduled_start_time, flow_version, heartbeat_at)
     select x.id, x.flow_id, x.name, x.state, x.t, 'v', now() + interval '1 day'
     from jsonb_to_recordset($1::jsonb) as x(id uuid, flow_id uuid, name text, state text, t timestamptz)`,
    [JSON.stringify(rows.map((r) => ({ id: r.id, flow_id: flowId(r.flow), name: r.name, state: r.state, t: new Date(r.time).toISOString() })))],
  )
})
after(async () => {
  await h?.close()
})

async function get(path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${h.server.url}${path}`)
  return { status: res.status, body: await res.json() }
}

interface Filter {
  states: State[]
  flows: string[]
  q: string | undefined
  when: 'past' | 'upcoming' | undefined
  after: number | undefined
  before: number | undefined
  order: 'asc' | 'desc'
  limit: number
}

function expected(f: Filter): string[] {
  const t = Date.now()
  const matching = rows.filter(
    (r) =>
      (f.states.length === 0 || f.states.includes(r.state)) &&
      (f.flows.length === 0 || f.flows.includes(r.flow)) &&
      (f.q === undefined || f.q.trim() === '' || r.name.toLowerCase().includes(f.q.trim().toLowerCase())) &&
      (f.when === undefined || (f.when === 'upcoming') === (r.state === 'scheduled' && r.time > t)) &&
      (f.after === undefined || r.time > f.after) &&
      (f.before === undefined || r.time < f.before),
  )
  matching.sort((a, b) => (a.time - b.time || (a.id < b.id ? -1 : 1)) * (f.order === 'asc' ? 1 : -1))
  return matching.map((r) => r.id)
}

async function listAll(f: Filter): Promise<string[]> {
  const params = new URLSearchParams({ limit: String(f.limit), order: f.order })
  if (f.states.length) params.set('state', f.states.join(','))
  if (f.flows.length) params.set('flow', f.flows.join(','))
  if (f.q !== undefined) params.set('q', f.q)
  if (f.when) params.set('when', f.when)
  if (f.after !== undefined) params.set('after', new Date(f.after).toISOString())
  if (f.before !== undefined) params.set('before', new Date(f.before).toISOString())
  const ids: string[] = []
  let cursor: string | null = null
  for (let page = 0; page < 400; page++) {
    if (cursor) params.set('cursor', cursor)
    const { status, body } = await get(`/api/flow-runs?${params}`)
    assert.equal(status, 200, JSON.stringify(body))
    const p = body as RunPage
    assert.ok(p.items.length <= f.limit)
    ids.push(...p.items.map((r) => r.id))
    cursor = p.nextCursor
    if (!cursor) break
  }
  // Runs the harness's own tests made (none here) would show up too: only ours are compared.
  const ours = new Set(rows.map((r) => r.id))
  return ids.filter((id) => ours.has(id))
}

describe('the runs list filters on the server, with keyset paging', () => {
  it('any combination of states, flows, name search, past/upcoming and time range pages to exactly the matching runs (property)', async () => {
    const time = fc.integer({ min: -14_400, max: 2_880 }).map((m) => now + m * 60_000)
    const filter = fc.record({
      states: fc.subarray([...STATES]),
      flows: fc.subarray([...FLOWS]),
      q: fc.option(fc.constantFrom('otter', 'OTTER', 'snake_case', 'fifty%', '%', '_', 'lynx-', ' calm ', 'nothing-like-it', ''), { nil: undefined }),
      when: fc.option(fc.constantFrom('past' as const, 'upcoming' as const), { nil: undefined }),
      after: fc.option(time, { nil: undefined }),
      before: fc.option(time, { nil: undefined }),
      order: fc.constantFrom('asc' as const, 'desc' as const),
      limit: fc.integer({ min: 1, max: 120 }),
    })
    let nonEmpty = 0
    await fc.assert(
      fc.asyncProperty(filter, async (f) => {
        const want = expected(f)
        if (want.length > 0) nonEmpty++
        assert.deepEqual(await listAll(f), want)
      }),
      { numRuns: 40, seed: Number(process.env.ROTA_FUZZ_SEED ?? 1313) },
    )
    assert.ok(nonEmpty >= 10, `most filters match some runs (${nonEmpty} of 40 did)`)
  })

  it('finds a run by its id, and treats % and _ in a search as plain characters', async () => {
    const target = rows[17] as Row
    const byId = (await get(`/api/flow-runs?q=${target.id}`)).body as RunPage
    assert.deepEqual(byId.items.map((r) => r.id), [target.id])
    const snake = (await get(`/api/flow-runs?q=snake_case&limit=500`)).body as RunPage
    assert.ok(snake.items.length > 0 && snake.items.every((r) => r.name === 'snake_case'))
  })

  it('upcoming runs come soonest first and never include a due run', async () => {
    const { items } = (await get('/api/flow-runs?when=upcoming&order=asc&limit=500')).body as RunPage
    assert.ok(items.length > 0)
    assert.ok(items.every((r) => r.state === 'scheduled' && Date.parse(r.scheduledStartTime) > Date.now()))
    const times = items.map((r) => Date.parse(r.scheduledStartTime))
    assert.deepEqual(times, [...times].sort((a, b) => a - b))
  })

  it('answers bad filters with a clear 400 or 404', async () => {
    const cases: [string, number, RegExp][] = [
      ['/api/flow-runs?state=running,sleeping', 400, /unknown state "sleeping"/],
      ['/api/flow-runs?flow=deliveries,nope', 404, /flow "nope" does not exist/],
      [`/api/flow-runs?q=${'x'.repeat(201)}`, 400, /q: /],
      ['/api/flow-runs?when=tomorrow', 400, /when: /],
      ['/api/flow-runs?after=yesterday', 400, /after: /],
      ['/api/flow-runs?cursor=abc', 400, /cursor is not one this API returned/],
    ]
    for (const [path, status, message] of cases) {
      const res = await get(path)
      assert.equal(res.status, status, path)
      assert.match((res.body as { error: { message: string } }).error.message, message, path)
    }
  })
})

describe('bulk actions', () => {
  async function bulk(body: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${h.server.url}/api/flow-runs/bulk`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() }
  }
  type Result = { items: { id: string; ok: boolean; run: FlowRun | null; error: string | null }[] }

  it('cancels the runs that can be cancelled and says why the others cannot', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString()
    const scheduled = await Promise.all([1, 2, 3].map(() => h.client.request<FlowRun>('POST', '/api/flows/deliveries/runs', { scheduledStartTime: later })))
    const done = rows.find((r) => r.state === 'success') as Row
    const missing = randomUUID()
    const res = await bulk({ action: 'cancel', ids: [...scheduled.map((r) => r.id), done.id, missing] })
    assert.equal(res.status, 200)
    const { items } = res.body as Result
    assert.deepEqual(items.map((i) => i.ok), [true, true, true, false, false])
    for (const i of items.slice(0, 3)) assert.equal(i.run?.state, 'cancelled')
    assert.match(items[3]?.error ?? '', /cannot cancel: run already ended as success/)
    assert.match(items[4]?.error ?? '', /does not exist/)
    for (const r of scheduled) assert.equal((await h.client.getRun(r.id)).state, 'cancelled')
  })

  it('retries failed, crashed and cancelled runs as new runs, and refuses the others', async () => {
    const failed = rows.find((r) => r.state === 'failed') as Row
    const crashed = rows.find((r) => r.state === 'crashed') as Row
    const success = rows.find((r) => r.state === 'success') as Row
    const { items } = (await bulk({ action: 'retry', ids: [failed.id, crashed.id, success.id] })).body as Result
    assert.deepEqual(items.map((i) => i.ok), [true, true, false])
    assert.equal(items[0]?.run?.retryOf, failed.id)
    assert.equal(items[0]?.run?.state, 'scheduled')
    assert.equal(items[1]?.run?.retryOf, crashed.id)
    assert.match(items[2]?.error ?? '', /is success; only failed, crashed or cancelled runs are retried/)
    await h.client.request('POST', '/api/flow-runs/bulk', { action: 'cancel', ids: items.filter((i) => i.run).map((i) => i.run?.id) })
  })

  it('refuses a bad bulk request as a whole, with a clear 400', async () => {
    for (const [body, message] of [
      [{ action: 'cancel', ids: [] }, /ids: /],
      [{ action: 'cancel', ids: ['not-a-run'] }, /must be a run id/],
      [{ action: 'delete', ids: [randomUUID()] }, /action: /],
      [{ action: 'retry', ids: Array.from({ length: 501 }, () => randomUUID()) }, /ids: /],
    ] as const) {
      const res = await bulk(body)
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80))
      assert.match((res.body as { error: { message: string } }).error.message, message)
    }
  })
})

describe('a paused schedule removes its upcoming runs from every open page at once', () => {
  it("the event stream says which runs were removed, and the run's own stream too", async () => {
    await h.client.setSchedule('every-second', true)
    const upcoming = await waitFor('upcoming runs of every-second', async () => {
      const { items } = await h.client.listRuns({ flow: 'every-second', state: 'scheduled', limit: 500 })
      return items.length >= 3 ? items.map((r) => r.id) : undefined
    })
    const watched = upcoming.at(-1) as string
    const streams = [await openStream(''), await openStream(`?flowRunId=${watched}`)]
    try {
      await h.client.setSchedule('every-second', false)
      for (const stream of streams) {
        const event = await stream.next('runs-removed')
        const data = JSON.parse(event.data) as { flowId: string; ids: string[] }
        assert.equal(data.flowId, (await h.client.getFlow('every-second')).id)
        assert.ok(data.ids.includes(watched), 'the removed run is named')
      }
      const { items } = await h.client.listRuns({ flow: 'every-second', state: 'scheduled', limit: 500 })
      assert.deepEqual(items, [])
    } finally {
      for (const s of streams) s.close()
    }
  })
})

/** A minimal SSE reader over fetch: the events of /api/events, one by one. */
async function openStream(query: string): Promise<{ next(type: string): Promise<{ type: string; data: string }>; close(): void }> {
  const controller = new AbortController()
  const res = await fetch(`${h.server.url}/api/events${query}`, { signal: controller.signal })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  return {
    async next(type) {
      const deadline = Date.now() + 10_000
      for (;;) {
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
          if (event === type) return { type: event, data }
        }
        if (Date.now() > deadline) throw new Error(`no ${type} event within 10 s`)
        const { value, done } = await reader.read()
        if (done) throw new Error('the event stream ended')
        buffer += decoder.decode(value, { stream: true })
      }
    },
    close: () => controller.abort(),
  }
}
