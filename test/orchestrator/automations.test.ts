/**
 * Automations through a real server and agent, delivering to a real HTTP receiver on 127.0.0.1:
 * each trigger (flow-run-state, late, no-success with its recovery, consecutive-failures), each
 * action (webhook, pause-schedule, run-flow), retries on 5xx, giving up, throttling, at most one
 * firing per run, secrets never answered, clear 400s, the CLI, and (PostgreSQL) two servers on one
 * database firing once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { cli, DB_KIND, startHarness, testConfig, waitFor, waitForRunState, type Harness } from '../helpers/rota.ts'
import { startServer } from '../../src/server/index.ts'
import type { Automation, AutomationInput, Firing, FlowRun } from '../../src/core/contract.ts'

interface Received {
  path: string
  headers: http.IncomingHttpHeaders
  body: Record<string, unknown>
}

/** A webhook receiver: records every request; answers each path from its plan (default 200). */
class Receiver {
  readonly requests: Received[] = []
  private readonly plans = new Map<string, number[]>()
  private server: http.Server | undefined
  url = ''

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let data = ''
      req.on('data', (d: Buffer) => (data += d.toString()))
      req.on('end', () => {
        const path = req.url ?? '/'
        this.requests.push({ path, headers: req.headers, body: JSON.parse(data || '{}') as Record<string, unknown> })
        const plan = this.plans.get(path)
        const status = plan && plan.length > 1 ? (plan.shift() as number) : (plan?.[0] ?? 200)
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 400 ? `refused with ${status}` : 'ok')
      })
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  /** Statuses answered in turn on `path`; the last one is repeated. */
  plan(path: string, statuses: number[]): void {
    this.plans.set(path, [...statuses])
  }

  on(path: string): Received[] {
    return this.requests.filter((r) => r.path === path)
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}

let h: Harness
const receiver = new Receiver()
const SECRET = 's3cret-header-value'
const automationOptions = { everyMs: 300, deliverEveryMs: 100, retry: { baseMs: 300, factor: 2, maxMs: 2000, attempts: 4 }, timeoutMs: 3000 }

before(async () => {
  await receiver.start()
  h = await startHarness({ server: { automations: automationOptions } })
  await h.register('test/fixtures/ops.ts')
  await h.startAgent({ concurrency: 4 })
})
after(async () => {
  await h?.close()
  await receiver.close()
})

