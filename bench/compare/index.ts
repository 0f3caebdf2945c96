/**
 * `npm run bench:compare`: Rota and Prefect 3 side by side on this machine, the same workloads, one
 * table with ratios. Prefect is installed on demand in a virtualenv pinned by requirements.txt;
 * its server keeps its default SQLite database and runs flows through a process work pool and
 * worker, with the default 10-s polling and then a tuned 1-s one. Rota runs on a fresh PostgreSQL
 * database, then on its embedded PGlite. Configuration and caveats: README.md beside this file.
 *
 * Environment: ROTA_COMPARE_PG_URL (a PostgreSQL server to make a database in; default the test
 * server on 127.0.0.1:54329), ROTA_COMPARE_IDLE_SECONDS (60), ROTA_COMPARE_CONCURRENCY (8 runs at
 * once per agent or worker), ROTA_COMPARE_BURST (100), ROTA_COMPARE_LIGHT_RUNS (5),
 * ROTA_COMPARE_TICKS (5), ROTA_COMPARE_ONLY (comma list of: rota-pg, rota-pglite, prefect),
 * PYTHON (an interpreter >= 3.10 for the virtualenv).
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import pg from 'pg'
import { RotaClient } from '../../src/client/index.ts'
import { registerFile } from '../../src/cli/register.ts'
import { rotaNodeFlags, treeMemory } from '../proc.ts'

const HERE = import.meta.dirname
const ROOT = path.resolve(HERE, '../..')
const PG_URL = process.env.ROTA_COMPARE_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'
const IDLE_SECONDS = Number(process.env.ROTA_COMPARE_IDLE_SECONDS ?? 60)
const CONCURRENCY = Number(process.env.ROTA_COMPARE_CONCURRENCY ?? 8)
const BURST = Number(process.env.ROTA_COMPARE_BURST ?? 100)
const LIGHT_RUNS = Number(process.env.ROTA_COMPARE_LIGHT_RUNS ?? 5)
const TICKS = Number(process.env.ROTA_COMPARE_TICKS ?? 5)
const ONLY = new Set((process.env.ROTA_COMPARE_ONLY ?? 'rota-pg,rota-pglite,prefect').split(','))
const CREATORS = 10
const PREFECT_POLLS = [10, 1] // PREFECT_WORKER_QUERY_SECONDS: the default, then tuned
const LOGS = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-compare-'))

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await sleep(everyMs)
  }
}

// ---------------------------------------------------------------------------------------------
// Processes: each in its own process group, so stopping one stops what it started.

const started = new Set<ChildProcess>()

function startProcess(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): ChildProcess {
  const log = fs.openSync(path.join(LOGS, `${name}.log`), 'a')
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', log, log], detached: true })
  fs.closeSync(log)
  started.add(child)
  child.once('exit', () => started.delete(child))
  return child
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  const group = -(child.pid as number)
  try {
    process.kill(group, 'SIGTERM')
  } catch {
    return
  }
  const t = setTimeout(() => {
    try {
      process.kill(group, 'SIGKILL')
    } catch {
      // gone
    }
  }, 15_000)
  await exited
  clearTimeout(t)
}

async function stopAll(): Promise<void> {
  await Promise.all([...started].map((c) => stopProcess(c)))
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

/** Time from spawn to the health endpoint answering 200. */
async function healthyAfter(child: ChildProcess, url: string, t0: number): Promise<number> {
  return until(
    async () => {
      if (child.exitCode !== null) throw new Error(`${url}: the server exited with ${child.exitCode} (logs in ${LOGS})`)
      try {
        const res = await fetch(url)
        return res.ok ? performance.now() - t0 : undefined
      } catch {
        return undefined
      }
    },
    300_000,
    `${url} to answer`,
    100,
  )
}

// ---------------------------------------------------------------------------------------------
// The measures, the same for both systems.

interface Measures {
  coldStartMs?: number
  idleServerMb?: number
  idleWorkerMb?: number
  light40Ms?: number[]
  lagMs?: number[]
  burstMs?: number
  /** Burst runs that ended other than successfully (crashed, failed, cancelled). */
  burstFailed?: number
}

/** What a system offers the workloads. Times are epoch milliseconds from the system's own records. */
interface Driver {
  createRun(flow: 'light-40' | 'light-1'): Promise<string>
  /** undefined while not finished; throws when a run did not succeed. */
  finished(id: string): Promise<boolean>
  /** Of these runs, how many ended well and how many ended otherwise. */
  countFinished(ids: string[]): Promise<{ ok: number; failed: number }>
  startTicks(): Promise<void>
  /** Finished runs of the 10-s schedule: when each was due and when it started running. */
  ticks(): Promise<{ due: number; start: number }[]>
  stopTicks(): Promise<void>
}

