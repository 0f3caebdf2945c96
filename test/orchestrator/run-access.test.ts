/**
 * Issue 9, item 2, against a real server, agent and run process: a run's parameters and secrets go
 * only to the holder of its token (the agent that claimed it and the process it started), and so
 * do its report routes; entrypoints that lead out of the project root (absolute paths, "..", a
 * symbolic link) are refused at registration, by the agent before it starts a process, and by the
 * run process before it imports — the file outside is never imported.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { claimRunToken, ROOT, startHarness, waitForRunState, type Harness } from '../helpers/rota.ts'
import { RotaClient } from '../../src/client/index.ts'
import { registerFile } from '../../src/cli/register.ts'
import { registerFlow } from '../../src/server/scheduler.ts'
import { RUN_TOKEN_HEADER } from '../../src/core/auth.ts'

// A project of its own (its flows, a link that leads out of it) and a folder outside it.
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-confine-'))
const project = path.join(base, 'project')
const outside = path.join(base, 'outside')
const marker = path.join(outside, 'IMPORTED')
const SDK = JSON.stringify(path.join(ROOT, 'src/sdk/index.ts'))
fs.mkdirSync(path.join(project, 'flows'), { recursive: true })
fs.mkdirSync(outside)
fs.symlinkSync(path.join(ROOT, 'bin'), path.join(project, 'bin'))
fs.writeFileSync(path.join(project, 'flows/inside.ts'), `import { defineFlow } from ${SDK}\nexport default defineFlow({ name: 'inside' }, async () => undefined)\n`)
fs.symlinkSync('inside.ts', path.join(project, 'flows/alias.ts'))
// Importing this file is running foreign code: it leaves a mark.
fs.writeFileSync(path.join(outside, 'evil.ts'), `import fs from 'node:fs'\nimport { defineFlow } from ${SDK}\nfs.writeFileSync(${JSON.stringify(marker)}, 'imported')\nexport default defineFlow({ name: 'evil' }, async () => undefined)\n`)
fs.symlinkSync(path.join(outside, 'evil.ts'), path.join(project, 'flows/link.ts'))

let h: Harness
before(async () => {
  h = await startHarness({ server: { projectRoot: project }, projectRoot: project })
  await h.register('test/fixtures/flows.ts')
})
after(async () => {
  await h?.close()
  fs.rmSync(base, { recursive: true, force: true })
})

async function call(method: string, p: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers[RUN_TOKEN_HEADER] = token
  const res = await fetch(`${h.server.url}${p}`, { method, headers, body: method === 'GET' ? undefined : JSON.stringify(body ?? {}) })
  const text = await res.text()
  return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined }
}
const message = (r: { json?: Record<string, unknown> | undefined }) => String((r.json?.error as { message?: string } | undefined)?.message)

/** One poll of a fresh agent: the tokens of the due runs it claimed, by run id. */
async function claimAll(): Promise<{ agentId: string; tokens: Map<string, string> }> {
  const agent = await h.client.registerAgent({ name: `access-${crypto.randomUUID().slice(0, 8)}`, type: 'local', labels: [], concurrency: 100 })
  const { runs } = await h.client.poll(agent.id, { slots: 100, runIds: [], waitMs: 0, prefetchMs: 0 })
  return { agentId: agent.id, tokens: new Map(runs.map((r) => [r.id, r.token])) }
}