async function api(method: string, p: string, body?: unknown): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(`${h.server.url}/api${p}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined }
}

async function create(input: AutomationInput): Promise<Automation> {
  const res = await api('POST', '/automations', input)
  assert.equal(res.status, 201, res.text)
  return res.json as Automation
}

async function run(flow: string, parameters: Record<string, unknown> = {}): Promise<FlowRun> {
  return waitForRunState(h.client, (await h.client.createRun(flow, parameters)).id, ['success', 'failed', 'crashed'], 60_000)
}

async function firings(name: string, until: (items: Firing[]) => boolean, what: string): Promise<Firing[]> {
  return waitFor(what, async () => {
    const { items } = await h.client.firings(name)
    return until(items) ? items : undefined
  }, 30_000, 100)
}

const hook = (name: string) => `${receiver.url}/hook/${name}`

describe('automations: triggers', () => {
  it('flow-run-state: posts the run as JSON with a Slack-compatible text and its headers, whose values are never answered', async () => {
    const created = await create({
      name: 'failures',
      trigger: { type: 'flow-run-state', flow: 'ops-flaky', states: ['failed'] },
      action: { type: 'webhook', url: hook('failures'), headers: { Authorization: `Bearer ${SECRET}`, 'X-Team': 'ops' } },
      minGapSeconds: 0,
    })
    // the answer shows the URL's host and first path segment (webhook URLs carry secrets too) and no header value
    assert.deepEqual(created.action, { type: 'webhook', url: `${receiver.url}/hook/…`, headers: { Authorization: '********', 'X-Team': '********' } })

    const failed = await run('ops-flaky', { fail: true, message: 'disk <full> & more' })
    assert.equal(failed.state, 'failed')
    await run('ops-flaky', { fail: false }) // a success: not watched
    const failedAgain = await run('ops-flaky', { fail: true })
    await waitFor('two deliveries', () => (receiver.on('/hook/failures').length >= 2 ? true : undefined))
    await new Promise((r) => setTimeout(r, 700))
    const got = receiver.on('/hook/failures')
    assert.deepEqual(got.map((r) => r.body.flowRunId), [failed.id, failedAgain.id], 'one delivery per failed run, none for the success')

    const [first] = got as [Received]
    assert.equal(first.headers.authorization, `Bearer ${SECRET}`)
    assert.equal(first.headers['x-team'], 'ops')
    assert.match(String(first.headers['content-type']), /^application\/json/)
    const b = first.body
    assert.equal(b.automation, 'failures')
    assert.equal(b.flowName, 'ops-flaky')
    assert.equal(b.flowRunName, failed.name)
    assert.equal(b.state, 'failed')
    assert.match(String(b.message), /disk <full> & more/)
    assert.equal(b.runUrl, `${h.server.url}/#/runs/${failed.id}`)
    assert.match(String(b.text), /ops-flaky/)
    assert.match(String(b.text), /disk &lt;full&gt; &amp; more/, 'Slack markup in the text is escaped')
    assert.ok(String(b.text).includes(`<${h.server.url}/#/runs/${failed.id}|`), 'a Slack link to the run')

    const history = await firings('failures', (items) => items.length === 2 && items.every((f) => f.status === 'delivered'), 'two delivered firings')
    for (const f of history) {
      assert.equal(f.statusCode, 200)
      assert.equal(f.attempts, 1)
      assert.equal(f.kind, 'flow-run-state')
    }
    for (const p of ['/automations', '/automations/failures', `/automations/${created.id}`, '/automations/failures/firings']) {
      assert.ok(!(await api('GET', p)).text.includes(SECRET), `${p} never shows a header value`)
    }

    // Sending back what answers show keeps the stored secret.
    const patched = await api('PATCH', '/automations/failures', { trigger: { type: 'flow-run-state', flow: 'ops-flaky', states: ['failed', 'crashed'] }, action: created.action })
    assert.equal(patched.status, 200, patched.text)
    assert.ok(!patched.text.includes(SECRET))
    await run('ops-flaky', { fail: true })
    await waitFor('a third delivery', () => (receiver.on('/hook/failures').length >= 3 ? true : undefined))
    assert.equal(receiver.on('/hook/failures')[2]?.headers.authorization, `Bearer ${SECRET}`)
    await api('PATCH', '/automations/failures', { enabled: false })
  })

  it('late: fires once for a run not started in time', async () => {
    await create({ name: 'late', trigger: { type: 'late', flow: 'unclaimed', forSeconds: 1 }, action: { type: 'webhook', url: hook('late') }, minGapSeconds: 0 })
    const waiting = await h.client.createRun('unclaimed', {})
    await waitFor('the late delivery', () => (receiver.on('/hook/late').length >= 1 ? true : undefined))
    await new Promise((r) => setTimeout(r, 1200))
    const got = receiver.on('/hook/late')
    assert.equal(got.length, 1, 'once, however long it stays late')
    assert.equal(got[0]?.body.flowRunId, waiting.id)
    assert.equal(got[0]?.body.state, 'late')
    assert.match(String(got[0]?.body.message), /is late, not started 1s after its scheduled time/)
    await h.client.cancelRun(waiting.id)
  })

  it('no-success: fires once when the flow goes without a success, once more when it recovers (whatever the gap)', async () => {
    await create({ name: 'fresh', trigger: { type: 'no-success', flow: 'ops-fresh', withinSeconds: 2 }, action: { type: 'webhook', url: hook('fresh') }, minGapSeconds: 3600 })
    await waitFor('the breach', () => (receiver.on('/hook/fresh').length >= 1 ? true : undefined))
    const breach = receiver.on('/hook/fresh')[0]?.body
    assert.equal(breach?.kind, 'no-success')
    assert.equal(breach?.flowRunId, null)
    assert.match(String(breach?.message), /ops-fresh: no successful run for 2s \(none so far\)/)
    assert.equal(breach?.runUrl, null)
    assert.match(String(breach?.text), /open the flow/)
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(receiver.on('/hook/fresh').length, 1, 'the breach fires once')

    const ok = await run('ops-fresh')
    assert.equal(ok.state, 'success')
    await waitFor('the recovery', () => (receiver.on('/hook/fresh').length >= 2 ? true : undefined))
    await api('PATCH', '/automations/fresh', { enabled: false }) // before it breaches again
    const recovery = receiver.on('/hook/fresh')[1]?.body
    assert.equal(recovery?.kind, 'recovery')
    assert.equal(recovery?.flowRunId, ok.id)
    assert.equal(recovery?.state, 'success')
    assert.match(String(recovery?.message), /ops-fresh recovered: run .* succeeded/)
    assert.equal(receiver.on('/hook/fresh').length, 2)
  })

  it('consecutive-failures: fires once per streak of n failures; a success starts a new streak', async () => {
    await create({ name: 'streak', trigger: { type: 'consecutive-failures', flow: 'ops-streak', count: 2 }, action: { type: 'webhook', url: hook('streak') }, minGapSeconds: 0 })
    const outcomes = [true, true, true, false, true, true]
    const runs: FlowRun[] = []
    for (const fail of outcomes) runs.push(await run('ops-streak', { fail }))
    await waitFor('two deliveries', () => (receiver.on('/hook/streak').length >= 2 ? true : undefined))
    await new Promise((r) => setTimeout(r, 700))
    const got = receiver.on('/hook/streak')
    assert.deepEqual(got.map((r) => r.body.flowRunId), [runs[1]?.id, runs[5]?.id], 'the 2nd failure of each streak')
    assert.match(String(got[0]?.body.message), /ops-streak: 2 runs failed in a row/)
  })
})

