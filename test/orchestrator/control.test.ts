/**
 * Flow control against a real server and real agents (issue 12): maxActiveRuns with each overlap
 * policy, slot pools shared by two flows, crashes freeing slots, priorities, map, child runs and
 * backfills; on PostgreSQL also two servers claiming one limited flow at once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { cli, DB_KIND, freshDatabase, ROOT, startHarness, testConfig, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { RotaClient, type FlowRun } from '../../src/client/index.ts'
import { Agent } from '../../src/agent/agent.ts'
import { LocalLauncher } from '../../src/agent/local.ts'
import { registerFile } from '../../src/cli/register.ts'
import { startServer } from '../../src/server/index.ts'
import { backfillTimes } from '../../src/server/backfill.ts'
import { MAX_BACKFILL_TIMES, POOL_NAME } from '../../src/core/flow-control.ts'
import { mapItems } from '../../src/sdk/map.ts'

const FIXTURES = 'test/fixtures/control.ts'
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-control-'))
let h: Harness

before(async () => {
  h = await startHarness()
  await h.register(FIXTURES)
  await h.register('test/fixtures/flows.ts')
  await h.startAgent({ name: 'control-agent', concurrency: 4 })
})
after(async () => {
  await h?.close()
  fs.rmSync(tmp, { recursive: true, force: true })
})

const file = (name: string) => path.join(tmp, `${name}-${Math.random().toString(36).slice(2, 8)}.txt`)
const TERMINAL = ['success', 'failed', 'skipped', 'cancelled', 'crashed']

/** [start, end] of each run's `hold`, from the lines the fixture writes (end missing: the run crashed). */
function intervals(f: string): Map<string, { start: number; end: number | undefined }> {
  const out = new Map<string, { start: number; end: number | undefined }>()
  if (!fs.existsSync(f)) return out
  for (const line of fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean)) {
    const [what, id, t] = line.split(' ') as [string, string, string]
    const entry = out.get(id) ?? { start: Number.NaN, end: undefined }
    if (what === 'start') entry.start = Number(t)
    else entry.end = Number(t)
    out.set(id, entry)
  }
  return out
}

function assertNoOverlap(f: string, ends: Map<string, number> = new Map()): void {
  const spans = [...intervals(f).entries()].map(([id, s]) => ({ id, start: s.start, end: s.end ?? ends.get(id) ?? Number.POSITIVE_INFINITY })).sort((a, b) => a.start - b.start)
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1] as { id: string; end: number }
    const cur = spans[i] as { id: string; start: number }
    assert.ok(cur.start >= prev.end, `run ${cur.id} started at ${cur.start} while run ${prev.id} held the slot until ${prev.end}`)
  }
}

