/**
 * GET /metrics, parsed by the official Prometheus client's text-format parser (test/helpers/prometheus.ts):
 * every series the docs name is there with its type, and the counters and histograms move when runs,
 * tasks and firings happen. Behind the key like the API.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { parsePrometheus, type Family } from '../helpers/prometheus.ts'
import { freshDatabase, startHarness, testConfig, waitFor, waitForRunState, type Harness, type TestDatabase } from '../helpers/rota.ts'
import { startServer, type RunningServer } from '../../src/server/index.ts'

let h: Harness
let receiver: http.Server
let hook = ''

before(async () => {
  receiver = http.createServer((req, res) => req.resume().on('end', () => res.end('ok')))
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  h = await startHarness({ server: { automations: { everyMs: 300, deliverEveryMs: 100 } } })
  await h.register('test/fixtures/hello.ts')
  await h.register('test/fixtures/ops.ts')
  await h.startAgent()
})
after(async () => {
  await h?.close()
  await new Promise((resolve) => receiver.close(resolve))
})

/** A scrape, by family name (the parser names a counter's family without its _total). */
async function scrape(url = h.server.url, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, { headers })
  assert.equal(res.status, 200)
  assert.match(String(res.headers.get('content-type')), /^text\/plain; version=0\.0\.4/)
  return new Map((await parsePrometheus(await res.text())).map((f) => [f.name, f]))
}

/** The value of the sample called `name` with (at least) these labels; 0 when absent. */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  for (const f of families.values()) {
    const s = f.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    if (s) return Number(s.value)
  }
  return 0
}

describe('/metrics', () => {
  it('has every series with its type, and they move as runs, tasks and firings happen', async () => {
    const first = await scrape()
    const types: Record<string, string> = {
      rota_flow_runs: 'counter',
      rota_task_runs: 'counter',
      rota_schedule_lag_seconds: 'histogram',
      rota_queue_wait_seconds: 'histogram',
      rota_agents: 'gauge',
      rota_database_bytes: 'gauge',
      rota_flow_runs_kept: 'gauge',
      rota_retention_deleted_runs: 'counter',
      // the process's own (prom-client's defaults)
      process_cpu_user_seconds: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
    }
    for (const [name, type] of Object.entries(types)) assert.equal(first.get(name)?.type, type, `${name} is a ${type}`)
    // a registered flow is listed at zero before its first run, so rate() works from the start
    assert.ok(first.get('rota_flow_runs')?.samples.some((s) => s.labels.flow === 'hello' && s.labels.state === 'success' && s.value === 0))
    assert.equal(value(first, 'rota_agents', { status: 'active' }), 1)
    assert.ok(value(first, 'rota_database_bytes') > 100_000)
    // the CPU counters are Rota's own (prom-client's come with OpenTelemetry): they count, and only up
    assert.ok(value(first, 'process_cpu_user_seconds_total') > 0)
    assert.ok(value(first, 'process_cpu_seconds_total') >= value(first, 'process_cpu_user_seconds_total'))

    await h.client.createAutomation({ name: 'metered', trigger: { type: 'flow-run-state', flow: 'ops-flaky', states: ['failed'] }, action: { type: 'webhook', url: hook }, minGapSeconds: 0 })
    for (const id of [(await h.client.createRun('hello', { n: 2 })).id, (await h.client.createRun('hello', { n: 3 })).id]) {
      assert.equal((await waitForRunState(h.client, id)).state, 'success')
    }
    assert.equal((await waitForRunState(h.client, (await h.client.createRun('ops-flaky', { fail: true })).id)).state, 'failed')
    await waitFor('the firing delivered', async () => ((await h.client.firings('metered')).items[0]?.status === 'delivered' ? true : undefined))

    const second = await scrape()
    assert.ok(value(second, 'process_cpu_seconds_total') >= value(first, 'process_cpu_seconds_total'))
    const moved = (name: string, labels: Record<string, string>, by: number) =>
      assert.equal(value(second, name, labels) - value(first, name, labels), by, `${name}${JSON.stringify(labels)} moved by ${by}`)
    moved('rota_flow_runs_total', { flow: 'hello', state: 'success' }, 2)
    moved('rota_flow_runs_total', { flow: 'ops-flaky', state: 'failed' }, 1)
    moved('rota_task_runs_total', { state: 'success' }, 6) // hello has three tasks
    moved('rota_task_runs_total', { state: 'failed' }, 1)
    moved('rota_schedule_lag_seconds_count', {}, 3)
    moved('rota_queue_wait_seconds_count', {}, 3)
    assert.equal(value(second, 'rota_schedule_lag_seconds_bucket', { le: '+Inf' }), value(second, 'rota_schedule_lag_seconds_count'), 'every observation is in the +Inf bucket')
    assert.equal(second.get('rota_flow_run_duration_seconds')?.type, 'histogram')
    assert.equal(value(second, 'rota_flow_run_duration_seconds_count', { flow: 'hello' }), 2)
    assert.equal(value(second, 'rota_flow_run_duration_seconds_count', { flow: 'ops-flaky' }), 1)
    assert.ok(value(second, 'rota_flow_run_duration_seconds_sum', { flow: 'hello' }) > 0)
    assert.equal(value(second, 'rota_flow_run_duration_seconds_bucket', { flow: 'hello', le: '+Inf' }), 2)
    assert.equal(second.get('rota_automation_firings')?.type, 'counter')
    assert.equal(value(second, 'rota_automation_firings_total', { automation: 'metered', status: 'delivered' }), 1)
  })

  it('answers only its own loopback Host without a key, and only with the key when it has one', async () => {
    // fetch() may not set Host: a raw request, as a DNS-rebound page's would arrive
    const foreign = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.server.port, path: '/metrics', headers: { host: `rebound.example:${h.server.port}` } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }).once('error', reject)
    })
    assert.equal(foreign, 403)

    let db: TestDatabase | undefined
    let keyed: RunningServer | undefined
    try {
      db = await freshDatabase()
      keyed = await startServer(testConfig(db, { apiKey: 'metrics-key-1234' }), { log: () => undefined })
      assert.equal((await fetch(`${keyed.url}/metrics`)).status, 401)
      assert.equal((await fetch(`${keyed.url}/metrics`, { headers: { 'x-api-key': 'wrong' } })).status, 401)
      assert.ok((await scrape(keyed.url, { 'x-api-key': 'metrics-key-1234' })).has('rota_flow_runs'))
      assert.ok((await scrape(keyed.url, { authorization: 'Bearer metrics-key-1234' })).has('rota_agents'), "Prometheus's bearer token")
    } finally {
      await keyed?.close()
      await db?.drop()
    }
  })
})