async function runWorkloads(driver: Driver, m: Measures, label: string): Promise<void> {
  // 40 light tasks, end to end: create the run, see it finished. One warm-up, then LIGHT_RUNS.
  m.light40Ms = []
  for (let i = 0; i <= LIGHT_RUNS; i++) {
    await sleep(2000)
    const t0 = performance.now()
    const id = await driver.createRun('light-40')
    await until(async () => ((await driver.finished(id)) ? true : undefined), 180_000, `${label}: a light-40 run`, 20)
    if (i > 0) m.light40Ms.push(performance.now() - t0)
  }
  console.log(`  ${label}: 40 light tasks, median ${median(m.light40Ms).toFixed(0)} ms`)

  // Scheduling lag on a 10-s interval: started running - due, over TICKS runs due after the start.
  const since = Date.now() + 5000
  await driver.startTicks()
  const ticks = await until(
    async () => {
      const done = (await driver.ticks()).filter((t) => t.due >= since)
      return done.length >= TICKS ? done.slice(0, TICKS) : undefined
    },
    TICKS * 10_000 + 180_000,
    `${label}: ${TICKS} scheduled runs`,
    1000,
  )
  await driver.stopTicks()
  m.lagMs = ticks.map((t) => t.start - t.due)
  console.log(`  ${label}: scheduling lag ${m.lagMs.map((l) => (l / 1000).toFixed(2)).join(', ')} s`)

  // A burst: BURST runs created at once (CREATORS API calls in flight: Prefect's server resets
  // connections when 100 arrive together), until all have finished.
  const t0 = performance.now()
  const ids: string[] = []
  await Promise.all(
    Array.from({ length: CREATORS }, async () => {
      while (ids.length < BURST) {
        const slot = ids.push('') - 1
        ids[slot] = await driver.createRun('light-1')
      }
    }),
  )
  // A run that crashes is counted, not fatal: under the burst Prefect's SQLite locks up and some runs crash.
  const end = await until(async () => {
    const n = await driver.countFinished(ids)
    return n.ok + n.failed === BURST ? n : undefined
  }, 1_200_000, `${label}: the burst`, 250)
  m.burstMs = performance.now() - t0
  m.burstFailed = end.failed
  console.log(`  ${label}: burst of ${BURST} in ${(m.burstMs / 1000).toFixed(1)} s, ${end.failed} did not succeed`)
}

// ---------------------------------------------------------------------------------------------
// Rota

const ROTA_TERMINAL = new Set(['success', 'failed', 'skipped', 'cancelled', 'crashed'])

