/**
 * Issue 9, item 5: one redaction on every surface. A real server (`rota server start`), a real agent
 * (`rota agent start`) and a real run process execute test/fixtures/secret-leaks.ts, whose tasks
 * leak their secret parameter every way they can (raw, JSON-escaped, URL-encoded, base64, past the
 * SDK on stdout and stderr, in artifacts, task failure and retry messages, a flow error and its stack
 * trace), started with `rota run --wait` (and once more with `rota run --local`). The secret — an awkward one that every encoding changes —
 * must show nowhere: no API response, event stream, log line, task message, artifact, CLI output,
 * the server's or the agent's console, nor an error message. Judged by an independent decoder
 * (test/helpers/leaks.ts).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { cli, freshDatabase, ROOT, spawnCli, waitFor, type TestDatabase } from '../helpers/rota.ts'
import { awkwardSecret, leak } from '../helpers/leaks.ts'
import { RotaClient, type FlowRun } from '../../src/client/index.ts'
import { registerFile } from '../../src/cli/register.ts'

const SECRET = awkwardSecret()
const DEFAULT_SECRET = 'default-secret-DEFAULT-1234'

let db: TestDatabase
let server: Awaited<ReturnType<typeof spawnCli>>
let agent: Awaited<ReturnType<typeof spawnCli>> | undefined
let url: string
let client: RotaClient

before(async () => {
  db = await freshDatabase()
  server = await spawnCli(['server', 'start', '--port', '0'], { ROTA_HOME: db.home, DATABASE_URL: db.databaseUrl ?? '', ROTA_API_KEY: '' }, /listening on http:\/\/\S+/)
  url = (/listening on (http:\/\/\S+)/.exec(server.output()) as RegExpExecArray)[1] as string
  client = new RotaClient(url)
  await registerFile(client, 'test/fixtures/secret-leaks.ts', ROOT)
})
after(async () => {
  await agent?.kill('SIGTERM')
  await server?.kill('SIGTERM')
  await db?.drop()
})

/** An event stream, kept as text. */
function capture(path: string) {
  const ac = new AbortController()
  let text = ''
  void fetch(`${url}${path}`, { signal: ac.signal })
    .then(async (res) => {
      const decoder = new TextDecoder()
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true })
    })
    .catch(() => undefined)
  return { text: () => text, close: () => ac.abort() }
}

async function get(path: string): Promise<string> {
  return (await fetch(`${url}${path}`)).text()
}

