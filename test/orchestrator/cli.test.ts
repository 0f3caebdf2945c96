/** End to end through the CLI, as a user types it: server, agent, register, run --wait. */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { cli, freshDatabase, ROOT, spawnCli, type TestDatabase } from '../helpers/rota.ts'

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

  it('prints absolute local times with their offset, and a failed task\'s stack (TypeScript file and line) in run --wait and logs', async () => {
    const tz = { ...env, TZ: 'America/Sao_Paulo' }
    await cli(['register', 'test/fixtures/truth-flows.ts'], env)
    const line = fs.readFileSync(path.join(ROOT, 'test/fixtures/truth-flows.ts'), 'utf8').split('\n').findIndex((l) => l.includes('// THROW-HERE')) + 1
    const run = await cli(['run', 'ledger', '--wait'], tz)
    assert.equal(run.code, 1)
    assert.match(run.stdout, /^\d\d:\d\d:\d\d\.\d{3}-03:00 ERROR \[balance\] failed after 1 attempt: ledger does not balance: off by 7\n\s+LedgerError: ledger does not balance/m)
    assert.ok(run.stdout.includes(`truth-flows.ts:${line}:`), run.stdout)
    assert.match(run.stdout, /ended failed: task "balance" failed after 1 attempt/)
    const id = /\(([0-9a-f-]{36})\)/.exec(run.stdout)?.[1] as string
    const logs = await cli(['logs', id], tz)
    assert.ok(logs.stdout.includes(`truth-flows.ts:${line}:`), logs.stdout)
    assert.match(logs.stdout, /scheduled \d{4}-\d\d-\d\d \d\d:\d\d:\d\d -03:00/)
    const runs = await cli(['runs', '--flow', 'ledger', '--search', run.stdout.match(/created run ([a-z]+-[a-z]+)/)?.[1] ?? '?'], { ...env, TZ: 'Asia/Kolkata' })
    assert.match(runs.stdout, new RegExp(`${id}.*ledger\\s+failed\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+05:30 \\(\\d+s ago\\)`))
  })

  it('refuses to register a flow file outside the project, saying what to do instead', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-outside-'))
    try {
      fs.writeFileSync(path.join(outside, 'flow.ts'), "import { defineFlow } from 'rota'\nexport default defineFlow({ name: 'outside' }, async () => undefined)\n")
      const reg = await cli(['register', path.join(outside, 'flow.ts')], env)
      assert.equal(reg.code, 1)
      assert.match(reg.stderr, /flow file .*flow\.ts is refused: it is outside the project \(the project root is .*\); agents import flows only from inside the project; move it into the project, or run it here with `rota run --local .*flow\.ts`/)
      assert.doesNotMatch(reg.stderr, /cycle/)
    } finally {
      fs.rmSync(outside, { recursive: true, force: true })
    }
  })
})
