/**
 * The throughput part of `npm run bench`: how many one-task runs a second a server and one agent
 * finish, in both isolations, on PGlite and on PostgreSQL, and what the server's process tree
 * weighs meanwhile. The server and the agents are real `rota` processes, started as a user starts
 * them; this process only creates runs and watches.
 *
 * For each database:
 * 1. shared, sustained: `rota agent start --isolation shared`; runs created at a fixed rate
 *    (ROTA_BENCH_SHARED_RATE, default 100/s) for ROTA_BENCH_SECONDS (default 10): the rate they
 *    finish at, and their latency (created -> finished, server clock) p50 / p99;
 * 2. shared, burst: ROTA_BENCH_BURST (default 200) runs created at once: time until all finished;
 * 3. process, sustained: `rota agent start --isolation process --spares 4`, at
 *    ROTA_BENCH_PROCESS_RATE (default 10/s);
 * and throughout, the server's resident memory (whole process tree, sampled every 100 ms), and the
 * CPU time each part spent per run (server, agent with its workers or run processes, PostgreSQL):
 * the figure that does not depend on what else the machine runs. 2 cores / (CPU per run) is the
 * rate this machine could reach if the benchmark had it to itself.
 *
 * ROTA_BENCH_PARTS: `shared,process` (default) or one of them. ROTA_BENCH_DATABASES: `pglite,postgres` (default; postgres needs ROTA_BENCH_PG_URL, which
 * scripts/bench.sh sets). ROTA_BENCH_PROFILE=dir writes CPU profiles of every Rota process.
 * Prints a table; exits 1 when a run does not succeed.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { RotaClient, type FlowRun } from '../src/client/index.ts'
import { registerFile } from '../src/cli/register.ts'
import { processTree, rssBreakdown, treeMemory, rotaNodeFlags } from './proc.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const PG_URL = process.env.ROTA_BENCH_PG_URL
const SECONDS = Number(process.env.ROTA_BENCH_SECONDS ?? 10)
const SHARED_RATE = Number(process.env.ROTA_BENCH_SHARED_RATE ?? 100)
const PROCESS_RATE = Number(process.env.ROTA_BENCH_PROCESS_RATE ?? 10)
const BURST = Number(process.env.ROTA_BENCH_BURST ?? 200)
/** ROTA_BENCH_PARTS: `shared,process` (default), or one of them. */
const PARTS = new Set((process.env.ROTA_BENCH_PARTS ?? 'shared,process').split(',').map((p) => p.trim()))
const DATABASES = (process.env.ROTA_BENCH_DATABASES ?? (PG_URL ? 'pglite,postgres' : 'pglite')).split(',').map((d) => d.trim())
const CLOCK_TICK_MS = 1000 / 100 // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s
/** ROTA_BENCH_PROFILE=dir: CPU profiles of the server, the agents and their workers go there (node --cpu-prof). */
const PROFILE = process.env.ROTA_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.ROTA_BENCH_PROFILE)}`] : []

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const progress = (line: string) => process.stderr.write(`[bench] ${line} (load average ${os.loadavg()[0]?.toFixed(1)})\n`)
const TERMINAL = new Set(['success', 'failed', 'skipped', 'cancelled', 'crashed'])

function pct(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

/**
 * CPU time (user + system) of these processes, ms, with that of their children that exited and
 * were waited for (the kernel adds a reaped child's time, its own reaped children's included, to
 * its parent's).
 */
function cpuMs(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>()
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(pid, (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * CLOCK_TICK_MS)
    } catch {
      // gone
    }
  }
  return out
}

/**
 * CPU spent by a process tree since begin(): what each process alive now spent since then (all of
 * it for one born since). A process that ended in between is counted in its parent's time.
 */
class CpuMeter {
  private start = new Map<number, number>()
  constructor(private readonly roots: () => number[]) {}
  begin(): void {
    this.start = cpuMs(this.roots().flatMap((r) => processTree(r)))
  }
  spentMs(): number {
    let total = 0
    for (const [pid, ms] of cpuMs(this.roots().flatMap((r) => processTree(r)))) total += ms - (this.start.get(pid) ?? 0)
    return total
  }
}

interface Server {
  proc: ChildProcess
  url: string
}

async function startServer(home: string, databaseUrl: string | undefined): Promise<Server> {
  const proc = spawn(process.execPath, [...rotaNodeFlags(), ...PROFILE, path.join(ROOT, 'bin/rota.js'), 'server', 'start', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ROTA_HOME: home, DATABASE_URL: databaseUrl ?? '', ROTA_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 120 s')), 120_000)
    proc.stdout?.on('data', (d: Buffer) => {
      const m = /listening on (http:\/\/\S+)/.exec(d.toString())
      if (m) {
        clearTimeout(timer)
        resolve(m[1] as string)
      }
    })
    proc.once('exit', (code) => reject(new Error(`the server exited with ${code}`)))
  })
  return { proc, url }
}

async function startAgent(url: string, args: string[]): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [...rotaNodeFlags(), ...PROFILE, path.join(ROOT, 'bin/rota.js'), 'agent', 'start', '--name', `bench-${randomUUID().slice(0, 6)}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ROTA_API_URL: url, ROTA_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the agent did not start within 60 s')), 60_000)
    proc.stdout?.on('data', (d: Buffer) => {
      if (/started \(id/.test(d.toString())) {
        clearTimeout(timer)
        resolve()
      }
    })
    proc.once('exit', (code) => reject(new Error(`the agent exited with ${code}`)))
  })
  proc.stdout?.resume() // its per-run lines are not needed
  return proc
}

