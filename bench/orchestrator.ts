/**
 * `npm run bench`: the orchestrator against a real PostgreSQL (scripts/bench.sh starts one).
 * The server runs in its own process so its memory can be read; agents run in this process and
 * launch real child processes, as in production.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { RotaClient } from '../src/client/index.ts'
import { Agent } from '../src/agent/agent.ts'
import { LocalLauncher } from '../src/agent/local.ts'
import { registerFile } from '../src/cli/register.ts'
import { rotaNodeFlags } from './proc.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const PG_URL = process.env.ROTA_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'
const LAG_RUNS = Number(process.env.ROTA_BENCH_LAG_RUNS ?? 200)

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024
}

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    if (process.env.ROTA_BENCH_DEBUG && Math.random() < 0.01) console.error(`waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

async function main(): Promise<void> {
  const dbName = `rota_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  await admin.query(`create database ${dbName}`)
  const url = new URL(PG_URL)
  url.pathname = `/${dbName}`
  const port = 46000 + Math.floor(Math.random() * 1000)
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-'))
  const server = spawn(process.execPath, [...rotaNodeFlags(), path.join(ROOT, 'bin/rota.js'), 'server', 'start', '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: url.toString(), ROTA_HOME: home, ROTA_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const agents: Agent[] = []
  const results: [string, string, string][] = []
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout?.on('data', (d: Buffer) => (/listening on/.test(d.toString()) ? resolve() : undefined))
      server.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
    const client = new RotaClient(`http://127.0.0.1:${port}`)
    await registerFile(client, 'bench/flows.ts', ROOT)
    await new Promise((r) => setTimeout(r, 2000))
    const idleRss = rssMb(server.pid as number)

    const startAgents = async (n: number, concurrency: number) => {
      for (let i = 0; i < n; i++) {
        const agent = new Agent({ client, launcher: new LocalLauncher({ projectRoot: ROOT }), name: `bench-${i}-${randomUUID().slice(0, 4)}`, concurrency, prefetchMs: 5000, log: () => undefined })
        await agent.start()
        agents.push(agent)
      }
    }
    const stopAgents = async () => {
      await Promise.all(agents.splice(0).map((a) => a.stop()))
    }

    // 1. Orchestration overhead: 40 sequential no-op tasks, end to end, 5 times.
    await startAgents(1, 1)
    const e2e: number[] = []
    const inRun: number[] = []
    for (let i = 0; i < 6; i++) {
      // runs are not back to back: between them the agent gets a warm process ready, as in steady use
      await new Promise((r) => setTimeout(r, 1500))
      const t0 = Date.now()
      const run = await client.createRun('bench-noop-40', {})
      const done = await until(async () => {
        const r = await client.getRun(run.id)
        return r.state === 'success' || r.state === 'failed' ? r : undefined
      }, 60_000, '40-task run', 5)
      if (done.state !== 'success') throw new Error(`40-task run ended ${done.state}: ${done.stateMessage}`)
      const tasks = (await client.taskRuns(run.id)).items
      if (tasks.length !== 40) throw new Error(`expected 40 task runs, got ${tasks.length}`)
      if (i > 0) {
        e2e.push(Date.now() - t0) // the first run warms the OS file cache
        inRun.push(Date.parse(done.endTime as string) - Date.parse(done.startTime as string))
      }
    }
    results.push(['40-task flow, end to end (create -> success seen)', `median ${pct(e2e, 50)} ms, max ${Math.max(...e2e)} ms`, 'target < 500 ms'])
    results.push(['40-task flow, running -> success', `median ${pct(inRun, 50)} ms`, ''])
    await stopAgents()

    // 2. Scheduling lag: runs scheduled ahead, spaced out; lag = first task running - scheduled time.
    await startAgents(2, 4)
    const spacing = Number(process.env.ROTA_BENCH_LAG_SPACING_MS ?? 1000)
    const first = Date.now() + 6000
    const ids: { id: string; at: number }[] = []
    for (let i = 0; i < LAG_RUNS; i++) {
      const at = first + i * spacing
      const res = await fetch(`http://127.0.0.1:${port}/api/flows/bench-noop-1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parameters: {}, scheduledStartTime: new Date(at).toISOString() }),
      })
      ids.push({ id: ((await res.json()) as { id: string }).id, at })
    }
    let peakRss = 0
    const lags = await until(async () => {
      peakRss = Math.max(peakRss, rssMb(server.pid as number))
      const { items } = await client.listRuns({ flow: 'bench-noop-1', limit: 500, state: 'success,failed,crashed' })
      if (items.length < LAG_RUNS) return undefined
      const out: number[] = []
      for (const { id, at } of ids) {
        const [task] = (await client.taskRuns(id)).items
        out.push(Date.parse(task?.startTime as string) - at)
      }
      return out
    }, LAG_RUNS * spacing + 120_000, 'scheduled runs', 500)
    results.push([`scheduling lag over ${LAG_RUNS} runs (scheduled -> first task running)`, `p50 ${pct(lags, 50)} ms, p99 ${pct(lags, 99)} ms, max ${Math.max(...lags)} ms`, 'target p99 < 100 ms'])
    await stopAgents()

    // 3. Throughput: task-run state transitions per second with 4 agents.
    await startAgents(4, 2)
    const t0 = Date.now()
    const runs = await Promise.all(Array.from({ length: 8 }, () => client.createRun('bench-noop-500', {})))
    await until(async () => {
      peakRss = Math.max(peakRss, rssMb(server.pid as number))
      const { items } = await client.listRuns({ flow: 'bench-noop-500', limit: 20 })
      if (process.env.ROTA_BENCH_DEBUG) console.error(items.map((r) => r.state).join(','))
      return items.every((r) => r.state === 'success') && items.length === runs.length ? true : undefined
    }, 300_000, 'throughput runs', 50)
    const seconds = (Date.now() - t0) / 1000
    const transitions = runs.length * 500 * 2
    // The rate while tasks ran: from the first task-run start to the last task-run end, server clock.
    let firstStart = Infinity
    let lastEnd = 0
    for (const r of runs) {
      for (const t of (await client.taskRuns(r.id)).items) {
        firstStart = Math.min(firstStart, Date.parse(t.startTime as string))
        lastEnd = Math.max(lastEnd, Date.parse(t.endTime as string))
      }
    }
    const busy = (lastEnd - firstStart) / 1000
    results.push(['task-run state transitions/s (4 agents, 8 runs x 500 tasks)', `${Math.round(transitions / busy)} /s while tasks ran (${transitions} in ${busy.toFixed(1)} s)`, 'target >= 2000 /s'])
    results.push(['  same, wall clock incl. starting 8 run processes', `${Math.round(transitions / seconds)} /s (${seconds.toFixed(1)} s)`, ''])
    await stopAgents()

    // 4. The runs list at 100,000 runs: server-side keyset paging, first page, a deep page, filtered.
    const db = new pg.Client({ connectionString: url.toString() })
    await db.connect()
    await db.query(
      `insert into rota_flow_runs (flow_id, name, state, scheduled_start_time, flow_version, start_time, end_time)
       select f.id, 'bulk-' || g, (array['success','failed','skipped','crashed'])[1 + g % 4], now() - make_interval(secs => g * 30), f.version,
              now() - make_interval(secs => g * 30), now() - make_interval(secs => g * 30 - 5)
       from rota_flows f, generate_series(1, 100000) g where f.name = 'bench-noop-1'`,
    )
    await db.query('analyze')
    await db.end()
    const timeGet = async (p: string) => {
      const times: number[] = []
      let body: { nextCursor: string | null } = { nextCursor: null }
      for (let i = 0; i < 20; i++) {
        const t = performance.now()
        body = (await (await fetch(`http://127.0.0.1:${port}${p}`)).json()) as { nextCursor: string | null }
        times.push(performance.now() - t)
      }
      return { ms: pct(times, 50), body }
    }
    const page1 = await timeGet('/api/flow-runs?limit=50')
    let cursor = page1.body.nextCursor
    for (let i = 0; i < 200 && cursor; i++) cursor = ((await (await fetch(`http://127.0.0.1:${port}/api/flow-runs?limit=50&cursor=${cursor}`)).json()) as { nextCursor: string | null }).nextCursor
    const deep = await timeGet(`/api/flow-runs?limit=50&cursor=${cursor}`)
    const failed = await timeGet('/api/flow-runs?limit=50&state=failed&flow=bench-noop-1')
    const stats = await timeGet('/api/flow-runs/stats?hours=24')
    results.push(['runs list at 100k runs: first page / page 200 / state filter / 24h stats', `${page1.ms.toFixed(1)} / ${deep.ms.toFixed(1)} / ${failed.ms.toFixed(1)} / ${stats.ms.toFixed(1)} ms (median)`, 'Prefect UI: ~1 min at 4k'])

    results.push(['server RSS idle', `${idleRss.toFixed(0)} MB`, 'target < 150 MB'])
    results.push(['server RSS peak under load', `${peakRss.toFixed(0)} MB`, ''])
  } finally {
    await Promise.all(agents.map((a) => a.stop()))
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
    await admin.query(`drop database if exists ${dbName} with (force)`)
    await admin.end()
    fs.rmSync(home, { recursive: true, force: true })
  }
  const w = [Math.max(...results.map((r) => r[0].length)), Math.max(...results.map((r) => r[1].length))]
  console.log(`\nRota orchestrator benchmark (PostgreSQL, ${os.cpus().length} cores, node ${process.version})\n`)
  for (const [a, b, c] of results) console.log(`${a.padEnd(w[0] as number)}  ${b.padEnd(w[1] as number)}  ${c}`)
}

await main()
