/**
 * The brt-gps flow through a real server and a real local agent (one child process per run), with
 * the simulator as the API: 10 runs give one CSV holding every row; silver and gold are as the raw
 * captures say; the dashboard routes serve gold; a run killed between writing the CSV and clearing
 * the buffer is recovered by the next run with nothing lost or duplicated.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { readRawCapture } from '../../pipelines/brt/capture.ts'
import { LocalLake } from '../../pipelines/brt/lake.ts'
import { startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { ROOT, startHarness, waitForRunState, type Harness } from '../helpers/rota.ts'

describe('brt-gps through server and agent', { timeout: 600_000 }, () => {
  let sim: Simulator
  let h: Harness
  let lake: LocalLake

  before(async () => {
    sim = await startSimulator({ vehicles: 150, seed: 21, absentRate: 0 })
    h = await startHarness()
    // Flow-run processes inherit the agent's environment: this is their configuration.
    process.env.ROTA_HOME = h.db.home
    process.env.BRT_API_URL = sim.url
    delete process.env.LAKE_URL
    delete process.env.WAREHOUSE
    delete process.env.ROTA_BRT_CRASH_AT
    lake = new LocalLake(path.join(h.db.home, 'lake'))
    await h.register(path.join(ROOT, 'pipelines/brt/flow.ts'))
    await h.client.setSchedule('brt-gps', false) // runs below are started one by one
    await h.startAgent()
  })
  after(async () => {
    await h?.close()
    await sim?.close()
  })

  const runOnce = async (parameters: Record<string, unknown>) => {
    const run = await h.client.createRun('brt-gps', parameters)
    return waitForRunState(h.client, run.id, undefined, 120_000)
  }

  test('10 runs give one CSV with every row, silver and gold as the captures say, served at /api/brt', async () => {
    for (let i = 1; i <= 10; i++) {
      const run = await runOnce({ capturesPerFile: 10, maxBufferMinutes: 15 })
      assert.equal(run.state, 'success', `run ${i}: ${run.stateMessage ?? ''}\n${h.logs.slice(-30).join('\n')}`)
    }
    const csvs = await lake.list('bronze/brt_gps')
    assert.equal(csvs.length, 1)
    const lines = (await lake.get(csvs[0]!))!.toString('utf8').trimEnd().split('\n')
    assert.equal(lines.length, 1 + 10 * 150)
    const raws = await lake.list('raw/brt_gps')
    assert.equal(raws.length, 10)
    const keys = new Set<string>()
    for (const k of raws) for (const r of await readRawCapture(lake, k)) keys.add(`${String(r.codigo)}|${String(r.dataHora)}`)
    const [silver] = await queryWarehouse(h.db.home, 'select count(*)::int as n from silver.brt_gps')
    assert.equal(silver!.n, keys.size)
    const [gold] = await queryWarehouse(h.db.home, 'select count(*)::int as n from gold.brt_vehicle_latest')
    const res = await fetch(`${h.server.url}/api/brt/vehicles`)
    assert.equal(res.status, 200)
    const body = (await res.json()) as { items: unknown[] }
    assert.equal(body.items.length, gold!.n)
    assert.ok(Number(gold!.n) > 100)
    const buffer = (await (await fetch(`${h.server.url}/api/brt/buffer`)).json()) as { captures: number }
    assert.equal(buffer.captures, 0)
    // one run at a time, and dbt builds in the warehouse pool, whose slot every run gave back
    const flow = await h.client.getFlow('brt-gps')
    assert.deepEqual([flow.maxActiveRuns, flow.overlap, flow.taskPools], [1, 'queue', { dbt: 'warehouse' }])
    const warehouse = await h.client.getPool('warehouse')
    assert.deepEqual([warehouse.slots, warehouse.held, warehouse.waiting.length], [1, 0, 0])
  })

  test('a run killed between writing the CSV and clearing the buffer is recovered by the next', async () => {
    const params = { capturesPerFile: 2, maxBufferMinutes: 15 }
    assert.equal((await runOnce(params)).state, 'success')
    process.env.ROTA_BRT_CRASH_AT = 'csv-written'
    let crashed
    try {
      crashed = await runOnce(params)
    } finally {
      delete process.env.ROTA_BRT_CRASH_AT
    }
    assert.ok(['crashed', 'failed'].includes(crashed.state), `killed run ends crashed, got ${crashed.state}`)
    assert.equal((await lake.list('_buffer/brt_gps/outbox')).length, 1, 'the CSV was written')
    assert.equal((await lake.list('_buffer/brt_gps/pending')).length, 2, 'the buffer was not cleared')
    // The next run waits for the dead run's lock to go stale, finishes the window, and uploads it.
    const next = await runOnce(params)
    assert.equal(next.state, 'success', next.stateMessage ?? '')
    const csvs = await lake.list('bronze/brt_gps')
    assert.equal(csvs.length, 2)
    const seen = new Map<string, number>()
    for (const k of csvs) {
      const ids = new Set((await lake.get(k))!.toString('utf8').trimEnd().split('\n').slice(1).map((l) => l.slice(0, l.indexOf(','))))
      for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1)
    }
    assert.equal(seen.size, 12, 'ten captures in the first CSV, two in the recovered one')
    assert.ok([...seen.values()].every((n) => n === 1), 'no capture written twice')
    assert.equal((await lake.list('_buffer/brt_gps/pending')).length, 1, "the third run's capture waits in the buffer")
    const [silver] = await queryWarehouse(h.db.home, 'select count(*)::int as n, count(distinct (vehicle_id, gps_time_utc))::int as d from silver.brt_gps')
    assert.equal(silver!.n, silver!.d)
  })
})