describe('automations: actions and delivery', () => {
  it('retries a webhook on 5xx with backoff, gives up after its attempts, never retries a 4xx, and records each', async () => {
    receiver.plan('/hook/flaky', [500, 500, 200])
    receiver.plan('/hook/down', [503])
    receiver.plan('/hook/gone', [404])
    for (const name of ['flaky', 'down', 'gone']) {
      await create({ name, trigger: { type: 'flow-run-state', flow: 'keep-default', states: ['success'] }, action: { type: 'webhook', url: hook(name) }, minGapSeconds: 0 })
    }
    await run('keep-default')
    const flaky = await firings('flaky', (i) => i[0]?.status === 'delivered', 'delivered after retries')
    assert.deepEqual([flaky[0]?.attempts, flaky[0]?.statusCode], [3, 200])
    assert.equal(receiver.on('/hook/flaky').length, 3)
    const down = await firings('down', (i) => i[0]?.status === 'failed', 'given up')
    assert.deepEqual([down[0]?.attempts, down[0]?.statusCode], [4, 503])
    assert.match(String(down[0]?.error), /HTTP 503: refused with 503/)
    assert.equal(receiver.on('/hook/down').length, 4)
    const gone = await firings('gone', (i) => i[0]?.status === 'failed', 'refused')
    assert.deepEqual([gone[0]?.attempts, gone[0]?.statusCode], [1, 404])
    assert.equal(receiver.on('/hook/gone').length, 1)
    // A receiver that is not there at all: retried, then recorded with the reason.
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve)) // nothing listens there now
    await create({ name: 'nobody', trigger: { type: 'flow-run-state', flow: 'keep-four', states: ['success'] }, action: { type: 'webhook', url: `http://127.0.0.1:${port}/nobody` }, minGapSeconds: 0 })
    await run('keep-four')
    const nobody = await firings('nobody', (i) => i[0]?.status === 'failed', 'undeliverable')
    assert.deepEqual([nobody[0]?.attempts, nobody[0]?.statusCode], [4, null])
    assert.match(String(nobody[0]?.error), /could not deliver: ECONNREFUSED/)
    for (const name of ['flaky', 'down', 'gone', 'nobody']) await api('DELETE', `/automations/${name}`)
  })

  it('throttles a storm: at most one firing per run, and one delivery per minimum gap (the rest recorded as throttled)', async () => {
    await create({ name: 'storm', trigger: { type: 'flow-run-state', flow: 'keep-hour', states: ['running', 'failed'] }, action: { type: 'webhook', url: hook('storm') }, minGapSeconds: 3600 })
    const runs = [await run('keep-hour', { fail: true }), await run('keep-hour', { fail: true }), await run('keep-hour', { fail: true })]
    const items = await firings('storm', (i) => i.length === 3, 'a firing per run')
    await new Promise((r) => setTimeout(r, 700))
    assert.equal((await h.client.firings('storm')).items.length, 3, 'running then failed is one firing per run')
    assert.deepEqual(items.map((f) => f.flowRunId).sort(), runs.map((r) => r.id).sort())
    assert.deepEqual(items.map((f) => f.status).sort(), ['delivered', 'throttled', 'throttled'])
    assert.equal(receiver.on('/hook/storm').length, 1)
    await api('DELETE', '/automations/storm')
  })

  it('pause-schedule pauses the flow of the run that fired; run-flow starts a run with its parameters', async () => {
    assert.equal((await h.client.getFlow('ops-hourly')).scheduleActive, true)
    await create({ name: 'pause it', trigger: { type: 'flow-run-state', flow: 'ops-hourly', states: ['failed'] }, action: { type: 'pause-schedule' }, minGapSeconds: 0 })
    await create({ name: 'rerun', trigger: { type: 'flow-run-state', flow: 'ops-hourly', states: ['failed'] }, action: { type: 'run-flow', flow: 'keep-hour', parameters: { message: 'from an automation' } }, minGapSeconds: 0 })
    await run('ops-hourly', { fail: true })
    await firings('pause it', (i) => i[0]?.status === 'delivered', 'the pause')
    await firings('rerun', (i) => i[0]?.status === 'delivered', 'the run')
    assert.equal((await h.client.getFlow('ops-hourly')).scheduleActive, false)
    const started = await waitFor('the run it started', async () => (await h.client.listRuns({ flow: 'keep-hour' })).items.find((r) => r.parameters.message === 'from an automation'))
    assert.equal(started.flowName, 'keep-hour')
  })
})