async function stop(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGTERM')
  await Promise.race([exited, sleep(15_000).then(() => proc.kill('SIGKILL'))])
}

/** Terminal runs counted by the server (all flows), from one cheap query. */
async function terminalCount(client: RotaClient): Promise<number> {
  const stats = await client.request<{ buckets: { counts: Record<string, number> }[] }>('GET', '/api/flow-runs/stats?hours=1')
  let n = 0
  for (const b of stats.buckets) for (const [state, count] of Object.entries(b.counts)) if (TERMINAL.has(state)) n += count
  return n
}

/** Every run of a flow (pages of 500). */
async function runsOf(client: RotaClient, flow: string): Promise<FlowRun[]> {
  const out: FlowRun[] = []
  let cursor: string | undefined
  do {
    const page = await client.listRuns({ flow, limit: 500, ...(cursor ? { cursor } : {}) })
    out.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return out
}

interface Watch {
  serverPeakMb: number
  agentPeakMb: number
  /** Where the server process was resident near its peak (read at most once a second). */
  serverPeakParts: Record<string, number>
  partsAt: number
}

interface PhaseResult {
  runs: number
  /** Runs finished per second, from the first creation to the last end. */
  rate: number
  /** Finished per second while runs were being created (after the first second): what the system kept up with. */
  steadyRate: number
  createRate: number
  p50: number
  p99: number
  /** From the first creation to the last end, ms. */
  spanMs: number
  notSuccess: string[]
  cpuPerRun: { server: number; agent: number; postgres: number | undefined }
}

/**
 * Creates `count` runs of `flow`, `rate` a second (Infinity: all at once), waits until all ended,
 * and measures. `meters` measure CPU over the phase; `watch` keeps the memory peaks.
 */
async function phase(
  client: RotaClient,
  flow: string,
  count: number,
  rate: number,
  meters: { server: CpuMeter; agent: CpuMeter; postgres: CpuMeter | undefined },
  sample: () => void,
): Promise<PhaseResult> {
  const before = await terminalCount(client)
  for (const m of Object.values(meters)) m?.begin()
  const sampler = setInterval(sample, 100)
  try {
    const t0 = Date.now()
    const created: Promise<FlowRun>[] = []
    for (let i = 0; i < count; i++) {
      if (Number.isFinite(rate)) {
        const wait = t0 + (i * 1000) / rate - Date.now()
        if (wait > 0) await sleep(wait)
      }
      // a generous timeout: an overloaded server answers late, and the figures should say so rather than stop
      const creation = client.request<FlowRun>('POST', `/api/flows/${flow}/runs`, { parameters: {} }, { timeoutMs: 300_000 })
      // a failed creation surfaces in Promise.all below, so the server and agent are still stopped (not an unhandled rejection now)
      creation.catch(() => undefined)
      created.push(creation)
    }
    const runs = await Promise.all(created)
    const createdMs = Date.now() - t0
    progress(`${flow}: ${count} runs created in ${(createdMs / 1000).toFixed(1)} s`)
    const deadline = Date.now() + 120_000 + (count / Math.max(1, Number.isFinite(rate) ? rate : count)) * 3000
    while ((await terminalCount(client)) - before < count) {
      if (Date.now() > deadline) throw new Error(`${flow}: runs still not finished after ${Math.round((Date.now() - t0) / 1000)} s`)
      await sleep(100)
    }
    const cpu = { server: meters.server.spentMs(), agent: meters.agent.spentMs(), postgres: meters.postgres?.spentMs() }
    progress(`${flow}: all ${count} ended after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const ids = new Set(runs.map((r) => r.id))
    const done = (await runsOf(client, flow)).filter((r) => ids.has(r.id))
    const ends = done.map((r) => Date.parse(r.endTime ?? r.updatedAt))
    const lastEnd = Math.max(...ends)
    const latency = done.map((r) => Date.parse(r.endTime ?? r.updatedAt) - Date.parse(r.createdAt))
    const createEnd = t0 + createdMs
    const steady = ends.filter((e) => e >= t0 + 1000 && e <= createEnd).length
    return {
      runs: done.length,
      rate: done.length / ((lastEnd - t0) / 1000),
      steadyRate: createEnd - t0 > 2000 ? steady / ((createEnd - t0 - 1000) / 1000) : NaN,
      createRate: count / (createdMs / 1000),
      p50: pct(latency, 50),
      p99: pct(latency, 99),
      spanMs: lastEnd - t0,
      notSuccess: done.filter((r) => r.state !== 'success').map((r) => `${r.name}: ${r.state} ${r.stateMessage ?? ''}`),
      cpuPerRun: { server: cpu.server / count, agent: cpu.agent / count, postgres: cpu.postgres === undefined ? undefined : cpu.postgres / count },
    }
  } finally {
    clearInterval(sampler)
  }
}

/** The bench PostgreSQL's postmaster (scripts/bench.sh starts it; its data folder names its port). */
function postmasterPid(url: string | undefined): number | undefined {
  if (!url) return undefined
  const port = new URL(url).port || '5432'
  try {
    return Number(fs.readFileSync(`/var/tmp/rota-pgdata-${port}/postmaster.pid`, 'utf8').split('\n')[0])
  } catch {
    return undefined
  }
}

async function bench(database: string): Promise<{ rows: [string, string][]; failures: string[] }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-tp-'))
  let databaseUrl: string | undefined
  let dropDb: (() => Promise<void>) | undefined
  if (database === 'postgres') {
    if (!PG_URL) throw new Error('the postgres figures need ROTA_BENCH_PG_URL (scripts/bench.sh sets it)')
    const name = `rota_bench_tp_${randomUUID().replace(/-/g, '').slice(0, 10)}`
    const admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    await admin.query(`create database ${name}`)
    const url = new URL(PG_URL)
    url.pathname = `/${name}`
    databaseUrl = url.toString()
    dropDb = async () => {
      await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    }
  }
  const rows: [string, string][] = []
  const failures: string[] = []
  let server: Server | undefined
  let agent: ChildProcess | undefined
  try {
    server = await startServer(home, databaseUrl)
    const serverPid = server.proc.pid as number
    const client = new RotaClient(server.url)
    await registerFile(client, 'bench/throughput-flows.ts', ROOT)
    const watch: Watch = { serverPeakMb: 0, agentPeakMb: 0, serverPeakParts: {}, partsAt: 0 }
    const sample = () => {
      const serverMb = treeMemory(serverPid).rssMb
      if (serverMb > watch.serverPeakMb && Date.now() - watch.partsAt > 1000) {
        watch.serverPeakParts = rssBreakdown(serverPid)
        watch.partsAt = Date.now()
      }
      watch.serverPeakMb = Math.max(watch.serverPeakMb, serverMb)
      if (agent?.pid) watch.agentPeakMb = Math.max(watch.agentPeakMb, treeMemory(agent.pid).rssMb)
    }
    const pgPid = database === 'postgres' ? postmasterPid(PG_URL) : undefined
    const meters = () => ({
      server: new CpuMeter(() => [serverPid]),
      agent: new CpuMeter(() => (agent?.pid ? [agent.pid] : [])),
      postgres: pgPid ? new CpuMeter(() => [pgPid]) : undefined,
    })
    const cpuText = (r: PhaseResult) =>
      `CPU per run: server ${r.cpuPerRun.server.toFixed(1)} ms, agent ${r.cpuPerRun.agent.toFixed(1)} ms${r.cpuPerRun.postgres === undefined ? '' : `, PostgreSQL ${r.cpuPerRun.postgres.toFixed(1)} ms`}`
    const check = (what: string, r: PhaseResult) => {
      if (r.notSuccess.length > 0) failures.push(`${database} ${what}: ${r.notSuccess.length} runs did not succeed, e.g. ${r.notSuccess[0]}`)
    }

    // 1, 2. shared
    if (PARTS.has('shared')) {
      agent = await startAgent(server.url, ['--isolation', 'shared'])
      await phase(client, 'throughput-warm-up', 50, 50, meters(), sample) // loads the flow in the workers
      const shared = await phase(client, 'throughput-shared', SHARED_RATE * SECONDS, SHARED_RATE, meters(), sample)
      check('shared', shared)
      rows.push([
        `shared: runs created at ${SHARED_RATE}/s for ${SECONDS} s`,
        `${shared.steadyRate.toFixed(0)} runs/s finished while created (${shared.rate.toFixed(0)}/s overall, created at ${shared.createRate.toFixed(0)}/s); latency p50 ${shared.p50.toFixed(0)} ms, p99 ${shared.p99.toFixed(0)} ms; ${cpuText(shared)}`,
      ])
      await sleep(1000)
      const burst = await phase(client, 'throughput-burst', BURST, Infinity, meters(), sample)
      check('burst', burst)
      rows.push([`shared: ${BURST} runs created at once`, `all finished in ${(burst.spanMs / 1000).toFixed(2)} s; latency p50 ${burst.p50.toFixed(0)} ms, p99 ${burst.p99.toFixed(0)} ms; ${cpuText(burst)}`])
      rows.push(['  agent RSS peak (agent and its shared workers)', `${watch.agentPeakMb.toFixed(0)} MB`])
      await stop(agent)
    }

    // 3. process
    if (PARTS.has('process')) {
      watch.agentPeakMb = 0
      agent = await startAgent(server.url, ['--isolation', 'process', '--concurrency', '32', '--spares', '4'])
      await phase(client, 'throughput-warm-up', 5, 5, meters(), sample)
      const proc = await phase(client, 'throughput-process', PROCESS_RATE * SECONDS, PROCESS_RATE, meters(), sample)
      check('process', proc)
      rows.push([
        `process: runs created at ${PROCESS_RATE}/s for ${SECONDS} s (4 warm spares)`,
        `${proc.steadyRate.toFixed(1)} runs/s finished while created (${proc.rate.toFixed(1)}/s overall); latency p50 ${proc.p50.toFixed(0)} ms, p99 ${proc.p99.toFixed(0)} ms; ${cpuText(proc)}`,
      ])
      rows.push(['  agent RSS peak (agent and its run processes)', `${watch.agentPeakMb.toFixed(0)} MB`])
      await stop(agent)
      agent = undefined
    }
    rows.push(['server RSS peak, whole process tree, during all of the above', `${watch.serverPeakMb.toFixed(0)} MB`])
    const parts = Object.entries(watch.serverPeakParts).sort((a, b) => b[1] - a[1])
    rows.push(['  where the server process was resident near its peak (MB)', parts.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')])
  } finally {
    await stop(agent)
    await stop(server?.proc)
    await dropDb?.()
    fs.rmSync(home, { recursive: true, force: true })
  }
  return { rows, failures }
}

async function main(): Promise<void> {
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ')
  const loadBefore = load()
  const results: { database: string; rows: [string, string][] }[] = []
  const failures: string[] = []
  for (const database of DATABASES) {
    const r = await bench(database)
    results.push({ database, rows: r.rows })
    failures.push(...r.failures)
  }
  console.log(`\nRota throughput benchmark (${os.availableParallelism()} cores, node ${process.version}; load average ${loadBefore} before, ${load()} after)\n`)
  for (const { database, rows } of results) {
    console.log(database === 'postgres' ? 'PostgreSQL' : 'PGlite (embedded)')
    const w = Math.max(...rows.map((r) => r[0].length))
    for (const [a, b] of rows) console.log(`  ${a.padEnd(w)}  ${b}`)
  }
  console.log('\ntargets (2 cores, PostgreSQL): shared >= 100 runs/s sustained, process >= 10 runs/s, 200 runs at once all finished < 3 s; server peak < 200 MB (PGlite)')
  if (failures.length > 0) {
    console.log(`\n${failures.join('\n')}`)
    process.exitCode = 1
  }
}

await main()