/** Samples `probe` every 50 ms until stopped; returns the largest value seen. */
function sampler(probe: () => Promise<number>): { stop(): Promise<number> } {
  let most = 0
  let on = true
  const loop = (async () => {
    while (on) {
      most = Math.max(most, await probe().catch(() => 0))
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  return {
    async stop() {
      on = false
      await loop
      return most
    },
  }
}

const activeOf = async (flow: string) => (await h.client.listRuns({ flow, state: 'pending,running,retrying,cancelling', limit: 50 })).items
const runningOf = async (flow: string) => (await h.client.listRuns({ flow, state: 'running', limit: 50 })).items.length
const settle = (ids: string[], timeoutMs = 60_000) => Promise.all(ids.map((id) => waitForRunState(h.client, id, TERMINAL, timeoutMs)))

describe('maxActiveRuns', () => {
  it("queue (the default): runs wait, visibly and with a reason, and never two are active", async () => {
    const f = file('queue')
    const probe = sampler(async () => (await activeOf('one-at-a-time')).length)
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await h.client.createRun('one-at-a-time', { file: f, ms: 900 })).id)
    const waiting = await waitFor('a queued run that says why it waits', async () => {
      const { items } = await h.client.listRuns({ flow: 'one-at-a-time', state: 'scheduled' })
      return items.find((r) => ids.includes(r.id) && /^waiting: flow one-at-a-time allows 1 active run \(held by run [a-z]+-[a-z]+ \((pending|running)\)\)$/.test(r.stateMessage ?? ''))
    }, 10_000)
    assert.equal(waiting.state, 'scheduled')
    const runs = await settle(ids)
    assert.deepEqual(runs.map((r) => r.state), ['success', 'success', 'success'], runs.map((r) => r.stateMessage).join('\n'))
    assert.equal(await probe.stop(), 1, 'never more than one active run')
    assertNoOverlap(f)
    assert.equal(intervals(f).size, 3)
  })

  it("skip: a run that finds the flow busy ends skipped with a reason", async () => {
    const f = file('skip')
    const first = await h.client.createRun('skip-overlap', { file: f, ms: 4000 })
    await waitForRunState(h.client, first.id, ['running'])
    const second = await waitForRunState(h.client, (await h.client.createRun('skip-overlap', { file: f, ms: 100 })).id, TERMINAL, 20_000)
    assert.equal(second.state, 'skipped')
    assert.match(second.stateMessage ?? '', /^skipped: flow skip-overlap allows 1 active run and one is active \(run [a-z-]+ \(running\)\); its overlap policy is 'skip'$/)
    assert.equal((await waitForRunState(h.client, first.id, TERMINAL)).state, 'success')
    assert.equal(intervals(f).size, 1, 'the skipped run never ran')
  })

  it('cancel-running: the running run is cancelled and the new one runs; never two running', async () => {
    const f = file('cancel')
    const probe = sampler(() => runningOf('cancel-overlap'))
    const first = await h.client.createRun('cancel-overlap', { file: f, ms: 30_000 })
    await waitForRunState(h.client, first.id, ['running'])
    const second = await h.client.createRun('cancel-overlap', { file: f, ms: 300 })
    const [a, b] = await settle([first.id, second.id], 30_000)
    assert.equal(a?.state, 'cancelled')
    assert.match(a?.stateMessage ?? '', /cancel/)
    const history = (await (await fetch(`${h.server.url}/api/flow-runs/${first.id}/states`)).json()) as { items: { toState: string; message: string | null }[] }
    assert.ok(history.items.some((s) => s.toState === 'cancelling' && /a newer run \([a-z-]+\) of flow cancel-overlap is waiting to start, and its overlap policy is 'cancel-running'/.test(s.message ?? '')), JSON.stringify(history.items))
    assert.equal(b?.state, 'success', b?.stateMessage ?? '')
    assert.equal(await probe.stop(), 1)
    // the new run started only once the cancelled one's code had stopped
    assertNoOverlap(f)
    assert.equal(intervals(f).size, 2)
  })

  it('a crash frees the slot: the next run starts', async () => {
    const f = file('crash')
    const crashing = await h.client.createRun('one-at-a-time', { file: f, ms: 100, crash: true })
    const next = await h.client.createRun('one-at-a-time', { file: f, ms: 100 })
    const [a, b] = await settle([crashing.id, next.id])
    assert.equal(a?.state, 'crashed', a?.stateMessage ?? '')
    assert.equal(b?.state, 'success', b?.stateMessage ?? '')
    assertNoOverlap(f, new Map([[crashing.id, Date.parse(a?.endTime as string)]]))
  })
})

describe('pools', () => {
  it('a pool shared by two flows (a task of one, the whole run of the other) never has two holders, and waiters say why', async () => {
    const pool = await h.client.setPool('shared', 1)
    assert.equal(pool.slots, 1)
    const f = file('pool')
    const probe = sampler(async () => (await h.client.getPool('shared')).held)
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      ids.push((await h.client.createRun('pool-task', { file: f, ms: 700 })).id)
      ids.push((await h.client.createRun('pool-flow', { file: f, ms: 700 })).id)
    }
    // a task waiting for the slot shows it in its state and message
    const waitingTask = await waitFor('a task run waiting for the pool', async () => {
      for (const id of ids) {
        const t = (await h.client.taskRuns(id)).items.find((x) => x.state === 'pending')
        if (t) return t
      }
      return undefined
    }, 20_000)
    assert.match(waitingTask.message ?? '', /^waiting for a slot in pool shared \(1\/1 held by (run|task pooled of run) [a-z]+-[a-z]+\)/)
    const seen = await waitFor('the pool listing who holds and who waits', async () => {
      const p = await h.client.getPool('shared')
      return p.held === 1 && p.waiting.length > 0 ? p : undefined
    }, 20_000)
    assert.equal(seen.holders.length, 1)
    const runs = await settle(ids)
    assert.deepEqual(runs.map((r) => r.state), ['success', 'success', 'success', 'success'], runs.map((r) => `${r.flowName}: ${r.stateMessage}`).join('\n'))
    assert.equal(await probe.stop(), 1, 'never two holders')
    assertNoOverlap(f)
    assert.equal((await h.client.getPool('shared')).held, 0)
    const listed = (await h.client.listPools()).items.find((p) => p.name === 'shared')
    assert.equal(listed?.slots, 1)
  })

  it('a run that crashes while its task holds a slot frees it', async () => {
    const f = file('pool-crash')
    const crashing = await h.client.createRun('pool-task', { file: f, ms: 100, crash: true })
    await waitFor('the crashing task to take its slot', () => (intervals(f).size > 0 ? true : undefined), 20_000)
    const next = await h.client.createRun('pool-flow', { file: f, ms: 100 })
    const [a, b] = await settle([crashing.id, next.id])
    assert.equal(a?.state, 'crashed')
    assert.equal(b?.state, 'success', b?.stateMessage ?? '')
    assert.equal((await h.client.getPool('shared')).held, 0)
  })

  it('rota pool set and rota pool list; a bad slot count is refused before any request', async () => {
    const env = { ROTA_API_URL: h.server.url, ROTA_API_KEY: '' }
    const set = await cli(['pool', 'set', 'cli-pool', '--slots', '3'], env)
    assert.equal(set.code, 0, set.stderr)
    assert.equal(set.stdout.trim(), 'pool cli-pool: 3 slots, 0 held')
    const list = await cli(['pool', 'list'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /^POOL\s+SLOTS\s+HELD\s+WAITING\s+HOLDERS\s+WAITERS$/m)
    assert.match(list.stdout, /^cli-pool\s+3\s+0\s+0\s+-\s+-$/m)
    const bad = await cli(['pool', 'set', 'cli-pool', '--slots', '-2'], env)
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--slots must be a whole number of at least 0, got "-2"/)
    assert.equal((await h.client.getPool('cli-pool')).slots, 3)
  })

  it('refuses bad pool input with a clear error', async () => {
    const put = (name: string, body: unknown) =>
      fetch(`${h.server.url}/api/pools/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    for (const [name, body, pattern] of [
      ['ok', { slots: -1 }, /slots/],
      ['ok', { slots: 1.5 }, /slots/],
      ['-bad', { slots: 1 }, /pool name/],
    ] as const) {
      const res = await put(name, body)
      assert.equal(res.status, 400)
      assert.match(((await res.json()) as { error: { message: string } }).error.message, pattern)
    }
    const missing = await fetch(`${h.server.url}/api/pools/nope`)
    assert.equal(missing.status, 404)
    assert.match(((await missing.json()) as { error: { message: string } }).error.message, /rota pool set nope --slots N/)
  })
})

describe('priorities', () => {
  it('orders claims among due runs: higher first, then oldest; the CLI and the API take it', async () => {
    for (const a of h.agents.splice(0)) await a.stop()
    const f = file('priority')
    const order = [0, 5, -1, 10, 5]
    const ids: string[] = []
    for (const priority of order) ids.push((await h.client.createRun('marker', { file: f }, { priority })).id)
    const viaCli = await cli(['run', 'marker', '--priority', '7', '--param', `file=${f}`], { ROTA_API_URL: h.server.url, ROTA_API_KEY: '' })
    assert.equal(viaCli.code, 0, viaCli.stderr)
    const cliId = /\(([0-9a-f-]{36})\)/.exec(viaCli.stdout)?.[1] as string
    assert.equal((await h.client.getRun(cliId)).priority, 7)
    await h.startAgent({ name: 'one-slot', concurrency: 1 })
    await settle([...ids, cliId])
    const ran = fs.readFileSync(f, 'utf8').trim().split('\n')
    const expected = [ids[3], cliId, ids[1], ids[4], ids[0], ids[2]]
    assert.deepEqual(ran, expected)
    for (const a of h.agents.splice(0)) await a.stop()
    await h.startAgent({ name: 'control-agent', concurrency: 4 })
  })
})

describe('map and parallel tasks', () => {
  it('map: one task run per item, at most `concurrency` at once, results in item order', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('fan-out', { n: 10, concurrency: 3 })).id)
    assert.equal(run.state, 'success', run.stateMessage ?? '')
    const { result } = (await h.client.runResult(run.id)) as { result: { results: number[]; most: number } }
    assert.deepEqual(result.results, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81])
    assert.equal(result.most, 3)
    const tasks = (await h.client.taskRuns(run.id)).items.filter((t) => t.taskName === 'square')
    assert.deepEqual(tasks.map((t) => t.mapIndex).sort((a, b) => (a ?? 0) - (b ?? 0)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.ok(tasks.every((t) => t.state === 'success'))
  })

  it('map: a failure fails the map after the items in flight end; the others never start', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('fan-out', { n: 8, concurrency: 2, failAt: 3 })).id)
    assert.equal(run.state, 'failed')
    assert.match(run.stateMessage ?? '', /item 3 is bad \(item 3 of 8 of square\.map\)/)
    const tasks = (await h.client.taskRuns(run.id)).items.filter((t) => t.taskName === 'square')
    const byIndex = new Map(tasks.map((t) => [t.mapIndex, t]))
    assert.equal(byIndex.size, 8, 'every item is accounted for')
    assert.equal(byIndex.get(3)?.state, 'failed')
    for (const t of tasks) assert.ok(TERMINAL.includes(t.state), `item ${t.mapIndex} ended (${t.state})`)
    const notStarted = tasks.filter((t) => t.state === 'skipped')
    assert.ok(notStarted.length >= 3, `items after the failure were not started: ${tasks.map((t) => `${t.mapIndex}:${t.state}`).join(' ')}`)
    for (const t of notStarted) assert.match(t.message ?? '', /not started: item 3 failed and the map stopped/)
  })

  it('map with returnErrors: every item runs, errors in place', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('fan-out', { n: 5, concurrency: 2, failAt: 2, returnErrors: true })).id)
    assert.equal(run.state, 'success', run.stateMessage ?? '')
    const { result } = (await h.client.runResult(run.id)) as { result: { results: (number | string)[] } }
    assert.deepEqual(result.results.map((r) => (typeof r === 'string' ? r.replace(/:.*/, '') : r)), [0, 1, 'error', 9, 16])
  })

  it('Promise.all over task calls runs them at once (overlapping task runs)', async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('parallel', {})).id)
    assert.equal(run.state, 'success')
    const naps = (await h.client.taskRuns(run.id)).items.filter((t) => t.taskName === 'nap')
    assert.equal(naps.length, 3)
    const latestStart = Math.max(...naps.map((t) => Date.parse(t.startTime as string)))
    const earliestEnd = Math.min(...naps.map((t) => Date.parse(t.endTime as string)))
    assert.ok(latestStart < earliestEnd, 'the three naps overlapped')
  })
})

describe('child runs', () => {
  it("a flow called from a flow is a child run: its own run, tasks and logs, and its result comes back", async () => {
    const run = await waitForRunState(h.client, (await h.client.createRun('parent', { n: 3 })).id)
    assert.equal(run.state, 'success', run.stateMessage ?? '')
    assert.deepEqual((await h.client.runResult(run.id)).result, { total: 18 })
    const children = (await h.client.listRuns({ parent: run.id })).items
    assert.equal(children.length, 2)
    for (const c of children) {
      assert.equal(c.flowName, 'child')
      assert.equal(c.parentRunId, run.id)
      assert.equal(c.state, 'success')
      assert.deepEqual((await h.client.taskRuns(c.id)).items.map((t) => [t.taskName, t.state]), [['double', 'success']])
    }
    const results = await Promise.all(children.map(async (c) => (await h.client.runResult(c.id)).result))
    assert.deepEqual(results.map((r) => (r as { doubled: number }).doubled).sort((a, b) => a - b), [6, 12])
    const logs = await Promise.all(children.map(async (c) => (await h.client.logs(c.id)).items.map((l) => l.message)))
    assert.ok(logs.flat().includes('doubling 3'), logs.flat().join('\n'))
    assert.deepEqual((await h.client.taskRuns(run.id)).items.map((t) => t.taskName), ['add'], "the child's tasks are not the parent's")
  })

  it('cancelling the parent cancels its child', async () => {
    const run = await h.client.createRun('parent', { n: 1, sleepMs: 60_000 })
    const kid = await waitFor('the child run', async () => (await h.client.listRuns({ parent: run.id })).items.find((c) => c.state === 'running'), 30_000)
    await h.client.cancelRun(run.id)
    const [p, c] = await settle([run.id, kid.id], 30_000)
    assert.equal(p?.state, 'cancelled')
    assert.equal(c?.state, 'cancelled', c?.stateMessage ?? '')
  })

  it("a flow with maxActiveRuns or a pool is refused as a child (it could not keep its limit): the parent's call fails, saying why", async () => {
    const f = file('limited-child')
    const run = await waitForRunState(h.client, (await h.client.createRun('calls-limited', { file: f })).id)
    assert.equal(run.state, 'failed')
    assert.match(run.stateMessage ?? '', /flow one-at-a-time has maxActiveRuns 1, so it cannot run as a child run/)
    assert.equal((await h.client.listRuns({ parent: run.id })).items.length, 0)
    assert.equal(intervals(f).size, 0)
  })

  it('cancelling the child fails the parent that awaited it', async () => {
    const run = await h.client.createRun('parent', { n: 1, sleepMs: 60_000 })
    const kid = await waitFor('the child run', async () => (await h.client.listRuns({ parent: run.id })).items.find((c) => c.state === 'running'), 30_000)
    await h.client.cancelRun(kid.id)
    const [p, c] = await settle([run.id, kid.id], 30_000)
    assert.equal(c?.state, 'cancelled')
    assert.equal(p?.state, 'failed')
    assert.match(p?.stateMessage ?? '', /child run [0-9a-f-]{36} of flow child ended cancelled/)
  })
})

describe('backfill', () => {
  const MIN = 60_000
  const t0 = Math.floor(Date.now() / MIN) * MIN - 20 * MIN
  const at = (m: number) => new Date(t0 + m * MIN).toISOString()
  const runsOf = async (backfillId: string): Promise<FlowRun[]> =>
    (await h.client.listRuns({ flow: 'minutely', limit: 200 })).items.filter((r) => r.backfillId === backfillId)

  before(async () => {
    await h.client.setSchedule('minutely', false)
  })

  it('one run per schedule time, throttled by maxActive, exempt from catch-up; run again, only what did not succeed', async () => {
    const f = file('backfill')
    const probe = sampler(async () => (await h.client.listRuns({ flow: 'minutely', state: 'pending,running', limit: 50 })).items.length)
    const b = await h.client.backfill('minutely', { from: at(0), to: at(5), maxActive: 2, parameters: { file: f, failAt: [at(2)] } })
    assert.deepEqual([b.times, b.created, b.existing], [6, 6, 0])
    const runs = await settle(b.runIds)
    assert.equal(await probe.stop() <= 2, true, 'at most 2 backfill runs active at once')
    // catch-up 'latest' would have skipped all but the newest overdue run: backfill runs are exempt
    assert.deepEqual(runs.map((r) => r.state).sort(), ['failed', 'success', 'success', 'success', 'success', 'success'])
    assert.ok(runs.every((r) => r.backfillId === b.id && !r.autoScheduled))
    assert.deepEqual(runs.map((r) => r.scheduledStartTime).sort(), [0, 1, 2, 3, 4, 5].map(at))

    const again = await h.client.backfill('minutely', { from: at(0), to: at(5), parameters: { file: f } })
    assert.deepEqual([again.created, again.existing], [1, 5], 'only the failed time runs again')
    const [rerun] = await settle(again.runIds)
    assert.equal(rerun?.state, 'success')
    assert.equal(rerun?.scheduledStartTime, at(2))
    assert.equal(rerun?.retryOf, runs.find((r) => r.state === 'failed')?.id)
    assert.equal(rerun?.attempt, 2)
  })

  it('--missing-only leaves failed times alone; the CLI prints what it made', async () => {
    const f = file('backfill-missing')
    const first = await h.client.backfill('minutely', { from: at(7), to: at(8), parameters: { file: f, failAt: [at(8)] } })
    await settle(first.runIds)
    const cliRun = await cli(['backfill', 'minutely', '--from', at(6), '--to', at(8), '--missing-only', '--max-active', '1', '--param', `file=${f}`], {
      ROTA_API_URL: h.server.url,
      ROTA_API_KEY: '',
    })
    assert.equal(cliRun.code, 0, cliRun.stderr)
    assert.match(cliRun.stdout, /^backfill [0-9a-f-]{36} of minutely: created 1 run for 3 schedule times \(2 already had a run\), at most 1 at once$/m)
    const id = /^backfill ([0-9a-f-]{36})/.exec(cliRun.stdout)?.[1] as string
    const made = await runsOf(id)
    assert.deepEqual(made.map((r) => r.scheduledStartTime), [at(6)])
    await settle(made.map((r) => r.id))
    const redo = await h.client.backfill('minutely', { from: at(6), to: at(8), parameters: { file: f } })
    assert.equal(redo.created, 1, 'without --missing-only the failed time runs again')
    await settle(redo.runIds)
  })

  it("never duplicates a time the scheduler made, and the scheduler never duplicates a backfill's", async () => {
    await h.client.setSchedule('minutely', true)
    const upcoming = await waitFor('upcoming scheduled runs', async () => {
      const { items } = await h.client.listRuns({ flow: 'minutely', state: 'scheduled', limit: 50 })
      const auto = items.filter((r) => r.autoScheduled)
      return auto.length >= 3 ? auto : undefined
    })
    const times = upcoming.map((r) => Date.parse(r.scheduledStartTime)).sort((a, b) => a - b)
    const last = times.at(-1) as number
    const b = await h.client.backfill('minutely', { from: new Date(times[0] as number).toISOString(), to: new Date(last + 2 * MIN).toISOString(), parameters: { file: file('dup') } })
    assert.equal(b.created, 2, 'only the two times past the horizon')
    await h.client.setSchedule('minutely', false) // the backfill's future runs stay: pausing removes only the scheduler's
    const rows = await h.server.db.query<{ n: number }>(
      `select count(*)::int as n from (select scheduled_start_time from rota_flow_runs r join rota_flows f on f.id = r.flow_id
         where f.name = 'minutely' and r.retry_of is null group by 1 having count(*) > 1) d`,
    )
    assert.equal(rows[0]?.n, 0)
    assert.equal((await runsOf(b.id)).filter((r) => r.state === 'scheduled').length, 2)
    for (const id of b.runIds) await h.client.cancelRun(id)
  })

  it('refuses bad input with a clear error', async () => {
    const post = async (flow: string, body: unknown) => {
      const res = await fetch(`${h.server.url}/api/flows/${flow}/backfills`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, message: ((await res.json()) as { error?: { message: string } }).error?.message ?? '' }
    }
    assert.deepEqual(await post('minutely', { from: at(5), to: at(0) }), { status: 400, message: `the range starts after it ends (from ${at(5)} > to ${at(0)})` })
    assert.match((await post('marker', { from: at(0), to: at(1) })).message, /has no schedule/)
    assert.match((await post('minutely', { from: '2000-01-01T00:00:00Z', to: at(1) })).message, /more than 10000 schedule times/)
    assert.match((await post('minutely', { from: at(0), to: at(1), maxActive: 0 })).message, /maxActive/)
    assert.match((await post('minutely', { from: at(0), to: at(1), parameters: { nope: 1 } })).message, /unknown parameter "nope"/)
    assert.equal((await post('no-such-flow', { from: at(0), to: at(1) })).status, 404)
  })

  it('backfillTimes: exactly the schedule ticks in [from, to] (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7200 }), fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 50_000 }), (interval, start, span) => {
        const from = new Date(1_700_000_000_000 + start * 1000)
        const to = new Date(from.getTime() + span * 1000)
        const step = interval * 1000
        const want: number[] = []
        for (let t = Math.ceil(from.getTime() / step) * step; t <= to.getTime(); t += step) want.push(t)
        const times = () => backfillTimes({ name: 'x', schedule: { intervalSeconds: interval } }, from, to).map((d) => d.getTime())
        if (want.length > MAX_BACKFILL_TIMES) assert.throws(times, /more than 10000 schedule times/)
        else assert.deepEqual(times(), want)
      }),
      { numRuns: 300 },
    )
  })
})

describe('the reaper path', () => {
  it("a run whose agent went silent is crashed, and its flow's slot, its pool slot and its task's pool slot go back", async () => {
    // The server sees a killed agent as this: a claim, a running run, a task holding a slot, then silence.
    const g = await startHarness({ silenceMs: 1500 })
    try {
      await g.register(FIXTURES)
      const first = await g.client.createRun('ghostly', {})
      const second = await g.client.createRun('ghostly', {})
      const agent = await g.client.registerAgent({ name: 'ghost', type: 'local', labels: ['ghost'], concurrency: 2 })
      // the fixtures' scheduled flows have no labels, so this agent may claim one of their runs too
      // when a minute turns during the test: only the ghostly runs count here
      const ghostly = <R extends { flowName: string }>(claimed: readonly R[]) => claimed.filter((r) => r.flowName === 'ghostly')
      const runs = ghostly((await g.client.poll(agent.id, { slots: 2, waitMs: 0, prefetchMs: 0 })).runs)
      assert.deepEqual(runs.map((r) => r.id), [first.id], 'maxActiveRuns 1: one run claimed of two')
      // the run's process acts for it with its token
      const proc = g.client.forRun((runs[0] as { token: string }).token)
      await proc.proposeState(first.id, 'running', undefined, agent.id)
      const slot = await proc.acquireSlot(first.id, { pool: 'ghost-task', taskRunId: randomUUID(), taskKey: 'noop', taskName: 'noop', waitMs: 0 })
      assert.equal(slot.status, 'held')
      assert.deepEqual([(await g.client.getPool('ghost-run')).held, (await g.client.getPool('ghost-task')).held], [1, 1])
      // silence: no more polls
      const crashed = await waitForRunState(g.client, first.id, TERMINAL, 20_000)
      assert.equal(crashed.state, 'crashed')
      assert.match(crashed.stateMessage ?? '', /no heartbeat/)
      assert.deepEqual([(await g.client.getPool('ghost-run')).held, (await g.client.getPool('ghost-task')).held], [0, 0])
      const again = await g.client.registerAgent({ name: 'ghost-2', type: 'local', labels: ['ghost'], concurrency: 2 })
      const next = ghostly((await g.client.poll(again.id, { slots: 2, waitMs: 0, prefetchMs: 0 })).runs)
      assert.deepEqual(next.map((r) => r.id), [second.id], 'the waiting run is claimed now')
      const proc2 = g.client.forRun((next[0] as { token: string }).token)
      await proc2.proposeState(second.id, 'running', undefined, again.id)
      await proc2.proposeState(second.id, 'success', undefined, again.id)
    } finally {
      await g.close()
    }
  })
})

describe('user input (properties)', () => {
  const INT32_MAX = 2 ** 31 - 1
  const send = async (method: string, url: string, body: unknown) => {
    const res = await fetch(`${h.server.url}${url}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } } }
  }
  /** Numbers and not-numbers a client might send where a whole number belongs. */
  /** A value as it arrives after JSON (-0 becomes 0; strict asserts tell them apart). */
  const asSent = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown
  const wholeNumberish = (min: number, max: number) =>
    fc.oneof(fc.integer({ min, max }), fc.integer(), fc.double(), fc.constantFrom(-1, 0, 1.5, 2 ** 53, null, '3', true, [], {}))

  it('pool slots: a whole number 0..10000 is kept as given, anything else is a 400 that says what a slot count is', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}$/), fc.string({ maxLength: 12 })), wholeNumberish(0, 10_000), async (name, slots) => {
        fc.pre(name !== '.' && name !== '..' && name !== '') // the URL itself would change
        const res = await send('PUT', `/api/pools/${encodeURIComponent(name)}`, { slots })
        const valid = POOL_NAME.test(name) && typeof slots === 'number' && Number.isInteger(slots) && slots >= 0 && slots <= 10_000
        if (!valid) {
          assert.equal(res.status, 400, JSON.stringify(res.body))
          assert.match(res.body.error?.message ?? '', POOL_NAME.test(name) ? /slots/ : /pool name/)
          return
        }
        assert.equal(res.status, 200, JSON.stringify(res.body))
        const pool = await h.client.getPool(name)
        // as JSON carries it: fc.double() makes -0, which travels (and is kept) as 0
        assert.deepEqual([pool.name, pool.slots, pool.held], [name, asSent(slots), 0])
      }),
      { numRuns: 60 },
    )
  })

  it('priorities: a 32-bit integer is kept as given, anything else is a 400; claims come highest first, then oldest', async () => {
    await fc.assert(
      fc.asyncProperty(wholeNumberish(-INT32_MAX, INT32_MAX), async (priority) => {
        const res = await send('POST', '/api/flows/unclaimed/runs', { parameters: {}, priority })
        const valid = typeof priority === 'number' && Number.isInteger(priority) && Math.abs(priority) <= INT32_MAX
        assert.equal(res.status, valid ? 201 : 400, JSON.stringify(res.body))
        if (valid) {
          assert.equal((await h.client.getRun(res.body.id as string)).priority, asSent(priority))
          await h.client.cancelRun(res.body.id as string)
        } else assert.match(res.body.error?.message ?? '', /priority/)
      }),
      { numRuns: 40 },
    )
    // claim order, through the agents' own API: an agent with the label claims one run per poll
    const agent = await h.client.registerAgent({ name: 'priority-prober', type: 'local', labels: ['nobody'], concurrency: 1 })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 6 }), async (priorities) => {
        const ids: string[] = []
        for (const priority of priorities) ids.push((await h.client.createRun('unclaimed', {}, { priority })).id)
        const claimed: string[] = []
        for (let i = 0; i < ids.length; i++) {
          const { runs } = await h.client.poll(agent.id, { slots: 1, waitMs: 0, prefetchMs: 0 })
          assert.equal(runs.length, 1)
          claimed.push((runs[0] as { id: string }).id)
          const proc = h.client.forRun((runs[0] as { token: string }).token)
          await proc.proposeState(claimed.at(-1) as string, 'running', undefined, agent.id)
          await proc.proposeState(claimed.at(-1) as string, 'success', undefined, agent.id)
        }
        // a stable sort by priority, highest first, keeps creation order among equals
        const expected = ids.map((id, i) => ({ id, p: priorities[i] as number })).sort((a, b) => b.p - a.p).map((x) => x.id)
        assert.deepEqual(claimed, expected, JSON.stringify({ priorities, ids, claimed }))
      }),
      { numRuns: 15 },
    )
    await h.client.stopAgent(agent.id)
  })

  it('backfill ranges: each time in the range gets exactly one run, never a second; bad ranges are a 400', async () => {
    await h.client.setSchedule('unclaimed-minutely', false)
    const MIN = 60_000
    let window = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ from: fc.integer({ min: 0, max: 30 }), span: fc.integer({ min: -3, max: 20 }), missingOnly: fc.boolean(), maxActive: fc.option(fc.integer({ min: 1, max: 5 })) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: 0, max: MIN - 1 }),
        async (requests, jitter) => {
          // each case gets an hour of its own, well in the past, minute-aligned, and requests off the minute
          const base = Math.floor(Date.now() / MIN) * MIN - (window++ + 2) * 60 * MIN
          const covered = new Set<number>()
          for (const r of requests) {
            const from = base + r.from * MIN - jitter
            const to = from + r.span * MIN
            const res = await send('POST', '/api/flows/unclaimed-minutely/backfills', {
              from: new Date(from).toISOString(),
              to: new Date(to).toISOString(),
              missingOnly: r.missingOnly,
              maxActive: r.maxActive,
            })
            if (to < from) {
              assert.equal(res.status, 400)
              assert.match(res.body.error?.message ?? '', /the range starts after it ends/)
              continue
            }
            assert.equal(res.status, 201, JSON.stringify(res.body))
            const ticks: number[] = []
            for (let t = Math.ceil(from / MIN) * MIN; t <= to; t += MIN) ticks.push(t)
            const fresh = ticks.filter((t) => !covered.has(t))
            assert.deepEqual([res.body.times, res.body.created, res.body.existing], [ticks.length, fresh.length, ticks.length - fresh.length])
            for (const t of ticks) covered.add(t)
          }
          const rows = await h.server.db.query<{ t: Date; n: number }>(
            `select r.scheduled_start_time as t, count(*)::int as n from rota_flow_runs r join rota_flows f on f.id = r.flow_id
             where f.name = 'unclaimed-minutely' and r.scheduled_start_time >= $1 and r.scheduled_start_time < $2 group by 1`,
            [new Date(base - MIN), new Date(base + 60 * MIN)],
          )
          assert.deepEqual(rows.map((r) => new Date(r.t).getTime()).sort(), [...covered].sort(), 'a run for every time asked for, and only those')
          assert.ok(rows.every((r) => r.n === 1), 'never two runs for one time')
        },
      ),
      { numRuns: 20 },
    )
  })

  describe('map (no database)', { skip: DB_KIND === 'pglite' ? false : 'no database involved: runs in the PGlite pass only' }, () => {
    it('at most `concurrency` at once, results in item order, a failure stops new items and waits for those in flight', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ ms: fc.integer({ min: 0, max: 4 }), fails: fc.boolean() }), { maxLength: 16 }),
          fc.integer({ min: 1, max: 6 }),
          fc.boolean(),
          async (items, concurrency, returnErrors) => {
            let inFlight = 0
            let most = 0
            let failedAt: number | undefined
            const started: number[] = []
            const ended: number[] = []
            const notStarted: number[] = []
            const call = async (item: { ms: number; fails: boolean }, index: number) => {
              assert.equal(failedAt === undefined || returnErrors, true, `item ${index} started after item ${String(failedAt)} failed`)
              started.push(index)
              most = Math.max(most, ++inFlight)
              try {
                await new Promise((r) => setTimeout(r, item.ms))
                if (item.fails) {
                  failedAt ??= index
                  throw new Error(`item ${index}`)
                }
                return index * 10
              } finally {
                inFlight--
                ended.push(index)
              }
            }
            const outcome = await mapItems(items, { concurrency, returnErrors }, call, { taskName: 't', notStarted: (i) => notStarted.push(i) }).then(
              (results) => ({ results }),
              (error: unknown) => ({ error }),
            )
            assert.equal(inFlight, 0, 'nothing in flight once the map has answered')
            assert.equal(most, Math.min(concurrency, items.length))
            assert.deepEqual([...started].sort((a, b) => a - b), started.map((_, i) => i), 'items start in order')
            assert.deepEqual(notStarted, items.map((_, i) => i).slice(started.length), 'every item not started is reported')
            if (returnErrors || !items.some((x) => x.fails)) {
              assert.ok('results' in outcome)
              assert.deepEqual(
                outcome.results.map((r) => (r instanceof Error ? r.message : r)),
                items.map((x, i) => (x.fails ? `item ${i}` : i * 10)),
              )
            } else {
              assert.ok('error' in outcome)
              assert.equal((outcome.error as Error).message, `item ${String(failedAt)}`)
            }
          },
        ),
        { numRuns: 60 },
      )
    })

    it('refuses a concurrency that is not a whole number >= 1, and items that are not a list', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.integer({ max: 0 }), fc.double().filter((d) => !Number.isInteger(d)), fc.constantFrom(Number.NaN, Infinity)), async (concurrency) => {
          await assert.rejects(mapItems([1], { concurrency }, async () => 1, { taskName: 'sq' }), /sq\.map\(\): concurrency must be a whole number >= 1/)
        }),
      )
      await assert.rejects(mapItems(null as unknown as number[], {}, async () => 1, { taskName: 'sq' }), /sq\.map\(\) needs a list \(an iterable\) of items, got null/)
    })
  })
})

