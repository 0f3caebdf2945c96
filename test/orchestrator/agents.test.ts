/** Agents and servers failing for real: races, kill -9 of an agent, a server killed mid-run, replicas. */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { DB_KIND, freshDatabase, ROOT, spawnCli, startHarness, testConfig, waitFor, waitForRunState, type TestDatabase } from '../helpers/rota.ts'
import { RotaClient } from '../../src/client/index.ts'
import { Agent } from '../../src/agent/agent.ts'
import { LocalLauncher } from '../../src/agent/local.ts'
import { registerFile } from '../../src/cli/register.ts'
import { startServer } from '../../src/server/index.ts'
import { DatabaseLockedError } from '../../src/server/db/index.ts'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-agents-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))

function envFor(db: TestDatabase, port: number): Record<string, string | undefined> {
  return { ROTA_HOME: db.home, DATABASE_URL: db.databaseUrl ?? '', ROTA_PORT: String(port), ROTA_API_URL: `http://127.0.0.1:${port}`, ROTA_API_KEY: '' }
}

async function freePort(): Promise<number> {
  const net = await import('node:net')
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

describe('agents', () => {
  it('two agents racing for the same runs execute every run exactly once', async () => {
    const h = await startHarness()
    try {
      await h.register('test/fixtures/flows.ts')
      const file = path.join(tmp, 'race.txt')
      const ids: string[] = []
      for (let i = 0; i < 24; i++) ids.push((await h.client.createRun('marker', { file })).id)
      await Promise.all([h.startAgent({ name: 'racer-a', concurrency: 4 }), h.startAgent({ name: 'racer-b', concurrency: 4 })])
      const runs = await Promise.all(ids.map((id) => waitForRunState(h.client, id, undefined, 120_000)))
      assert.deepEqual([...new Set(runs.map((r) => r.state))], ['success'], runs.filter((r) => r.state !== 'success').map((r) => `${r.state}: ${r.stateMessage}`).join('\n') + h.logs.slice(-40).join('\n'))
      const lines = fs.readFileSync(file, 'utf8').trim().split('\n')
      assert.equal(lines.length, 24, 'each run executed once')
      assert.deepEqual(new Set(lines), new Set(ids))
      const agentsUsed = new Set(runs.map((r) => r.agentId))
      assert.equal(agentsUsed.size, 2, 'both agents took work')
    } finally {
      await h.close()
    }
  })

  it('an agent killed with SIGKILL mid-run: the run is crashed within 30 s, then retried', async () => {
    const h = await startHarness()
    try {
      await h.register('test/fixtures/flows.ts')
      const agent = await spawnCli(['agent', 'start', '--name', 'doomed'], { ROTA_API_URL: h.server.url, ROTA_API_KEY: '' }, /started \(id/)
      const run = await h.client.createRun('slow', { seconds: 120 })
      await waitForRunState(h.client, run.id, ['running'], 30_000)
      const killedAt = Date.now()
      await agent.kill('SIGKILL')
      const crashed = await waitForRunState(h.client, run.id, ['crashed', 'failed', 'success', 'cancelled'], 40_000)
      assert.equal(crashed.state, 'crashed')
      assert.ok(Date.now() - killedAt < 30_000, `crashed after ${Date.now() - killedAt} ms`)
      assert.match(crashed.stateMessage ?? '', /no heartbeat/)
      // the flow allows one retry: a new run, pointing at the crashed one, which a new agent picks up
      const retry = await waitFor('the retry run', async () => (await h.client.listRuns({ flow: 'slow' })).items.find((r) => r.retryOf === run.id))
      assert.equal(retry.attempt, 2)
      await h.startAgent()
      await waitForRunState(h.client, retry.id, ['running'], 30_000)
      await h.client.cancelRun(retry.id)
      const agents = (await h.client.listAgents()).items
      assert.equal(agents.find((a) => a.name === 'doomed')?.status, 'unhealthy')
    } finally {
      await h.close()
    }
  })

  it('the server killed with SIGKILL and restarted mid-run: the run finishes and its states and logs land', async () => {
    const db = await freshDatabase()
    const port = await freePort()
    const env = envFor(db, port)
    let server = await spawnCli(['server', 'start'], env, /listening on/)
    const client = new RotaClient(`http://127.0.0.1:${port}`)
    const agent = new Agent({ client, launcher: new LocalLauncher({ projectRoot: ROOT }), name: 'survivor', prefetchMs: 1000, log: () => undefined })
    try {
      await registerFile(client, 'test/fixtures/flows.ts', ROOT)
      await agent.start()
      const run = await client.createRun('slow', { seconds: 6 })
      await waitForRunState(client, run.id, ['running'], 30_000)
      await server.kill('SIGKILL')
      await new Promise((r) => setTimeout(r, 2500)) // the run goes on; its reports queue up
      server = await spawnCli(['server', 'start'], env, /listening on/)
      const done = await waitForRunState(client, run.id, ['success', 'failed', 'crashed', 'cancelled'], 60_000)
      assert.equal(done.state, 'success', done.stateMessage ?? '')
      const [task] = (await client.taskRuns(run.id)).items
      assert.equal(task?.state, 'success')
      const logs = (await client.logs(run.id)).items.map((l) => l.message)
      for (let s = 0; s < 6; s++) assert.ok(logs.includes(`still working (${s}s)`), `log of second ${s} landed:\n${logs.join('\n')}`)
    } finally {
      await agent.stop()
      await server.kill()
      await db.drop()
    }
  })

  if (DB_KIND === 'postgres') {
    it('two servers on one PostgreSQL: no duplicate scheduled runs, and either serves the same runs', async () => {
      const db = await freshDatabase()
      const a = await startServer(testConfig(db), { scheduleEveryMs: 100, log: () => undefined })
      const b = await startServer(testConfig(db), { scheduleEveryMs: 100, log: () => undefined })
      const ca = new RotaClient(a.url)
      const cb = new RotaClient(b.url)
      const agent = new Agent({ client: ca, launcher: new LocalLauncher({ projectRoot: ROOT }), log: () => undefined })
      try {
        await Promise.all([registerFile(ca, 'test/fixtures/scheduled.ts', ROOT), registerFile(cb, 'test/fixtures/scheduled.ts', ROOT)])
        await new Promise((r) => setTimeout(r, 1500))
        const dup = await a.db.query<{ n: number }>(`select count(*)::int as n from (select flow_id, scheduled_start_time from rota_flow_runs group by 1, 2 having count(*) > 1) d`)
        assert.equal(dup[0]?.n, 0)
        await registerFile(cb, 'test/fixtures/hello.ts', ROOT)
        await agent.start()
        const run = await cb.createRun('hello', { n: 2 }) // created on B, executed by an agent of A
        assert.equal((await waitForRunState(cb, run.id)).state, 'success')
        // an event on B reaches A's listeners through NOTIFY
        assert.equal((await ca.getRun(run.id)).state, 'success')
      } finally {
        await agent.stop()
        await a.close()
        await b.close()
        await db.drop()
      }
    })
  } else {
    it('PGlite: a second server on the same ROTA_HOME is refused with a clear error', async () => {
      const db = await freshDatabase()
      const a = await startServer(testConfig(db), { log: () => undefined })
      try {
        await assert.rejects(startServer(testConfig(db), { log: () => undefined }), (err: Error) => err instanceof DatabaseLockedError && /in use by process/.test(err.message))
      } finally {
        await a.close()
        await db.drop()
      }
    })
  }
})