describe('one redaction on every surface', () => {
  it('a secret leaked every way by a run shows nowhere', async () => {
    const all = capture('/api/events')
    // `rota run --wait` makes the run; with no agent yet it waits, so the run's own stream opens before it starts.
    const env = { ROTA_API_URL: url, ROTA_API_KEY: '' }
    const running = cli(['run', 'secret-leaks', '--param', `token=${SECRET}`, '--wait'], env, 120_000)
    const id = await waitFor('the run', async () => (await client.listRuns({ flow: 'secret-leaks' })).items[0]?.id)
    const own = capture(`/api/events?flowRunId=${id}`)
    agent = await spawnCli(['agent', 'start', '--name', `secrets-${crypto.randomUUID().slice(0, 6)}`], env, /started \(id/)
    const waited = await running
    assert.equal(waited.code, 1, 'the flow fails on purpose')
    // The agent forwards the run's stdout and stderr, then settles: wait for its lines.
    await waitFor('the lines printed past the SDK', async () => ((await client.logs(id)).items.some((l) => l.message.startsWith('stderr, past the SDK')) ? true : undefined))
    const logsCli = await cli(['logs', id], env)
    const run = (await client.getRun(id)) as FlowRun

    // Errors that name a bad value must not repeat it.
    const refusals = [
      await fetch(`${url}/api/flows/secret-leaks/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parameters: { token: { wrapped: SECRET } } }) }),
      await fetch(`${url}/api/flows/secret-leaks/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ parameters: { token: SECRET }, scheduledStartTime: SECRET }) }),
    ]
    const refused = await Promise.all(refusals.map(async (r) => `${r.status} ${await r.text()}`))
    for (const r of refused) assert.match(r, /^400 /)
    const cliRefusal = await cli(['run', 'secret-leaks', '--param', `token=${SECRET}`, '--param', `nope=${SECRET}`], env)
    assert.equal(cliRefusal.code, 1)
    // The same flow in the CLI's own process (no server): every task state is printed, the retry's too.
    const local = await cli(['run', '--local', 'test/fixtures/secret-leaks.ts', '--param', `token=${SECRET}`], env)
    assert.equal(local.code, 1)
    assert.match(local.stdout, /RETRYING - attempt 1\/2 failed: first attempt refused token \*{8} \(\{"token":"\*{8}"\}\)/)

    await new Promise((r) => setTimeout(r, 300)) // the streams' last events
    all.close()
    own.close()
    const surfaces: Record<string, string> = {
      'GET /api/flows': await get('/api/flows'),
      'GET /api/flows/secret-leaks': await get('/api/flows/secret-leaks'),
      'GET /api/flow-runs': await get('/api/flow-runs?flow=secret-leaks'),
      'GET /api/flow-runs/{id}': await get(`/api/flow-runs/${id}`),
      'GET /api/flow-runs/{id}/task-runs': await get(`/api/flow-runs/${id}/task-runs`),
      'GET /api/flow-runs/{id}/logs': await get(`/api/flow-runs/${id}/logs`),
      'GET /api/flow-runs/{id}/artifacts': await get(`/api/flow-runs/${id}/artifacts`),
      'GET /api/flow-runs/{id}/states': await get(`/api/flow-runs/${id}/states`),
      'SSE /api/events': all.text(),
      'SSE /api/events?flowRunId': own.text(),
      'rota run --wait (stdout)': waited.stdout,
      'rota run --wait (stderr)': waited.stderr,
      'rota logs': logsCli.stdout + logsCli.stderr,
      'rota run with a bad parameter': cliRefusal.stdout + cliRefusal.stderr,
      'rota run --local': local.stdout + local.stderr,
      '400 answers': refused.join('\n'),
      'server console': server.output(),
      'agent console': agent.output(),
    }
    for (const [surface, text] of Object.entries(surfaces)) {
      const found = leak(text, SECRET)
      assert.equal(found, undefined, `the secret leaks through ${surface}: ${found}`)
      assert.ok(!text.includes(DEFAULT_SECRET), `the secret default shows in ${surface}`)
    }

    // And the surfaces did carry what the run reported, with the secret hidden: nothing passed by being empty.
    const logs = surfaces['GET /api/flow-runs/{id}/logs'] as string
    for (const expected of ['raw: ********', 'stdout, past the SDK: ********', 'stderr, past the SDK: ********', 'calling https://api.example/v1?token=********&x=1', 'Authorization: Basic ']) {
      assert.ok(logs.includes(expected), `logs hold ${expected}`)
    }
    assert.match(logs, /Error: the flow gives up with \*{8} in its error\\n\s+at /, 'the stack trace is logged, redacted')
    assert.match(surfaces['GET /api/flow-runs/{id}/task-runs'] as string, /second attempt refused \*{8}/)
    // (A retry that follows at once is folded with the failure into one event per batch.)
    assert.match(surfaces['SSE /api/events?flowRunId'] as string, /event: task-run\ndata: .*"message":"[^"]*refused (token )?\*{8}/, 'the task messages, live')
    assert.match(surfaces['GET /api/flow-runs/{id}/artifacts'] as string, /The token is \*\*\*{8}\*\*/)
    assert.match(String(run.stateMessage), /flow raised: the flow gives up with \*{8} in its error/)
    assert.equal(run.parameters.token, '********')
    assert.match(waited.stdout, /raw: \*{8}/)
    assert.match(logsCli.stdout, /Authorization: Basic /)
    assert.match(surfaces['GET /api/flows'] as string, /"name":"token","type":"string","default":"\*{8}","secret":true/)
  })
})
