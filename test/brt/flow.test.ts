/**
 * The brt-gps flow through the SDK's runtime (in this process, as `rota run --local` does): task
 * states, skips, logs and artifacts; an API outage and a malformed payload fail the capture task
 * after its retries and lose nothing already buffered.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { ArtifactRecord, Reporter, TaskEvent } from '../../src/sdk/context.ts'
import { runFlow } from '../../src/sdk/runtime.ts'
import { startSimulator, type Simulator } from '../../pipelines/brt/simulator.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

interface Recorded {
  states: TaskEvent[]
  logs: Array<{ level: string; message: string; task: string | undefined }>
  artifacts: Map<string, ArtifactRecord>
}

function recorder(): Reporter & Recorded {
  const r: Recorded = { states: [], logs: [], artifacts: new Map() }
  return {
    ...r,
    taskState: (e) => r.states.push(e),
    log: (level, message, task) => r.logs.push({ level, message, task }),
    artifact: async (a) => {
      r.artifacts.set(a.key, a)
    },
    flush: async () => undefined,
  }
}

function finalState(rec: Recorded, task: string): TaskEvent | undefined {
  return rec.states.filter((s) => s.taskName === task).at(-1)
}

describe('brt-gps flow (SDK runtime)', { skip: DB_FREE, timeout: 300_000 }, () => {
  let sim: Simulator
  let cleanup: () => Promise<void>
  let flow: Awaited<typeof import('../../pipelines/brt/flow.ts')>['default']
  let runs = 0
  const run = async (parameters: Record<string, unknown> = { capturesPerFile: 3, maxBufferMinutes: 15 }) => {
    const rec = recorder()
    const outcome = await runFlow(flow as unknown as Parameters<typeof runFlow>[0], { flowRunId: `run-${++runs}`, flowRunName: `test-run-${runs}`, parameters, reporter: rec })
    return { outcome, rec }
  }

  before(async () => {
    sim = await startSimulator({ vehicles: 120, seed: 9, absentRate: 0 })
    const t = await tempHome()
    cleanup = t.cleanup
    // The flow resolves its configuration from the environment, as in a flow-run process.
    process.env.ROTA_HOME = t.home
    process.env.BRT_API_URL = sim.url
    process.env.BRT_API_TIMEOUT_SECONDS = '2'
    delete process.env.LAKE_URL
    delete process.env.WAREHOUSE
    flow = (await import('../../pipelines/brt/flow.ts')).default
  })
  after(async () => {
    await sim.close()
    await cleanup()
  })

  test('is named brt-gps, scheduled every minute, with its parameters', () => {
    assert.equal(flow.name, 'brt-gps')
    assert.deepEqual(flow.tasks, ['capture', 'buffer', 'write-csv', 'upload', 'load', 'dbt', 'retention'])
  })

  test('buffers until the window is full, then writes, uploads, loads and builds', async () => {
    for (let i = 1; i <= 2; i++) {
      const { outcome, rec } = await run()
      assert.equal(outcome.state, 'success', outcome.message)
      assert.equal(finalState(rec, 'buffer')?.state, 'success')
      assert.ok(rec.logs.some((l) => l.task === 'buffer' && l.message.includes(`buffer: ${i}/3 captures`)))
      for (const t of ['write-csv', 'upload', 'load', 'dbt']) assert.equal(finalState(rec, t)?.state, 'skipped', `${t} skipped on run ${i}`)
    }
    const { outcome, rec } = await run()
    assert.equal(outcome.state, 'success', outcome.message)
    for (const t of ['write-csv', 'upload', 'load', 'dbt']) assert.equal(finalState(rec, t)?.state, 'success', `${t} ran`)
    assert.ok(rec.logs.some((l) => l.task === 'write-csv' && /wrote 360 rows of 3 captures/.test(l.message)))
    assert.ok(rec.logs.some((l) => l.task === 'dbt' && /Completed successfully/.test(l.message)), "dbt's output is in the task's logs")
    const dbt = rec.artifacts.get('dbt-results')!
    assert.equal(dbt.kind, 'table')
    const nodes = (dbt.data as { rows: Array<{ type: string; status: string }> }).rows
    const tests = nodes.filter((r) => r.type === 'test').length
    assert.ok(tests >= 15)
    assert.ok(nodes.every((r) => r.status === 'pass' || r.status === 'success'), JSON.stringify(nodes.filter((r) => r.status !== 'pass' && r.status !== 'success')))
    assert.match(dbt.description ?? '', /^dbt build: \d+ models, (\d+)\/\1 tests passed/)
    const dq = rec.artifacts.get('data-quality')!
    assert.equal(dq.kind, 'json')
    assert.deepEqual(dq.data, { warnings: [], checked: tests })
    assert.equal(finalState(rec, 'retention')?.state, 'skipped', 'lake retention is off by default')
    assert.ok(rec.logs.some((l) => l.task === 'load' && /staged the external tables \(dbt run-operation stage_external_sources\)/.test(l.message)))
    const files = rec.artifacts.get('brt-files')!
    assert.equal(files.kind, 'files')
    assert.equal((files.data as string[]).length, 1)
    const csv = rec.artifacts.get('csv')!
    assert.equal(csv.kind, 'link')
    assert.equal(csv.description, '360 rows from 3 captures')
    assert.match((csv.data as { url: string }).url, /bronze\/brt_gps\/dt=\d{4}-\d{2}-\d{2}\/brt_gps_.*\.csv$/)
  })

  test('an API outage fails capture after its retries, says so, and keeps the buffer', async () => {
    await run() // one capture in the buffer
    sim.setFault('http500')
    try {
      const { outcome, rec } = await run()
      assert.equal(outcome.state, 'failed')
      const capture = finalState(rec, 'capture')!
      assert.equal(capture.state, 'failed')
      assert.equal(capture.attempts, 4)
      assert.match(capture.message ?? '', /HTTP 500/)
      assert.equal(finalState(rec, 'buffer')?.state, 'skipped')
    } finally {
      sim.setFault('none')
    }
    sim.setFault('malformed', 4)
    const { outcome, rec } = await run()
    assert.equal(outcome.state, 'failed')
    assert.match(finalState(rec, 'capture')?.message ?? '', /malformed JSON/)
    const next = await run()
    assert.equal(next.outcome.state, 'success')
    assert.ok(next.rec.logs.some((l) => l.task === 'buffer' && l.message.includes('buffer: 2/3 captures')), 'the capture buffered before the outage is still there')
  })
})
