/**
 * No input or outage can wedge a run (issue 9), with real servers, agents and run processes:
 * - a run printing NUL, lone surrogates and an emoji cut at the line limit ends success, its logs stored;
 * - the server down 40 s in the middle of a run: the run goes on, is not crashed when the server
 *   comes back (the reaper waits a heartbeat window after start-up), and the logs it wrote during
 *   the outage land;
 * - a report batch the server refuses (4xx) is dropped with one line saying what and why, and the
 *   run goes on; when nothing can be delivered for ROTA_REPORT_GIVE_UP, the run fails saying so
 *   (both through a fault-injecting proxy in front of the real server);
 * - the reaper still crashes the runs of a silent agent once its start-up grace has passed.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { freshDatabase, ROOT, spawnCli, startHarness, testConfig, waitFor, waitForRunState } from '../helpers/rota.ts'
import { RotaClient } from '../../src/client/index.ts'
import { Agent } from '../../src/agent/agent.ts'
import { LocalLauncher } from '../../src/agent/local.ts'
import { registerFile } from '../../src/cli/register.ts'
import { startServer } from '../../src/server/index.ts'
import { storableText } from '../../src/core/text.ts'

async function freePort(): Promise<number> {
  const net = await import('node:net')
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

const wellFormed = (s: string) => storableText(s) === s

describe('runs that print anything', () => {
  it('a run printing NUL, lone surrogates and an emoji cut at the line limit ends success, with its logs stored', { timeout: 120_000 }, async () => {
    const h = await startHarness()
    try {
      await h.register('test/fixtures/hostile-output.ts')
      await h.startAgent()
      const run = await h.client.createRun('hostile-output', {})
      const done = await waitForRunState(h.client, run.id, undefined, 60_000)
      assert.equal(done.state, 'success', `${done.stateMessage}\n${h.logs.slice(-20).join('\n')}`)
      const logs = (await h.client.logs(run.id)).items.map((l) => l.message)
      for (const expected of ['nul:a\ufffdb', 'lone:x\ufffdy', 'console:\ufffdend', 'stderr:tab\there\ufffd', 'second try worked', 'done']) {
        assert.ok(logs.includes(expected), `${JSON.stringify(expected)} in ${JSON.stringify(logs.filter((l) => l.length < 100))}`)
      }
      const long = logs.filter((l) => l.startsWith('long:'))
      assert.equal(long.length, 4)
      for (const l of long) {
        assert.ok(wellFormed(l), 'a cut line holds no half emoji')
        assert.ok(l.length <= 60 * 1024)
      }
      assert.equal(long.filter((l) => l.includes('[line cut:')).length, 3, 'the lines over the limit say they were cut')
      const tasks = (await h.client.taskRuns(run.id)).items
      assert.deepEqual(tasks.map((t) => [t.taskName, t.state, t.attempts]), [['printer', 'success', 1], ['stumbles', 'success', 2]])
      const history = await (await fetch(`${h.server.url}/api/flow-runs/${run.id}/states`)).json() as { items: { toState: string }[] }
      assert.deepEqual(history.items.map((s) => s.toState).slice(-2), ['running', 'success'])
    } finally {
      await h.close()
    }
  })
})

describe('server outages', () => {
  it('the server down 40 s during a run: the run is not crashed, succeeds, and the logs of the outage land', { timeout: 240_000 }, async () => {
    const db = await freshDatabase()
    const port = await freePort()
    const env = { ROTA_HOME: db.home, DATABASE_URL: db.databaseUrl ?? '', ROTA_PORT: String(port), ROTA_API_URL: `http://127.0.0.1:${port}`, ROTA_API_KEY: '' }
    let server = await spawnCli(['server', 'start'], env, /listening on/)
    const client = new RotaClient(`http://127.0.0.1:${port}`)
    const lines: string[] = []
    const agent = new Agent({ client, launcher: new LocalLauncher({ projectRoot: ROOT }), onOutput: (o) => lines.push(o.line), name: 'outlives-outage', prefetchMs: 1000, log: (l) => lines.push(l) })
    try {
      await registerFile(client, 'test/fixtures/flows.ts', ROOT)
      await agent.start()
      const run = await client.createRun('slow', { seconds: 55 })
      await waitForRunState(client, run.id, ['running'], 30_000)
      await waitFor('the first log lines', async () => ((await client.logs(run.id)).items.length >= 2 ? true : undefined), 15_000)
      await server.kill('SIGKILL') // a crash: PGlite's lock is left behind too
      const downAt = Date.now()
      await new Promise((r) => setTimeout(r, 40_000))
      server = await spawnCli(['server', 'start'], env, /listening on/)
      const backAt = Date.now()
      const done = await waitForRunState(client, run.id, ['success', 'failed', 'crashed', 'cancelled'], 120_000)
      assert.equal(done.state, 'success', `${done.stateMessage}\n${lines.slice(-20).join('\n')}`)
      assert.equal(done.attempt, 1)
      const history = (await (await fetch(`http://127.0.0.1:${port}/api/flow-runs/${run.id}/states`)).json()) as { items: { toState: string }[] }
      assert.ok(!history.items.some((s) => s.toState === 'crashed'), JSON.stringify(history.items))
      assert.equal((await client.listRuns({ flow: 'slow' })).items.length, 1, 'no retry run: nothing crashed')
      const logs = new Set((await client.logs(run.id, 0, 5000)).items.map((l) => l.message))
      const missing = Array.from({ length: 55 }, (_, s) => `still working (${s}s)`).filter((l) => !logs.has(l))
      assert.deepEqual(missing, [], 'every line, those written while the server was down included')
      assert.ok(backAt - downAt >= 40_000)
    } finally {
      await agent.stop()
      await server.kill()
      await db.drop()
    }
  })

  it('the reaper gives agents a heartbeat window after start-up, then still crashes the runs of a silent agent', { timeout: 60_000 }, async () => {
    const db = await freshDatabase()
    try {
      const first = await startServer(testConfig(db), { log: () => undefined })
      const client = new RotaClient(first.url)
      await registerFile(client, 'test/fixtures/hello.ts', ROOT)
      const run = await client.createRun('hello', {})
      // a run whose agent was last heard of an hour ago, as after a long outage
      await first.db.query(`update rota_flow_runs set state = 'running', start_time = now(), heartbeat_at = now() - interval '1 hour' where id = $1`, [run.id])
      await first.close()
      const started = Date.now()
      const second = await startServer(testConfig(db), { log: () => undefined, silenceMs: 3000, reapEveryMs: 100 })
      try {
        const c2 = new RotaClient(second.url)
        await new Promise((r) => setTimeout(r, 2000))
        assert.equal((await c2.getRun(run.id)).state, 'running', 'not judged during the start-up grace')
        const crashed = await waitForRunState(c2, run.id, ['crashed'], 10_000)
        const after = Date.now() - started
        assert.ok(after >= 3000 && after < 6000, `crashed ${after} ms after start-up`)
        assert.match(crashed.stateMessage ?? '', /no heartbeat/)
      } finally {
        await second.close()
      }
    } finally {
      await db.drop()
    }
  })
})

/** A proxy in front of the real server that refuses or fails report batches on demand. */
async function faultyProxy(target: string) {
  const faults = { refuseLogs: 0, failReports: false, refused: 0 }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      void (async () => {
        const url = req.url ?? '/'
        const report = req.method === 'POST' && /\/(logs|task-runs)$/.test(url)
        if (report && /\/logs$/.test(url) && faults.refuseLogs > 0) {
          faults.refuseLogs--
          faults.refused++
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"refused by the test proxy"}}')
          return
        }
        if (report && faults.failReports) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"the test proxy is failing reports"}}')
          return
        }
        try {
          const headers: Record<string, string> = {}
          for (const name of ['content-type', 'accept', 'x-api-key', 'x-rota-run-token']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name] as string
          const r = await fetch(`${target}${url}`, { method: req.method, headers, body: ['GET', 'HEAD'].includes(req.method ?? 'GET') ? undefined : Buffer.concat(chunks) })
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer()))
        } catch {
          res.destroy()
        }
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, faults, close: () => new Promise<void>((r) => server.close(() => r())) }
}