async function measureRota(database: 'postgres' | 'pglite', m: Measures): Promise<void> {
  const label = `Rota (${database === 'postgres' ? 'PostgreSQL' : 'PGlite'})`
  console.log(`${label}...`)
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-compare-home-'))
  let databaseUrl = ''
  let admin: pg.Client | undefined
  const dbName = `rota_compare_${randomUUID().replace(/-/g, '').slice(0, 10)}`
  if (database === 'postgres') {
    admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    await admin.query(`create database ${dbName}`)
    const url = new URL(PG_URL)
    url.pathname = `/${dbName}`
    databaseUrl = url.toString()
  }
  const port = await freePort()
  const apiUrl = `http://127.0.0.1:${port}`
  const env = { ...process.env, ROTA_HOME: home, DATABASE_URL: databaseUrl, ROTA_API_KEY: '', ROTA_API_URL: apiUrl }
  let server: ChildProcess | undefined
  let agent: ChildProcess | undefined
  try {
    const t0 = performance.now()
    server = startProcess(`rota-${database}-server`, process.execPath, [...rotaNodeFlags(), 'bin/rota.js', 'server', 'start', '--port', String(port)], env)
    m.coldStartMs = await healthyAfter(server, `${apiUrl}/api/health`, t0)
    await sleep(IDLE_SECONDS * 1000 - m.coldStartMs)
    m.idleServerMb = treeMemory(server.pid as number).rssMb

    const client = new RotaClient(apiUrl)
    await registerFile(client, 'bench/compare/rota_flows.ts', ROOT)
    agent = startProcess(`rota-${database}-agent`, process.execPath, [...rotaNodeFlags(), 'bin/rota.js', 'agent', 'start', '--concurrency', String(CONCURRENCY)], env)
    await sleep(15_000)
    m.idleWorkerMb = treeMemory(agent.pid as number).rssMb

    const finished = async (id: string) => {
      const run = await client.getRun(id)
      if (!ROTA_TERMINAL.has(run.state)) return false
      if (run.state !== 'success') throw new Error(`${label}: run ${id} ended ${run.state}: ${run.stateMessage ?? ''}`)
      return true
    }
    await runWorkloads(
      {
        createRun: async (flow) => (await client.createRun(flow, {})).id,
        finished,
        countFinished: async (ids) => {
          const limit = Math.max(200, ids.length)
          const failed = await client.listRuns({ flow: 'light-1', state: 'failed,crashed,cancelled,skipped', limit })
          const ok = await client.listRuns({ flow: 'light-1', state: 'success', limit })
          return { ok: ok.items.length, failed: failed.items.length }
        },
        startTicks: async () => {
          await registerFile(client, 'bench/compare/rota_tick.ts', ROOT)
        },
        ticks: async () =>
          (await client.listRuns({ flow: 'tick', state: 'success', limit: 100 })).items.map((r) => ({
            due: Date.parse(r.scheduledStartTime),
            start: Date.parse(r.startTime as string),
          })),
        stopTicks: async () => {
          await client.setSchedule('tick', false)
        },
      },
      m,
      label,
    )
  } finally {
    await stopProcess(agent)
    await stopProcess(server)
    if (admin) {
      await admin.query(`drop database if exists ${dbName} with (force)`)
      await admin.end()
    }
    fs.rmSync(home, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Prefect

const PREFECT_VERSION = /^prefect==(\S+)$/m.exec(fs.readFileSync(path.join(HERE, 'requirements.txt'), 'utf8'))?.[1] ?? '?'

/** The pinned virtualenv, created on first use (a minute or two: pip installs ~100 packages). */
function prefectVenv(): string {
  const requirements = fs.readFileSync(path.join(HERE, 'requirements.txt'))
  const dir = path.join(ROOT, `.venv-prefect-${createHash('sha256').update(requirements).digest('hex').slice(0, 10)}`)
  if (fs.existsSync(path.join(dir, 'bin', 'prefect'))) return dir
  const python = process.env.PYTHON ?? (spawnSync('python3.11', ['--version']).status === 0 ? 'python3.11' : 'python3')
  const version = spawnSync(python, ['-c', 'import sys; print(sys.version_info >= (3, 10))'], { encoding: 'utf8' })
  if (version.stdout?.trim() !== 'True') throw new Error(`Prefect 3 needs Python 3.10 or newer: set PYTHON to one (tried ${python})`)
  console.log(`installing Prefect ${PREFECT_VERSION} into ${path.relative(ROOT, dir)} (once)...`)
  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', dir]],
    [path.join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--quiet', '-r', path.join(HERE, 'requirements.txt')]],
  ]
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit', timeout: 900_000 })
    if (r.status !== 0) {
      fs.rmSync(dir, { recursive: true, force: true })
      throw new Error(`could not install Prefect: ${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
    }
  }
  return dir
}

const PREFECT_TERMINAL_BAD = new Set(['FAILED', 'CRASHED', 'CANCELLED', 'CANCELLING'])

async function measurePrefect(results: Record<number, Measures>): Promise<void> {
  console.log(`Prefect ${PREFECT_VERSION}...`)
  const venv = prefectVenv()
  const prefectHome = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-compare-prefect-'))
  const port = await freePort()
  const api = `http://127.0.0.1:${port}/api`
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PREFECT_HOME: prefectHome,
    PREFECT_API_URL: api,
    PREFECT_SERVER_ANALYTICS_ENABLED: 'false',
    DO_NOT_TRACK: '1',
    PATH: `${path.join(venv, 'bin')}:${process.env.PATH ?? ''}`,
  }
  // Prefect's own client retries 408, 429, 502 and 503 (its SQLite answers 503 "database is locked"
  // under concurrent writes) with backoff: so do these calls, or a burst would fail, not slow down.
  const call = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      let status: number
      let text: string
      try {
        const res = await fetch(`${api}${p}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
        status = res.status
        text = await res.text()
      } catch (err) {
        // A kept-alive connection that the server closed as it was reused, or a connection reset
        // while a burst floods the server: try again after a pause, as for a 503.
        if (attempt < 10) {
          await sleep(Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random()))
          continue
        }
        throw err
      }
      // Patient: under the burst, Prefect's SQLite stays locked for tens of seconds at a time.
      if ([408, 429, 502, 503].includes(status) && attempt < 40) {
        await sleep(Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random()))
        continue
      }
      if (status >= 400) throw new Error(`Prefect ${method} ${p}: ${status} ${text}`)
      return (text === '' ? undefined : JSON.parse(text)) as T
    }
  }
  const setup = async (what: 'flows' | 'tick'): Promise<Record<string, string>> => {
    const child = spawn(path.join(venv, 'bin', 'python'), [path.join(HERE, 'prefect_setup.py'), what], { env, cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    const last = out.trim().split('\n').at(-1) ?? ''
    if (code !== 0 || !last.startsWith('{')) throw new Error(`prefect_setup.py ${what} failed (${code}): ${out}`)
    return JSON.parse(last) as Record<string, string>
  }
  type PrefectRun = { id: string; state_type: string | null; expected_start_time: string; start_time: string | null }
  const runsById = (ids: string[]) => call<PrefectRun[]>('POST', '/flow_runs/filter', { flow_runs: { id: { any_: ids } }, limit: ids.length })

  let server: ChildProcess | undefined
  try {
    const t0 = performance.now()
    server = startProcess('prefect-server', path.join(venv, 'bin', 'prefect'), ['server', 'start', '--host', '127.0.0.1', '--port', String(port)], env)
    const coldStartMs = await healthyAfter(server, `${api}/health`, t0)
    await sleep(IDLE_SECONDS * 1000 - coldStartMs)
    const idleServerMb = treeMemory(server.pid as number).rssMb
    const deployments = await setup('flows')

    for (const poll of PREFECT_POLLS) {
      const label = `Prefect (${poll}-s poll)`
      const m: Measures = poll === PREFECT_POLLS[0] ? { coldStartMs, idleServerMb } : {}
      results[poll] = m
      const worker = startProcess(`prefect-worker-${poll}s`, path.join(venv, 'bin', 'prefect'), ['worker', 'start', '--pool', 'bench', '--type', 'process', '--limit', String(CONCURRENCY)], {
        ...env,
        PREFECT_WORKER_QUERY_SECONDS: String(poll),
      })
      let tick: string | undefined
      try {
        await sleep(15_000)
        m.idleWorkerMb = treeMemory(worker.pid as number).rssMb
        await runWorkloads(
          {
            createRun: async (flow) => (await call<{ id: string }>('POST', `/deployments/${deployments[flow]}/create_flow_run`, {})).id,
            finished: async (id) => {
              const run = await call<PrefectRun>('GET', `/flow_runs/${id}`)
              if (run.state_type && PREFECT_TERMINAL_BAD.has(run.state_type)) throw new Error(`${label}: run ${id} ended ${run.state_type} (logs in ${LOGS})`)
              return run.state_type === 'COMPLETED'
            },
            countFinished: async (ids) => {
              const runs = await runsById(ids)
              return {
                ok: runs.filter((r) => r.state_type === 'COMPLETED').length,
                failed: runs.filter((r) => r.state_type && r.state_type !== 'CANCELLING' && PREFECT_TERMINAL_BAD.has(r.state_type)).length,
              }
            },
            startTicks: async () => {
              tick = (await setup('tick')).tick
            },
            ticks: async () =>
              (
                await call<PrefectRun[]>('POST', '/flow_runs/filter', {
                  deployments: { id: { any_: [tick] } },
                  flow_runs: { state: { type: { any_: ['COMPLETED'] } } },
                  sort: 'EXPECTED_START_TIME_ASC',
                  limit: 100,
                })
              ).map((r) => ({ due: Date.parse(r.expected_start_time), start: Date.parse(r.start_time as string) })),
            stopTicks: async () => {
              if (tick) await call('DELETE', `/deployments/${tick}`) // its scheduled runs go with it
              tick = undefined
            },
          },
          m,
          label,
        )
      } finally {
        if (tick) await call('DELETE', `/deployments/${tick}`).catch(() => undefined)
        await stopProcess(worker)
      }
    }
  } finally {
    await stopProcess(server)
    fs.rmSync(prefectHome, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// The table

function report(columns: [string, Measures][]): void {
  const baseColumn = columns.find(([name]) => name.startsWith('Rota'))
  const base = baseColumn?.[1]
  const fmtMs = (ms: number | undefined) => (ms === undefined ? '' : ms < 10_000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`)
  const fmtMb = (mb: number | undefined) => (mb === undefined ? '' : `${mb.toFixed(0)} MB`)
  const rows: { name: string; get: (m: Measures) => number | undefined; fmt: (v: number | undefined, m: Measures) => string }[] = [
    { name: 'cold start (server start -> healthy)', get: (m) => m.coldStartMs, fmt: fmtMs },
    { name: `idle server RSS, process tree, after ${IDLE_SECONDS} s`, get: (m) => m.idleServerMb, fmt: fmtMb },
    { name: 'idle agent / worker RSS, process tree', get: (m) => m.idleWorkerMb, fmt: fmtMb },
    { name: `40 light tasks end to end, median of ${LIGHT_RUNS}`, get: (m) => (m.light40Ms ? median(m.light40Ms) : undefined), fmt: fmtMs },
    { name: `scheduling lag, 10-s interval, median of ${TICKS}`, get: (m) => (m.lagMs ? median(m.lagMs) : undefined), fmt: fmtMs },
    { name: `  same, worst of ${TICKS}`, get: (m) => (m.lagMs ? Math.max(...m.lagMs) : undefined), fmt: fmtMs },
    {
      name: `burst of ${BURST} runs, created -> all finished`,
      get: (m) => m.burstMs,
      fmt: (v, m) => (v === undefined ? '' : `${fmtMs(v)} (${((BURST * 1000) / v).toFixed(1)} runs/s)${m.burstFailed ? `, ${m.burstFailed} did not succeed` : ''}`),
    },
  ]
  // Ratios: each Prefect column over Rota on PostgreSQL (Rota's production database).
  const compared = baseColumn ? columns.filter(([name]) => name.startsWith('Prefect')) : []
  const header = ['', ...columns.map(([name]) => name), ...compared.map(([name]) => `${name} / ${baseColumn?.[0]}`)]
  const table = rows.map((row) => {
    const cells = columns.map(([, m]) => row.fmt(row.get(m), m))
    const b = base ? row.get(base) : undefined
    const ratios = compared.map(([, m]) => {
      const v = row.get(m)
      return v === undefined || b === undefined || v <= 0 || b <= 0 ? '' : `${(v / b).toFixed(v / b >= 10 ? 0 : 1)}x`
    })
    return [row.name, ...cells, ...ratios]
  })
  const widths = header.map((_, i) => Math.max(...[header, ...table].map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`
  console.log(`\nRota vs Prefect ${PREFECT_VERSION} (${os.cpus().length} cores, node ${process.version}; concurrency ${CONCURRENCY} runs per agent/worker)\n`)
  console.log(line(header))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of table) console.log(line(r))
  if (columns.some(([name]) => name.startsWith('Prefect'))) console.log(`\nBoth Prefect columns share one server: only the worker's polling (PREFECT_WORKER_QUERY_SECONDS) differs.`)
  console.log(`logs: ${LOGS}`)
}

async function main(): Promise<void> {
  const onSignal = () => {
    void stopAll().then(() => process.exit(130))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const columns: [string, Measures][] = []
  const failures: string[] = []
  // A system that fails keeps the figures it got; the table shows them and the error follows it.
  const attempt = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn()
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`)
      console.error(`${name} failed: ${(err as Error).stack ?? String(err)}`)
    }
  }
  try {
    for (const [key, name, db] of [['rota-pg', 'Rota (PostgreSQL)', 'postgres'], ['rota-pglite', 'Rota (PGlite)', 'pglite']] as const) {
      if (!ONLY.has(key)) continue
      const m: Measures = {}
      columns.push([name, m])
      await attempt(name, () => measureRota(db, m))
    }
    if (ONLY.has('prefect')) {
      const prefect: Record<number, Measures> = {}
      for (const poll of PREFECT_POLLS) columns.push([`Prefect (${poll}-s poll)`, (prefect[poll] = {})])
      await attempt(`Prefect ${PREFECT_VERSION}`, () => measurePrefect(prefect))
      for (const poll of PREFECT_POLLS) {
        const column = columns.find(([name]) => name === `Prefect (${poll}-s poll)`)
        if (column) column[1] = prefect[poll] as Measures
      }
    }
  } finally {
    await stopAll()
  }
  report(columns)
  if (failures.length > 0) {
    console.log(`\nnot measured to the end:\n${failures.map((f) => `- ${f}`).join('\n')}`)
    process.exitCode = 1
  }
}

await main()
