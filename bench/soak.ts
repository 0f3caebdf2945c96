/**
 * `npm run bench:soak`: Rota unattended, on a real PostgreSQL. 20 flows on 2-s and 5-s schedules
 * (bench/soak-flows.ts: three tasks and a few log lines each), a server and two agents as real
 * processes, retention at 2 minutes (the newest 10 runs of each flow kept), and a fault every few
 * minutes, in turn: an agent killed with SIGKILL (restarted 3 s later under its name) and the server
 * restarted. Prints, per minute: runs done, schedule lag p50/p99 (scheduled time to running), server
 * and agent RSS, database size and runs kept. At the end it checks that no run was lost (every
 * scheduled tick has a run), duplicated (executed twice, by the flows' own ledger) or stuck.
 *
 *   --minutes N (20)  --flows N (20, at most 20)  --fault-every N minutes (4; 0: none)
 *   --retention D (2m)  --keep-last N (10)  --fast D (2s)  --slow D (5s)  --concurrency N (6 per agent)
 *   ROTA_BENCH_PG_URL  the PostgreSQL server (default: the test server, 127.0.0.1:54329)
 *
 * Bounded: everything it starts is stopped at the end (or on SIGINT), and its database dropped.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { RotaClient } from '../src/client/index.ts'
import { registerFile } from '../src/cli/register.ts'
import { parseDurationSeconds } from '../src/core/duration.ts'
import { rotaNodeFlags } from './proc.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const PG_URL = process.env.ROTA_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'
const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback
}
const MINUTES = Number(option('--minutes', process.env.ROTA_SOAK_MINUTES ?? '20'))
const FLOWS = Math.min(20, Number(option('--flows', '20')))
const FAULT_EVERY = Number(option('--fault-every', '4'))
const RETENTION = option('--retention', '2m')
const KEEP_LAST = option('--keep-last', '10')
const FAST = option('--fast', '2s')
const SLOW = option('--slow', '5s')
const CONCURRENCY = option('--concurrency', '6')
if (!(MINUTES >= 1) || !(FLOWS >= 1)) throw new Error('--minutes and --flows take whole numbers >= 1')

const pct = (values: number[], p: number) => {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}
const rssMb = (pid: number | undefined): number => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return NaN
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

interface Proc {
  child: ChildProcess
  exited: Promise<void>
}

function startProcess(argv: string[], env: Record<string, string>, ready?: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, [...rotaNodeFlags(), path.join(ROOT, 'bin/rota.js'), ...argv], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let out = ''
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  if (!ready) return Promise.resolve({ child, exited })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rota ${argv.join(' ')} not ready in 60 s:\n${out}`)), 60_000)
    const check = () => {
      if (ready.test(out)) {
        clearTimeout(timer)
        resolve({ child, exited })
      }
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', (code) => reject(new Error(`rota ${argv.join(' ')} exited ${code}:\n${out}`)))
  })
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill(signal)
  await Promise.race([p.exited, sleep(15_000).then(() => p.child.kill('SIGKILL'))])
  await p.exited
}

interface Seen {
  flow: string
  scheduled: number
  state: string
  started: number | null
  ended: number | null
  auto: boolean
}

async function main(): Promise<void> {
  const dbName = `rota_soak_${randomUUID().replace(/-/g, '').slice(0, 10)}`
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  await admin.query(`create database ${dbName}`)
  const url = new URL(PG_URL)
  url.pathname = `/${dbName}`
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-soak-'))
  const ledger = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-soak-ledger-'))
  const port = 47000 + Math.floor(Math.random() * 1000)
  const apiUrl = `http://127.0.0.1:${port}`
  const serverEnv = { DATABASE_URL: url.toString(), ROTA_HOME: home, ROTA_API_KEY: '', ROTA_RETENTION: RETENTION, ROTA_RETENTION_KEEP_LAST: KEEP_LAST, ROTA_PORT: String(port) }
  const agentEnv = { ROTA_API_URL: apiUrl, ROTA_API_KEY: '', ROTA_HOME: home, SOAK_LEDGER: ledger }
  const db = new pg.Client({ connectionString: url.toString() })
  let server: Proc | undefined
  const agents: (Proc | undefined)[] = [undefined, undefined]
  let stopping = false
  const startAgent = async (i: number) => {
    agents[i] = await startProcess(['agent', 'start', '--name', `soak-agent-${i}`, '--concurrency', CONCURRENCY], agentEnv)
  }
  const cleanup = async () => {
    stopping = true
    await Promise.all(agents.map((a) => stop(a)))
    await stop(server)
    await db.end().catch(() => undefined)
    await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => undefined)
    await admin.end().catch(() => undefined)
    fs.rmSync(home, { recursive: true, force: true })
    fs.rmSync(ledger, { recursive: true, force: true })
  }
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)))

  try {
    server = await startProcess(['server', 'start'], serverEnv, /listening on/)
    await db.connect()
    const client = new RotaClient(apiUrl)
    process.env.SOAK_FAST = FAST
    process.env.SOAK_SLOW = SLOW
    await registerFile(client, 'bench/soak-flows.ts', ROOT)
    const names = (await client.listFlows()).items.map((f) => f.name).filter((n) => n.startsWith('soak-')).sort()
    for (const name of names.slice(FLOWS)) await client.setSchedule(name, false)
    const active = new Set(names.slice(0, FLOWS))
    await startAgent(0)
    await startAgent(1)
    const started = Date.now()
    const rate = [...active].reduce((sum, n) => sum + 1 / parseDurationSeconds(Number(n.slice(5)) % 2 ? FAST : SLOW), 0)
    log(`soak: ${FLOWS} flows (${rate.toFixed(1)} runs/s), ${MINUTES} min, retention ${RETENTION} (newest ${KEEP_LAST} kept), a fault every ${FAULT_EVERY || '-'} min; PostgreSQL ${dbName}`)

    // Every run is noted while it exists (retention deletes it 2 minutes after it ends).
    const seen = new Map<string, Seen>()
    let since = new Date(0)
    const poll = async () => {
      const { rows } = await db.query(
        `select r.id, f.name as flow, r.scheduled_start_time as s, r.state, r.start_time as st, r.end_time as et, r.auto_scheduled as auto, now() as now
         from rota_flow_runs r join rota_flows f on f.id = r.flow_id where r.updated_at >= $1`,
        [since],
      )
      for (const r of rows as { id: string; flow: string; s: Date; state: string; st: Date | null; et: Date | null; auto: boolean; now: Date }[]) {
        seen.set(r.id, { flow: r.flow, scheduled: r.s.getTime(), state: r.state, started: r.st?.getTime() ?? null, ended: r.et?.getTime() ?? null, auto: r.auto })
        since = new Date(Math.max(since.getTime(), r.now.getTime() - 5000))
      }
    }
    const poller = (async () => {
      while (!stopping) {
        await poll().catch(() => undefined)
        await sleep(1000)
      }
    })()

    const table: string[] = []
    const faults: number[] = []
    const rows: { minute: number; done: number; skipped: number; p50: number; p99: number; server: number; agents: number; dbMb: number; kept: number; fault: string }[] = []
    console.log('min  runs done  (skipped)  lag p50  lag p99  server RSS  agents RSS  db size  runs kept  fault')
    for (let minute = 1; minute <= MINUTES; minute++) {
      let fault = ''
      const minuteStart = started + (minute - 1) * 60_000
      if (FAULT_EVERY > 0 && minute > 1 && (minute - 1) % FAULT_EVERY === 0) {
        // mid-minute: the minute's figures show the fault's effect
        await sleep(Math.max(0, minuteStart + 20_000 - Date.now()))
        const which = ((minute - 1) / FAULT_EVERY) % 2 === 1 ? 'agent' : 'server'
        if (which === 'agent') {
          await stop(agents[0], 'SIGKILL')
          await sleep(3000)
          await startAgent(0)
          fault = 'agent kill -9'
        } else {
          await stop(server)
          server = await startProcess(['server', 'start'], serverEnv, /listening on/)
          fault = 'server restart'
        }
        faults.push(minute)
      }
      await sleep(Math.max(0, started + minute * 60_000 - Date.now()))
      const end = started + minute * 60_000
      const runs = [...seen.values()]
      const ended = runs.filter((r) => r.ended !== null && r.ended >= minuteStart && r.ended < end && r.state !== 'scheduled')
      const done = ended.length
      // missed ticks that the reaper skipped (catch-up "latest") count as done but never ran: shown apart
      const skipped = ended.filter((r) => r.state === 'skipped').length
      const lags = runs.filter((r) => r.started !== null && r.started >= minuteStart && r.started < end).map((r) => (r.started as number) - r.scheduled)
      const size = Number((await db.query(`select pg_database_size(current_database()) as n`)).rows[0].n) / 1024 / 1024
      const kept = Number((await db.query(`select count(*) as n from rota_flow_runs`)).rows[0].n)
      const row = { minute, done, skipped, p50: pct(lags, 50), p99: pct(lags, 99), server: rssMb(server.child.pid), agents: rssMb(agents[0]?.child.pid) + rssMb(agents[1]?.child.pid), dbMb: size, kept, fault }
      rows.push(row)
      const line = `${String(minute).padStart(3)}  ${String(done).padStart(9)}  ${`(${skipped})`.padStart(9)}  ${`${row.p50.toFixed(0)} ms`.padStart(7)}  ${`${row.p99.toFixed(0)} ms`.padStart(7)}  ${`${row.server.toFixed(0)} MB`.padStart(10)}  ${`${row.agents.toFixed(0)} MB`.padStart(10)}  ${`${size.toFixed(0)} MB`.padStart(7)}  ${String(kept).padStart(9)}  ${fault}`
      table.push(line)
      console.log(line)
    }

    // Drain: schedules off, the runs under way end, then judge.
    const endedAt = Date.now()
    for (const name of active) await client.setSchedule(name, false)
    for (let i = 0; i < 60; i++) {
      await poll()
      const busy = [...seen.values()].filter((r) => ['pending', 'running', 'cancelling', 'retrying'].includes(r.state))
      if (busy.length === 0) break
      await sleep(1000)
    }
    stopping = true
    await poller
    await poll()

    // Lost: a tick of an active schedule (after the first 30 s, up to 30 s before the end) with no run at all.
    // Stuck: a run due before the end that never finished. Duplicated: a run executed twice (the flows' ledger).
    const ticks = new Map<string, Set<number>>()
    for (const r of seen.values()) if (r.auto) (ticks.get(r.flow) ?? ticks.set(r.flow, new Set()).get(r.flow))?.add(r.scheduled)
    let lost = 0
    let expected = 0
    for (const name of active) {
      const every = parseDurationSeconds(Number(name.slice(5)) % 2 ? FAST : SLOW) * 1000
      const have = ticks.get(name) ?? new Set()
      for (let t = Math.ceil((started + 30_000) / every) * every; t < endedAt - 30_000; t += every) {
        expected++
        if (!have.has(t)) lost++
      }
    }
    const stuck = [...seen.values()].filter((r) => r.scheduled < endedAt - 30_000 && !['success', 'failed', 'skipped', 'cancelled', 'crashed'].includes(r.state)).length
    const executions = fs.existsSync(path.join(ledger, 'executions.log')) ? fs.readFileSync(path.join(ledger, 'executions.log'), 'utf8').trim().split('\n').filter(Boolean) : []
    const duplicated = executions.length - new Set(executions).size
    const byState: Record<string, number> = {}
    for (const r of seen.values()) if (r.scheduled < endedAt) byState[r.state] = (byState[r.state] ?? 0) + 1

    const steady = rows.filter((r) => r.minute >= Math.min(4, MINUTES))
    const calm = rows.filter((r) => !faults.includes(r.minute) && r.minute > 1)
    const growth = (values: number[]) => (values.length > 1 ? ((values.at(-1) as number) / Math.min(...values) - 1) * 100 : NaN)
    console.log(`\nRota soak: ${FLOWS} flows (${rate.toFixed(1)} runs/s) for ${MINUTES} min, retention ${RETENTION}, faults at minutes ${faults.join(', ') || 'none'} (${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`)
    console.log(`ticks due ${expected}; runs seen ${seen.size}; by state ${JSON.stringify(byState)}; executions ${executions.length}`)
    console.log(`lost ${lost}  duplicated ${duplicated}  stuck ${stuck}   (targets: 0, 0, 0)`)
    console.log(`lag p99 outside fault minutes: worst ${Math.max(...calm.map((r) => r.p99)).toFixed(0)} ms, median of minutes ${pct(calm.map((r) => r.p99), 50).toFixed(0)} ms (target < 100 ms)`)
    console.log(`from minute ${steady[0]?.minute ?? '-'}: server RSS ${growth(steady.map((r) => r.server)).toFixed(1)} % over its lowest, agents ${growth(steady.map((r) => r.agents)).toFixed(1)} %, database ${growth(steady.map((r) => r.dbMb)).toFixed(1)} % (target < 10 %)`)
    process.exitCode = lost === 0 && duplicated === 0 && stuck === 0 ? 0 : 1
  } finally {
    await cleanup()
  }
}

await main()