describe('the run token', () => {
  it("hands a run's parameters and secrets, and takes its reports, only with that run's token", async () => {
    const a = await h.client.createRun('secretive', { token: 'tok-for-run-a-123' })
    const b = await h.client.createRun('secretive', { token: 'tok-for-run-b-456' })
    const execution = `/api/flow-runs/${a.id}/execution`
    assert.equal((await call('GET', execution, 'anything')).status, 403, 'an unclaimed run has no token yet')
    const { tokens } = await claimAll()
    const ta = tokens.get(a.id) as string
    const tb = tokens.get(b.id) as string
    assert.ok(ta && tb && ta !== tb)

    const none = await call('GET', execution, undefined)
    assert.equal(none.status, 401)
    assert.match(message(none), new RegExp(`${RUN_TOKEN_HEADER}.*ROTA_RUN_TOKEN`))
    for (const wrong of [tb, `${ta}x`, 'x'.repeat(43), 'ключ']) {
      const res = await call('GET', execution, encodeURIComponent(wrong))
      assert.equal(res.status, 403, wrong)
      assert.ok(!res.text.includes('tok-for-run'), 'a refusal shows no secret')
    }
    const ok = await call('GET', execution, ta)
    assert.equal(ok.status, 200)
    assert.equal((ok.json?.parameters as Record<string, unknown>).token, 'tok-for-run-a-123')
    assert.deepEqual(ok.json?.secretParameters, ['token'])

    const now = new Date().toISOString()
    const reports: [string, unknown][] = [
      [`/api/flow-runs/${a.id}/logs`, { source: 's', logs: [{ seq: 0, time: now, level: 'info', message: 'using tok-for-run-a-123' }] }],
      [`/api/flow-runs/${a.id}/task-runs`, { events: [{ taskRunId: crypto.randomUUID(), taskKey: 'k', taskName: 'k', position: 0, state: 'running', attempts: 1, time: now, message: 'with tok-for-run-a-123' }] }],
      [`/api/flow-runs/${a.id}/artifacts`, { key: 'k', data: { t: 'tok-for-run-a-123' } }],
      [`/api/flow-runs/${a.id}/state`, { state: 'running', message: 'starting with tok-for-run-a-123' }],
    ]
    for (const [route, body] of reports) {
      assert.equal((await call('POST', route, undefined, body)).status, 401, route)
      assert.equal((await call('POST', route, tb, body)).status, 403, route)
    }
    assert.equal((await h.client.logs(a.id)).items.length, 0, 'nothing refused was stored')
    assert.equal((await h.client.taskRuns(a.id)).items.length, 0)
    assert.equal((await h.client.getRun(a.id)).state, 'pending')
    for (const [route, body] of reports) assert.ok((await call('POST', route, ta, body)).status < 300, route)
    // What the run reports is stored with its secrets hidden, whatever sent it.
    const stored = JSON.stringify([await h.client.logs(a.id), await h.client.taskRuns(a.id), await call('GET', `/api/flow-runs/${a.id}/artifacts`, undefined), await h.client.getRun(a.id)])
    assert.ok(!stored.includes('tok-for-run-a'), stored)
    assert.match(stored, /using \*{8}/)
  })

  it("a start that asks for the execution details (withExecution) gets them only with the run's token", async () => {
    const a = await h.client.createRun('secretive', { token: 'tok-for-run-a-123' })
    const b = await h.client.createRun('secretive', { token: 'tok-for-run-b-456' })
    const { tokens } = await claimAll()
    const [ta, tb] = [tokens.get(a.id) as string, tokens.get(b.id) as string]
    const state = `/api/flow-runs/${a.id}/state`
    const start = { state: 'running', withExecution: true }
    const none = await call('POST', state, undefined, start)
    assert.equal(none.status, 401)
    const foreign = await call('POST', state, tb, start)
    assert.equal(foreign.status, 403)
    for (const refused of [none, foreign]) assert.ok(!refused.text.includes('tok-for-run'), 'a refusal shows no secret')
    assert.equal((await h.client.getRun(a.id)).state, 'pending', 'a refused start changed nothing')
    const ok = await call('POST', state, ta, start)
    assert.equal(ok.status, 200)
    const execution = ok.json?.execution as { parameters: Record<string, unknown>; secretParameters: string[]; run: { id: string; parameters: Record<string, unknown> } }
    assert.equal(execution.parameters.token, 'tok-for-run-a-123', "the run's own secret, for its process")
    assert.deepEqual(execution.secretParameters, ['token'])
    assert.equal(execution.run.id, a.id)
    assert.equal(execution.run.parameters.token, '********', 'hidden in the run as the API shows it')
    assert.ok(!JSON.stringify(ok.json?.run).includes('tok-for-run'), 'the answer\'s run shows no secret')
    // the same answer as GET .../execution with the token (but for the run's duration, which grows)
    const steady = (e: Record<string, unknown>) => ({ ...e, run: { ...(e.run as object), durationMs: 0 } })
    assert.deepEqual(steady(execution), steady((await call('GET', `/api/flow-runs/${a.id}/execution`, ta)).json as Record<string, unknown>))
  })

  it('a run handed over again gets a new token; a run back in the queue has none', async () => {
    const run = await h.client.createRun('secretive', {})
    const agent = await h.client.registerAgent({ name: `redeliver-${crypto.randomUUID().slice(0, 8)}`, type: 'local', labels: [], concurrency: 10 })
    const first = (await h.client.poll(agent.id, { slots: 10, runIds: [], waitMs: 0, prefetchMs: 0 })).runs.find((r) => r.id === run.id)
    assert.ok(first, 'claimed')
    // The answer "was lost": the agent polls again without the run in hand, and gets it again.
    const again = (await h.client.poll(agent.id, { slots: 10, runIds: [], waitMs: 0, prefetchMs: 0 })).runs.find((r) => r.id === run.id)
    assert.ok(again && again.token !== first.token)
    const execution = `/api/flow-runs/${run.id}/execution`
    assert.equal((await call('GET', execution, first.token)).status, 403, 'the first token no longer acts for the run')
    assert.equal((await call('GET', execution, again.token)).status, 200)
    await h.client.stopAgent(agent.id) // gives back the runs it never started
    assert.equal((await h.client.getRun(run.id)).state, 'scheduled')
    assert.equal((await call('GET', execution, again.token)).status, 403, 'a run back in the queue is no one’s')
  })

  it("the flow-control routes a run's process calls take its token too; a child run gets a token of its own; a result keeps no secret", async () => {
    const a = await h.client.createRun('secretive', { token: 'tok-for-run-a-123' })
    const b = await h.client.createRun('secretive', {})
    const { tokens } = await claimAll()
    const ta = tokens.get(a.id) as string
    const tb = tokens.get(b.id) as string
    assert.equal((await call('POST', `/api/flow-runs/${a.id}/state`, ta, { state: 'running' })).status, 200)

    // a task's pool slot: asked for and given back with the run's token only
    const slot = { pool: 'access-pool', taskRunId: crypto.randomUUID(), taskKey: 'k', taskName: 'k', waitMs: 0 }
    const slots = `/api/flow-runs/${a.id}/pool-slots`
    assert.equal((await call('POST', slots, undefined, slot)).status, 401)
    assert.equal((await call('POST', slots, tb, slot)).status, 403)
    assert.equal((await h.client.getPool('access-pool').catch(() => ({ held: 0 }))).held, 0, 'a refused request takes no slot')
    const held = await call('POST', slots, ta, slot)
    assert.equal(held.status, 200, held.text)
    assert.equal(held.json?.status, 'held')
    const release = `${slots}/${String(held.json?.slotId)}/release`
    assert.equal((await call('POST', release, undefined)).status, 401)
    assert.equal((await call('POST', release, tb)).status, 403)
    assert.equal((await h.client.getPool('access-pool')).held, 1, 'a refused release gives nothing back')
    assert.equal((await call('POST', release, ta)).status, 200)
    assert.equal((await h.client.getPool('access-pool')).held, 0)

    // a child run: started with the parent's token, and reported with its own
    const childId = crypto.randomUUID()
    const request = { id: childId, flow: 'secretive', parameters: { token: 'tok-for-child-789' } }
    const children = `/api/flow-runs/${a.id}/children`
    // a parent's secret as a parameter the child does not keep secret would show on the child's page: refused
    const leaky = await call('POST', children, ta, { id: crypto.randomUUID(), flow: 'marker', parameters: { file: '/tmp/tok-for-run-a-123' } })
    assert.equal(leaky.status, 400)
    assert.match(message(leaky), /parameter "file" of child flow marker carries a secret value of its parent run.*secretParameters/)
    assert.ok(!leaky.text.includes('tok-for'))
    assert.equal((await call('POST', children, undefined, request)).status, 401)
    const foreign = await call('POST', children, tb, request)
    assert.equal(foreign.status, 403)
    assert.ok(!foreign.text.includes('tok-for'), 'a refusal shows no secret')
    const started = await call('POST', children, ta, request)
    assert.equal(started.status, 201, started.text)
    const tc = String(started.json?.token)
    assert.ok(tc.length >= 40 && tc !== ta)
    assert.equal((started.json?.parameters as Record<string, unknown>).token, 'tok-for-child-789', 'the parent process gets what it runs the child with')
    const childState = `/api/flow-runs/${childId}/state`
    assert.equal((await call('POST', childState, undefined, { state: 'running' })).status, 401)
    assert.equal((await call('POST', childState, ta, { state: 'running' })).status, 403, "the parent's token does not act for the child")
    assert.equal((await call('POST', childState, tc, { state: 'running' })).status, 200)
    // resent (the answer was lost): the same child, a new token, the old one no longer acts for it
    const resent = await call('POST', children, ta, request)
    assert.equal(resent.status, 201)
    const tc2 = String(resent.json?.token)
    assert.notEqual(tc2, tc)
    assert.equal((await call('POST', `/api/flow-runs/${childId}/logs`, tc, { source: 's', logs: [] })).status, 403)

    // results: the secrets of the run are hidden in what is kept and shown
    const childResult = { echo: 'tok-for-child-789', nested: ['x tok-for-child-789 y'] }
    assert.equal((await call('POST', childState, tc2, { state: 'success', result: childResult })).status, 200)
    assert.equal((await call('POST', `/api/flow-runs/${a.id}/state`, ta, { state: 'success', result: { used: 'tok-for-run-a-123' } })).status, 200)
    const results = JSON.stringify([await h.client.runResult(childId), await h.client.runResult(a.id)])
    assert.ok(!results.includes('tok-for'), results)
    assert.deepEqual((await h.client.runResult(childId)).result, { echo: '********', nested: ['x ******** y'] })
    // an ended child takes no new token
    const ended = await call('POST', children, ta, request)
    assert.equal(ended.status, 409)
    assert.match(message(ended), /has already ended \(success\)/)
    await h.client.cancelRun(b.id)
  })

  it("the dashboard's and the CLI's own actions need no run token", async () => {
    const run = await h.client.createRun('secretive', {})
    assert.equal((await h.client.cancelRun(run.id)).state, 'cancelled')
    assert.equal((await h.client.retryRun(run.id)).state, 'scheduled')
    await claimAll() // leave nothing due behind for the next tests
  })
})

