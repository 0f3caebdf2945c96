/**
 * Retention through a real server and agent: finished runs past the age go with their task runs,
 * state history, logs and artifacts, the newest `keepLast` of each flow stay, flows' own settings
 * win, scheduled and running runs stay whatever their age, and a deleted run's endpoints answer 404.
 * ROTA_RETENTION is 15 s here and the sweep runs every 300 ms in batches of 2 (so a sweep takes
 * several batches).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import type { FlowRun } from '../../src/client/index.ts'
import { parsePrometheus } from '../helpers/prometheus.ts'

const MAX_AGE_S = 15
let h: Harness

before(async () => {
  h = await startHarness({ overrides: { retention: { maxAgeSeconds: MAX_AGE_S, keepLast: 2 } }, server: { retentionEveryMs: 300, retention: { batchSize: 2 } } })
  await h.register('test/fixtures/ops.ts')
  await h.register('test/fixtures/flows.ts')
  await h.startAgent({ concurrency: 4 })
})
after(async () => {
  await h?.close()
})

async function quickRun(flow: string, body: Record<string, unknown> = {}): Promise<FlowRun> {
  const res = await fetch(`${h.server.url}/api/flows/${flow}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  assert.equal(res.status, 201, await res.clone().text())
  return (await res.json()) as FlowRun
}

async function runsOf(flow: string): Promise<FlowRun[]> {
  return (await h.client.listRuns({ flow, limit: 100 })).items
}

async function childRows(ids: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const table of ['rota_task_runs', 'rota_logs', 'rota_artifacts', 'rota_flow_run_states']) {
    const [row] = await h.server.db.query<{ n: string | number }>(`select count(*) as n from ${table} where flow_run_id = any($1::uuid[])`, [ids])
    out[table] = Number(row?.n)
  }
  return out
}

describe('retention', () => {
  it('deletes finished runs past the age with everything they kept, keeps the newest, the flows\' own settings, and unfinished runs', async () => {
    // Unfinished runs scheduled long ago: one no agent may take (scheduled, late), one running for the whole test.
    const waiting = await quickRun('unclaimed', { scheduledStartTime: new Date(Date.now() - 10 * 60_000).toISOString() })
    const running = await quickRun('slow', { parameters: { seconds: 60 }, scheduledStartTime: new Date(Date.now() - 5 * 60_000).toISOString() })

    const made: Record<string, string[]> = { 'keep-default': [], 'keep-four': [], 'keep-hour': [] }
    for (let i = 0; i < 6; i++) {
      for (const flow of Object.keys(made)) {
        if (flow === 'keep-hour' && i >= 3) continue
        // one failure among them: finished is finished, whatever the end state
        made[flow]?.push((await quickRun(flow, { parameters: { fail: i === 1 } })).id)
        await new Promise((r) => setTimeout(r, 5)) // distinct scheduled times, so "newest" is well defined
      }
    }
    const all = Object.values(made).flat()
    await waitForRunState(h.client, running.id, ['running'])

    // Watched every 250 ms from now: a run disappears only once it is finished and MAX_AGE old, until
    // keep-default keeps its 2 newest (the server's keepLast), keep-four its own 4, keep-hour all 3 (its own age).
    const expected: Record<string, number> = { 'keep-default': 2, 'keep-four': 4, 'keep-hour': 3 }
    const ended = new Map<string, number>()
    const gone = new Set<string>()
    await waitFor('retention to leave each flow its newest runs', async () => {
      let settled = true
      for (const [flow, ids] of Object.entries(made)) {
        const runs = await runsOf(flow)
        const present = new Set(runs.map((r) => r.id))
        for (const r of runs) if (r.endTime) ended.set(r.id, Date.parse(r.endTime))
        for (const id of ids) {
          if (present.has(id) || gone.has(id)) continue
          const end = ended.get(id)
          assert.ok(end !== undefined, `run ${id} of ${flow} went before it was seen finished`)
          assert.ok(Date.now() - end >= MAX_AGE_S * 1000 - 500, `run ${id} went ${Date.now() - end} ms after it ended, before it was ${MAX_AGE_S} s old`)
          gone.add(id)
        }
        if (runs.length !== expected[flow] || runs.some((r) => !r.endTime)) settled = false
      }
      return settled ? true : undefined
    }, 120_000, 250)
    await new Promise((r) => setTimeout(r, 1000)) // a few more sweeps: nothing else goes
    const kept = {
      'keep-default': (await runsOf('keep-default')).map((r) => r.id).sort(),
      'keep-four': (await runsOf('keep-four')).map((r) => r.id).sort(),
      'keep-hour': (await runsOf('keep-hour')).map((r) => r.id).sort(),
    }
    assert.deepEqual(kept['keep-default'], (made['keep-default'] as string[]).slice(-2).sort(), 'the newest two are kept')
    assert.deepEqual(kept['keep-four'], (made['keep-four'] as string[]).slice(-4).sort(), 'keep-four keeps its own four')
    assert.deepEqual(kept['keep-hour'], (made['keep-hour'] as string[]).sort(), 'keep-hour keeps runs for an hour')

    // Unfinished runs stay, however old.
    assert.equal((await h.client.getRun(waiting.id)).state, 'scheduled')
    assert.equal((await h.client.getRun(running.id)).state, 'running')

    // The deleted runs' task runs, history, logs and artifacts are gone; their endpoints answer 404.
    const deleted = all.filter((id) => !Object.values(kept).flat().includes(id))
    assert.equal(deleted.length, 6, JSON.stringify({ made, kept }))
    assert.deepEqual([...gone].sort(), [...deleted].sort())
    assert.deepEqual(await childRows(deleted), { rota_task_runs: 0, rota_logs: 0, rota_artifacts: 0, rota_flow_run_states: 0 })
    const one = deleted[0] as string
    for (const p of ['', '/logs', '/task-runs', '/artifacts', '/states']) {
      const res = await fetch(`${h.server.url}/api/flow-runs/${one}${p}`)
      assert.equal(res.status, 404, p)
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /does not exist/)
    }
    const late = await fetch(`${h.server.url}/api/flow-runs/${one}/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: 'x', logs: [{ seq: 1, time: new Date().toISOString(), level: 'info', message: 'too late' }] }),
    })
    assert.equal(late.status, 404, 'a late report for a deleted run is refused, not stored')
    // The kept runs keep what they had.
    assert.deepEqual(Object.values(await childRows(kept['keep-default'])).every((n) => n > 0), true)

    // Health shows the database's size, the oldest run kept (the unclaimed one) and the policy.
    const health = await h.client.health()
    assert.ok(health.storage.databaseBytes !== null && health.storage.databaseBytes > 100_000, `database size ${health.storage.databaseBytes}`)
    await waitFor('the oldest run to be the unclaimed one', async () => {
      const s = (await h.client.health()).storage
      return s.oldestRun === waiting.scheduledStartTime ? s : undefined
    }, 15_000, 500)
    assert.deepEqual(health.storage.retention, { maxAgeSeconds: MAX_AGE_S, keepLast: 2 })
    // ...and so do the metrics, with what retention deleted.
    const metrics = await parsePrometheus(await (await fetch(`${h.server.url}/metrics`)).text())
    const deletedBy = (flow: string) => metrics.find((f) => f.name === 'rota_retention_deleted_runs')?.samples.find((s) => s.labels.flow === flow)?.value
    assert.deepEqual([deletedBy('keep-default'), deletedBy('keep-four'), deletedBy('keep-hour')], [4, 2, undefined])
    assert.ok((metrics.find((f) => f.name === 'rota_database_bytes')?.samples[0]?.value ?? 0) > 100_000)
    await h.client.cancelRun(running.id)
  })
})