if (DB_KIND === 'postgres') {
  describe('two servers on one PostgreSQL', () => {
    it('agents of both servers claiming one flow with maxActiveRuns 1 never run two at once', async () => {
      const db = await freshDatabase()
      const a = await startServer(testConfig(db), { log: () => undefined })
      const b = await startServer(testConfig(db), { log: () => undefined })
      const ca = new RotaClient(a.url)
      const cb = new RotaClient(b.url)
      const agents = [ca, ca, cb, cb].map(
        (client, i) => new Agent({ client, launcher: new LocalLauncher({ projectRoot: ROOT }), name: `racer-${i}`, concurrency: 3, prefetchMs: 1000, log: () => undefined }),
      )
      try {
        await registerFile(ca, FIXTURES, ROOT)
        const f = file('replicas')
        const ids: string[] = []
        for (let i = 0; i < 6; i++) ids.push((await (i % 2 ? ca : cb).createRun('one-at-a-time', { file: f, ms: 300 })).id)
        await Promise.all(agents.map((agent) => agent.start()))
        const runs = await Promise.all(ids.map((id) => waitForRunState(ca, id, TERMINAL, 90_000)))
        assert.deepEqual([...new Set(runs.map((r) => r.state))], ['success'])
        assertNoOverlap(f)
        assert.equal(intervals(f).size, 6)
      } finally {
        await Promise.all(agents.map((agent) => agent.stop()))
        await a.close()
        await b.close()
        await db.drop()
      }
    })
  })
}