describe('entrypoints stay inside the project', () => {
  const registration = (name: string, entrypoint: string) => ({ name, version: 'v1', entrypoint, schedule: null, parameters: [], tasks: [], catchUp: 'all' })

  it('registration refuses absolute paths, "..", and a symbolic link leading out; accepts files and links inside', async () => {
    const refused: [string, RegExp][] = [
      ['/etc/passwd:default', /absolute path/],
      [`${path.join(outside, 'evil.ts')}:default`, /absolute path/],
      ['../outside/evil.ts:default', /climbs out with "\.\."/],
      ['flows/../../outside/evil.ts', /climbs out/],
      ['C:\\Users\\x\\evil.ts:default', /absolute path/],
      ['flows\\..\\..\\evil.ts:default', /holds "\\"/],
      ['flows/inside.ts:no-such name', /not a JavaScript name/],
      ['flows/link.ts:default', /symbolic link leads out of the project/],
    ]
    for (const [entrypoint, why] of refused) {
      const res = await call('POST', '/api/flows', undefined, registration(`refused-${crypto.randomUUID().slice(0, 6)}`, entrypoint))
      assert.equal(res.status, 400, `${entrypoint}: ${res.text}`)
      assert.match(message(res), why, entrypoint)
      assert.match(message(res), /inside the project/)
    }
    for (const entrypoint of ['flows/inside.ts:default', 'flows/alias.ts', './flows/inside.ts:default']) {
      assert.equal((await call('POST', '/api/flows', undefined, registration(`inside-${crypto.randomUUID().slice(0, 6)}`, entrypoint))).status, 200, entrypoint)
    }
    // `rota register` refuses a file outside the project before importing it.
    await assert.rejects(registerFile(h.client, path.join(outside, 'evil.ts'), project), /outside the project.*rota run --local/)
    await assert.rejects(registerFile(h.client, 'flows/link.ts', project), /symbolic link leads out/)
    assert.ok(!fs.existsSync(marker), 'the file outside was never imported')
  })

  it('an entrypoint stored anyway is refused by the agent before it starts a process, and by the run process before it imports', async () => {
    // As if an older server had stored it, or the file became a link after registration.
    await registerFlow(h.server.db, h.server.bus, { ...registration('sneaky', 'flows/link.ts:default'), description: '', labels: [], retries: 0, retryDelaySeconds: 0, catchUp: 'all', maxActiveRuns: null, overlap: 'queue', pool: null, taskPools: {}, isolation: null })
    const agent = await h.startAgent({ concurrency: 1 })
    const first = await waitForRunState(h.client, (await h.client.createRun('sneaky', {})).id)
    assert.equal(first.state, 'crashed')
    assert.match(String(first.stateMessage), /could not start the run: entrypoint "flows\/link\.ts:default" is refused: a symbolic link leads out of the project/)
    await agent.stop()

    // The run process on its own (the Docker launcher cannot look inside its image, so the run process checks too).
    const run = await h.client.createRun('sneaky', {})
    const token = await claimRunToken(h.client, run.id)
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/rota.js'), 'internal', 'run-child'], {
      cwd: project,
      env: { ...process.env, ROTA_API_URL: h.server.url, ROTA_API_KEY: '', ROTA_FLOW_RUN_ID: run.id, ROTA_RUN_TOKEN: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 2, stderr)
    const failed = await waitForRunState(h.client, run.id)
    assert.equal(failed.state, 'failed')
    assert.match(String(failed.stateMessage), /could not load the flow: entrypoint "flows\/link\.ts:default" is refused: a symbolic link leads out of the project/)
    assert.ok(!fs.existsSync(marker), 'the file outside was never imported')

    // Without its token the run process cannot even read the run.
    const other = await h.client.createRun('secretive', {})
    await claimRunToken(new RotaClient(h.server.url), other.id)
    const noToken = spawn(process.execPath, [path.join(ROOT, 'bin/rota.js'), 'internal', 'run-child'], {
      cwd: ROOT,
      env: { ...process.env, ROTA_API_URL: h.server.url, ROTA_API_KEY: '', ROTA_FLOW_RUN_ID: other.id, ROTA_RUN_TOKEN: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let said = ''
    noToken.stderr.on('data', (d: Buffer) => (said += d.toString()))
    assert.equal(await new Promise((resolve) => noToken.once('exit', resolve)), 2)
    assert.match(said, /needs ROTA_RUN_TOKEN/)
  })
})
