/** End to end through the CLI, as a user types it: server, agent, register, run --wait. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cli, freshDatabase, spawnCli, type TestDatabase } from '../helpers/rota.ts'

let db: TestDatabase
let env: Record<string, string | undefined>
let server: Awaited<ReturnType<typeof spawnCli>>
let agent: Awaited<ReturnType<typeof spawnCli>>

before(async () => {
  db = await freshDatabase()
  const port = 47000 + Math.floor(Math.random() * 2000)
  env = { ROTA_HOME: db.home, DATABASE_URL: db.databaseUrl ?? '', ROTA_PORT: String(port), ROTA_API_URL: `http://127.0.0.1:${port}`, ROTA_API_KEY: '' }
  server = await spawnCli(['server', 'start'], env, /listening on/)
  agent = await spawnCli(['agent', 'start', '--label', 'cli-test'], env, /started \(id/)
})
after(async () => {
  await agent?.kill()
  await server?.kill()
  await db?.drop()
})

describe('rota CLI', () => {
  it('registers, runs with --wait (exit 0 on success) and lists flows, runs and logs', async () => {
    const reg = await cli(['register', 'test/fixtures/hello.ts'], env)
    assert.equal(reg.code, 0, reg.stderr)
    assert.match(reg.stdout, /hello: created/)
    const again = await cli(['register', 'test/fixtures/hello.ts'], env)
    assert.match(again.stdout, /hello: unchanged/)

    const run = await cli(['run', 'hello', '--param', 'n=7', '--wait'], env)
    assert.equal(run.code, 0, run.stdout + run.stderr)
    assert.match(run.stdout, /\[extract\] extracting 7 rows/)
    assert.match(run.stdout, /ended success/)
    const id = /\(([0-9a-f-]{36})\)/.exec(run.stdout)?.[1] as string

    const flows = await cli(['flows'], env)
    assert.match(flows.stdout, /hello\s+not scheduled\s+on\s+success/)
    const runs = await cli(['runs', '--flow', 'hello'], env)
    assert.match(runs.stdout, new RegExp(`${id}.*hello\\s+success`))
    const logs = await cli(['logs', id], env)
    assert.match(logs.stdout, /loaded 7/)
    assert.match(agent.output(), /submitting run/)
    assert.match(agent.output(), /finished with state success/)
  })

  it('exits 1 with a message for a failing run, bad parameters, unknown runs and an unreachable server', async () => {
    await cli(['register', 'test/fixtures/flows.ts'], env)
    const failing = await cli(['run', 'skipping', '--param', 'n=20', '--param', 'fail=true', '--wait'], env)
    assert.equal(failing.code, 1)
    assert.match(failing.stdout, /ended failed/)
    const badParam = await cli(['run', 'hello', '--param', 'n=lots'], env)
    assert.equal(badParam.code, 1)
    assert.match(badParam.stderr, /parameter "n" must be a number/)
    const unknown = await cli(['cancel', '00000000-0000-4000-8000-000000000000'], env)
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /does not exist/)
    const down = await cli(['flows'], { ...env, ROTA_API_URL: 'http://127.0.0.1:9' })
    assert.equal(down.code, 1)
    assert.match(down.stderr, /cannot reach the Rota server .* start it with `rota up`/)
  })

  it('pauses and resumes a schedule, runs a flow locally without a server', async () => {
    await cli(['register', 'test/fixtures/scheduled.ts'], env)
    assert.match((await cli(['schedule', 'pause', 'every-second'], env)).stdout, /schedule paused/)
    assert.match((await cli(['schedule', 'resume', 'every-second'], env)).stdout, /schedule active/)
    await cli(['schedule', 'pause', 'every-second'], env)
    const local = await cli(['run', '--local', 'test/fixtures/hello.ts', '--param', 'n=0'], { ROTA_API_URL: 'http://127.0.0.1:9' })
    assert.equal(local.code, 0, local.stderr)
    assert.match(local.stdout, /task transform SKIPPED - nothing to transform/)
    assert.match(local.stdout, /task load SKIPPED - upstream task "transform" was skipped/)
  })
})
