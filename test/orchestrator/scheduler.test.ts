/** The scheduler against a real database: idempotent across restarts, re-registration and catch-up. */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { freshDatabase, testConfig, waitFor, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'
import { RotaClient } from '../../src/client/index.ts'
import { registerFile } from '../../src/cli/register.ts'
import { registerFlow } from '../../src/server/scheduler.ts'
import { ROOT } from '../helpers/rota.ts'

const dbs: TestDatabase[] = []
after(async () => {
  for (const d of dbs) await d.drop()
})

async function boot(db: TestDatabase, scheduleEveryMs = 200): Promise<{ server: RunningServer; client: RotaClient }> {
  const server = await startServer(testConfig(db), { scheduleEveryMs, log: () => undefined })
  return { server, client: new RotaClient(server.url) }
}

async function duplicates(server: RunningServer): Promise<number> {
  const rows = await server.db.query<{ n: number }>(
    `select count(*)::int as n from (select flow_id, scheduled_start_time from rota_flow_runs group by 1, 2 having count(*) > 1) d`,
  )
  return rows[0]?.n ?? -1
}

async function scheduledTimes(server: RunningServer, flow: string): Promise<number[]> {
  const rows = await server.db.query<{ t: Date }>(
    `select r.scheduled_start_time as t from rota_flow_runs r join rota_flows f on f.id = r.flow_id where f.name = $1 and r.auto_scheduled order by 1`,
    [flow],
  )
  return rows.map((r) => new Date(r.t).getTime())
}

describe('scheduler', () => {
  it('creates runs ahead, never twice, across re-registration and a restart, with no gap', async () => {
    const db = await freshDatabase()
    dbs.push(db)
    let { server, client } = await boot(db)
    await registerFile(client, 'test/fixtures/scheduled.ts', ROOT)
    const first = await waitFor('runs ahead of now', async () => ((await scheduledTimes(server, 'every-second')).length >= 3 ? true : undefined))
    assert.ok(first)
    const flow = await client.getFlow('every-second')
    assert.equal(flow.scheduleText, 'every 1 second')
    // re-registering the same definition, and a changed one with the same schedule
    assert.equal((await registerFile(client, 'test/fixtures/scheduled.ts', ROOT))[0]?.status, 'unchanged')
    const reg = { name: 'every-second', description: 'changed', version: 'v2', entrypoint: 'test/fixtures/scheduled.ts:everySecond', schedule: { intervalSeconds: 1 }, parameters: [], tasks: ['tick'], labels: [], catchUp: 'latest' as const, retries: 0, retryDelaySeconds: 10, maxActiveRuns: null, overlap: 'queue' as const, pool: null, taskPools: {}, isolation: null }
    assert.equal((await registerFlow(server.db, server.bus, reg)).status, 'updated')
    assert.equal(await duplicates(server), 0)
    const beforeRestart = Math.max(...(await scheduledTimes(server, 'every-second')))
    await server.close()
    ;({ server, client } = await boot(db))
    await new Promise((r) => setTimeout(r, 600))
    assert.equal(await duplicates(server), 0)
    const times = await scheduledTimes(server, 'every-second')
    // contiguous 1 s ticks from the first to the last: nothing skipped, nothing twice
    for (let i = 1; i < times.length; i++) assert.equal((times[i] as number) - (times[i - 1] as number), 1000, `gap at ${i}`)
    assert.ok(Math.max(...times) >= beforeRestart)
    await server.close()
  })

  it('after downtime runs only the newest missed run and skips the others with a reason', async () => {
    const db = await freshDatabase()
    dbs.push(db)
    let { server, client } = await boot(db)
    await registerFile(client, 'test/fixtures/scheduled.ts', ROOT)
    await waitFor('runs ahead', async () => ((await scheduledTimes(server, 'every-second')).length >= 3 ? true : undefined))
    await server.close()
    await new Promise((r) => setTimeout(r, 4000)) // no server, no agent: ticks are missed
    ;({ server, client } = await boot(db))
    const skipped = await waitFor('missed runs skipped', async () => {
      const { items } = await client.listRuns({ flow: 'every-second', state: 'skipped', limit: 100 })
      return items.length >= 2 ? items : undefined
    })
    assert.match(skipped[0]?.stateMessage ?? '', /catch-up policy 'latest'/)
    const overdue = await server.db.query<{ n: number }>(
      `select count(*)::int as n from rota_flow_runs where state = 'scheduled' and scheduled_start_time < now() - interval '1.5 seconds'`,
    )
    assert.ok((overdue[0]?.n ?? 99) <= 1, 'at most the newest missed run is still waiting')
    await server.close()
  })

  it('pauses and resumes a schedule', async () => {
    const db = await freshDatabase()
    dbs.push(db)
    const { server, client } = await boot(db)
    await registerFile(client, 'test/fixtures/scheduled.ts', ROOT)
    await waitFor('runs ahead', async () => ((await scheduledTimes(server, 'every-second')).length >= 3 ? true : undefined))
    const paused = await client.setSchedule('every-second', false)
    assert.equal(paused.scheduleActive, false)
    await new Promise((r) => setTimeout(r, 500))
    const { items } = await client.listRuns({ flow: 'every-second', state: 'scheduled' })
    assert.equal(items.length, 0, 'no upcoming runs while paused')
    const resumed = await client.setSchedule('every-second', true)
    assert.equal(resumed.scheduleActive, true)
    await waitFor('upcoming runs again', async () => ((await client.listRuns({ flow: 'every-second', state: 'scheduled' })).items.length >= 3 ? true : undefined))
    assert.equal(await duplicates(server), 0)
    await server.close()
  })
})