describe('automations: input', () => {
  it('answers bad input with a clear 400, a taken name with 409, an unknown one with 404', async () => {
    const ok = { name: 'x', trigger: { type: 'flow-run-state', states: ['failed'] }, action: { type: 'webhook', url: hook('x') } }
    const cases: [unknown, RegExp][] = [
      [{ ...ok, action: { type: 'webhook', url: 'ftp://example.org/x' } }, /action\.url: must be an http\(s\) URL/],
      [{ ...ok, action: { type: 'webhook', url: 'not a url' } }, /action\.url: must be an http\(s\) URL/],
      [{ ...ok, action: { type: 'webhook', url: hook('x'), headers: { 'X-A': 'one\r\nX-Injected: two' } } }, /header values are printable ASCII on one line/],
      [{ ...ok, action: { type: 'webhook', url: hook('x'), headers: { 'bad name': 'v' } } }, /header names are/],
      [{ ...ok, trigger: { type: 'flow-run-state', flow: 'no-such-flow', states: ['failed'] } }, /trigger\.flow: flow "no-such-flow" is not registered/],
      [{ ...ok, trigger: { type: 'flow-run-state', states: [] } }, /trigger\.states/],
      [{ ...ok, trigger: { type: 'flow-run-state', states: ['exploded'] } }, /trigger\.states\.0/],
      [{ ...ok, trigger: { type: 'late', forSeconds: 0 } }, /trigger\.forSeconds/],
      [{ ...ok, trigger: { type: 'no-success', withinSeconds: 60 } }, /trigger\.flow/],
      [{ ...ok, trigger: { type: 'sometimes' } }, /trigger\.type/],
      [{ ...ok, action: { type: 'run-flow', flow: 'keep-hour', parameters: { nope: 1 } } }, /action\.parameters: .*nope/],
      [{ ...ok, action: { type: 'run-flow', flow: 'keep-hour', parameters: { fail: 'yes' } } }, /action\.parameters: .*fail/],
      [{ ...ok, action: { type: 'pause-schedule', flow: 'keep-hour' } }, /flow "keep-hour" has no schedule to pause/],
      [{ ...ok, name: '' }, /name/],
      [{ ...ok, name: 'two\nlines' }, /name: a name on one line/],
      [{ ...ok, minGapSeconds: -1 }, /minGapSeconds/],
    ]
    for (const [body, message] of cases) {
      const res = await api('POST', '/automations', body)
      assert.equal(res.status, 400, `${JSON.stringify(body)} -> ${res.text}`)
      assert.match((res.json as { error: { message: string } }).error.message, message)
    }
    await create(ok as AutomationInput)
    assert.equal((await api('POST', '/automations', ok)).status, 409)
    assert.equal((await api('PATCH', '/automations/x', { action: { type: 'webhook', url: 'file:///etc/passwd' } })).status, 400)
    assert.match((await api('PATCH', '/automations/x', { action: { type: 'webhook', url: hook('x'), headers: { A: '********' } } })).text, /stands for a stored value/)
    assert.equal((await api('GET', '/automations/nothing-by-that-name')).status, 404)
    assert.equal((await api('DELETE', '/automations/x')).status, 200)
    assert.equal((await api('GET', '/automations/x')).status, 404)
  })
})