describe('the run reporter under refusals and failures', () => {
  it('drops a refused log batch with one line saying what and why, and the run goes on to success', { timeout: 90_000 }, async () => {
    const h = await startHarness()
    const proxy = await faultyProxy(h.server.url)
    const out: string[] = []
    const agent = new Agent({ client: new RotaClient(proxy.url), launcher: new LocalLauncher({ projectRoot: ROOT }), onOutput: (o) => out.push(o.line), prefetchMs: 1000, log: () => undefined })
    try {
      await h.register('test/fixtures/flows.ts')
      await agent.start()
      const run = await h.client.createRun('slow', { seconds: 4 })
      await waitForRunState(h.client, run.id, ['running'], 30_000)
      proxy.faults.refuseLogs = 1
      const done = await waitForRunState(h.client, run.id, undefined, 60_000)
      assert.equal(done.state, 'success', done.stateMessage ?? '')
      assert.equal(proxy.faults.refused, 1)
      const dropped = out.filter((l) => /dropped \d+ log lines? \(seq [\d-]+\): the server refused it \(400: refused by the test proxy\)/.test(l))
      assert.equal(dropped.length, 1, out.join('\n'))
      const logs = (await h.client.logs(run.id)).items.map((l) => l.message)
      assert.ok(logs.includes('still working (3s)'), 'later lines landed')
    } finally {
      await agent.stop()
      await proxy.close()
      await h.close()
    }
  })

  it('fails the run, saying so, when nothing can be delivered for ROTA_REPORT_GIVE_UP', { timeout: 90_000 }, async () => {
    const h = await startHarness()
    const proxy = await faultyProxy(h.server.url)
    const agent = new Agent({
      client: new RotaClient(proxy.url),
      launcher: new LocalLauncher({ projectRoot: ROOT }),
      env: { ROTA_REPORT_GIVE_UP: '2s' },
      prefetchMs: 1000,
      log: () => undefined,
    })
    try {
      await h.register('test/fixtures/flows.ts')
      await agent.start()
      const run = await h.client.createRun('slow', { seconds: 60 })
      await waitForRunState(h.client, run.id, ['running'], 30_000)
      const failingFrom = Date.now()
      proxy.faults.failReports = true
      const done = await waitForRunState(h.client, run.id, undefined, 30_000)
      assert.equal(done.state, 'failed')
      assert.match(done.stateMessage ?? '', /could not deliver the run's reports to the server for \d+ s \(the test proxy is failing reports\); the run was stopped/)
      const took = Date.now() - failingFrom
      assert.ok(took >= 1500 && took < 15_000, `failed ${took} ms after reports started failing`)
    } finally {
      await agent.stop()
      await proxy.close()
      await h.close()
    }
  })
})