describe('automations: the CLI', () => {
  it('creates from flags or a JSON file, lists, disables, enables, shows firings, deletes', async () => {
    const env = { ROTA_API_URL: h.server.url, ROTA_API_KEY: '' }
    const made = await cli(['automations', 'create', '--name', 'cli-hook', '--on-state', 'failed,crashed', '--flow', 'keep-default', '--webhook', hook('cli'), '--header', `Authorization: Bearer ${SECRET}`, '--min-gap', '5m'], env)
    assert.equal(made.code, 0, made.stderr)
    assert.match(made.stdout, /created automation cli-hook .*: when a run of keep-default is failed or crashed, POST http:\/\/127\.0\.0\.1:\d+\/hook\/…/)
    const stored = await h.client.getAutomation('cli-hook')
    assert.equal(stored.minGapSeconds, 300)
    assert.deepEqual(stored.action, { type: 'webhook', url: `${receiver.url}/hook/…`, headers: { Authorization: '********' } })

    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rota-automation-')), 'a.json')
    fs.writeFileSync(file, JSON.stringify({ name: 'cli-file', trigger: { type: 'late', forSeconds: 120 }, action: { type: 'run-flow', flow: 'keep-hour', parameters: { message: 'hi' } } }))
    const fromFile = await cli(['automations', 'create', '--file', file, '--disabled'], env)
    assert.equal(fromFile.code, 0, fromFile.stderr)
    fs.rmSync(path.dirname(file), { recursive: true, force: true })

    const disabled = await cli(['automations', 'disable', 'cli-hook'], env)
    assert.match(disabled.stdout, /cli-hook: disabled/)
    const list = await cli(['automations', 'list'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /cli-hook\s+off\s+a run of keep-default is failed or crashed/)
    assert.match(list.stdout, /cli-file\s+off\s+a run of any flow is 2m late\s+run keep-hour with \{"message":"hi"\}/)
    assert.ok(!list.stdout.includes(SECRET))
    assert.match((await cli(['automations', 'enable', 'cli-file'], env)).stdout, /cli-file: enabled/)
    const history = await cli(['automations', 'firings', 'cli-hook'], env)
    assert.equal(history.code, 0, history.stderr)
    assert.match(history.stdout, /WHEN\s+KIND\s+STATUS/)
    assert.match((await cli(['automations', 'delete', 'cli-file'], env)).stdout, /deleted automation cli-file/)
    await cli(['automations', 'delete', 'cli-hook'], env)

    const noTrigger = await cli(['automations', 'create', '--name', 'bad', '--webhook', hook('bad')], env)
    assert.equal(noTrigger.code, 1)
    assert.match(noTrigger.stderr, /give one trigger: --on-state/)
    const badUrl = await cli(['automations', 'create', '--name', 'bad', '--late', '1m', '--webhook', 'ftp://x'], env)
    assert.equal(badUrl.code, 1)
    assert.match(badUrl.stderr, /action\.url: must be an http\(s\) URL/)
    const badDuration = await cli(['automations', 'create', '--name', 'bad', '--late', 'soon', '--pause-schedule'], env)
    assert.match(badDuration.stderr, /--late must be a whole number of seconds or a duration such as 40s/)
  })
})

describe('automations: several servers on one PostgreSQL', { skip: DB_KIND !== 'postgres' && 'PGlite is one process' }, () => {
  it('fires once per run however many servers judge the transitions', async () => {
    const second = await startServer(testConfig(h.db), { log: () => undefined, automations: automationOptions })
    try {
      await create({ name: 'shared', trigger: { type: 'flow-run-state', flow: 'ops-shared', states: ['failed'] }, action: { type: 'webhook', url: hook('shared') }, minGapSeconds: 0 })
      const runs: FlowRun[] = []
      for (let i = 0; i < 4; i++) runs.push(await run('ops-shared', { fail: true }))
      await waitFor('four deliveries', () => (receiver.on('/hook/shared').length >= 4 ? true : undefined))
      await new Promise((r) => setTimeout(r, 1500))
      assert.deepEqual(receiver.on('/hook/shared').map((r) => r.body.flowRunId).sort(), runs.map((r) => r.id).sort(), 'each run once')
    } finally {
      await second.close()
    }
  })
})
