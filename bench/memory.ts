/**
 * `npm run bench:memory`: the memory of `rota server start` as a user starts it, with the default
 * embedded PGlite in a fresh ROTA_HOME: the whole process tree after an idle minute, then its peak
 * under the throughput workload of `npm run bench` (4 agents, 8 runs x 500 tasks) and a burst of
 * runs. The agents run in this process, so the server's tree holds only the server.
 *
 * ROTA_BENCH_IDLE_SECONDS (default 60), ROTA_BENCH_DATABASE_URL (measure on PostgreSQL instead),
 * ROTA_BENCH_SKIP_LOAD=1 (idle only). Then the same server restarted on that database, idle again.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { RotaClient } from '../src/client/index.ts'
import { Agent } from '../src/agent/agent.ts'
import { LocalLauncher } from '../src/agent/local.ts'
import { registerFile } from '../src/cli/register.ts'
import { rssBreakdown, treeMemory, type TreeMemory, rotaNodeFlags } from './proc.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const IDLE_SECONDS = Number(process.env.ROTA_BENCH_IDLE_SECONDS ?? 60)
const DATABASE_URL = process.env.ROTA_BENCH_DATABASE_URL ?? ''
const IDLE_TARGET_MB = 150
const PEAK_TARGET_MB = 200

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Samples the tree's memory in the background and keeps the peak. */
function sampler(pid: number, everyMs: number) {
  let peak: TreeMemory = { rssMb: 0, pssMb: 0, processes: 0 }
  let parts: Record<string, number> = {}
  let partsAt = 0
  const timer = setInterval(() => {
    const m = treeMemory(pid)
    if (m.rssMb > peak.rssMb) {
      peak = m
      // where it is at the peak (reading smaps takes a few ms: at most once a second)
      if (Date.now() - partsAt > 1000) {
        parts = rssBreakdown(pid)
        partsAt = Date.now()
      }
    }
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      return { peak, parts }
    },
  }
}

const describeParts = (parts: Record<string, number>) =>
  Object.entries(parts)
    .filter(([, v]) => v >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ')

const fmt = (m: TreeMemory) => `${m.rssMb.toFixed(0)} MB RSS (PSS ${m.pssMb.toFixed(0)} MB, ${m.processes} process${m.processes === 1 ? '' : 'es'})`

interface Server {
  proc: ChildProcess
  pid: number
  url: string
  startMs: number
}

async function startServer(home: string): Promise<Server> {
  const t0 = performance.now()
  const proc = spawn(process.execPath, [...rotaNodeFlags(), path.join(ROOT, 'bin/rota.js'), 'server', 'start', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ROTA_HOME: home, DATABASE_URL, ROTA_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server did not start within 60 s')), 60_000)
    proc.stdout?.on('data', (d: Buffer) => {
      const m = /listening on (http:\/\/\S+)/.exec(d.toString())
      if (m) {
        clearTimeout(timer)
        resolve(m[1] as string)
      }
    })
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  return { proc, pid: proc.pid as number, url, startMs: performance.now() - t0 }
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return
  const exited = new Promise((r) => server.proc.once('exit', r))
  server.proc.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000).then(() => server.proc.kill('SIGKILL'))])
}

async function idle(server: Server): Promise<TreeMemory> {
  const until = Date.now() + IDLE_SECONDS * 1000 - server.startMs
  while (Date.now() < until) await sleep(1000)
  return treeMemory(server.pid)
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-mem-'))
  let server: Server | undefined = await startServer(home)
  const agents: Agent[] = []
  const rows: [string, string, string][] = []
  const failures: string[] = []
  try {
    const pid = server.pid
    const url = server.url
    rows.push(['cold start (spawn -> listening, new ROTA_HOME)', `${server.startMs.toFixed(0)} ms`, ''])
    const client = new RotaClient(url)

    // Idle: nothing but the server's own loops (scheduler every 1 s, reaper every 2 s).
    const fresh = await idle(server)
    rows.push([`idle, ${IDLE_SECONDS} s after start, new database`, fmt(fresh), `target < ${IDLE_TARGET_MB} MB`])
    if (fresh.rssMb >= IDLE_TARGET_MB) failures.push(`idle ${fresh.rssMb.toFixed(0)} MB >= ${IDLE_TARGET_MB} MB`)
    const idleParts = rssBreakdown(pid)

    if (process.env.ROTA_BENCH_SKIP_LOAD !== '1') {
      await registerFile(client, 'bench/flows.ts', ROOT)
      const watch = sampler(pid, 100)
      for (let i = 0; i < 4; i++) {
        const agent = new Agent({ client, launcher: new LocalLauncher({ projectRoot: ROOT }), name: `mem-${i}-${randomUUID().slice(0, 4)}`, concurrency: 2, prefetchMs: 5000, log: () => undefined })
        await agent.start()
        agents.push(agent)
      }
      // The throughput workload: 8,000 task-run transitions as fast as 4 agents report them.
      const runs = await Promise.all(Array.from({ length: 8 }, () => client.createRun('bench-noop-500', {})))
      // And a burst: 100 one-task runs created at once.
      runs.push(...(await Promise.all(Array.from({ length: 100 }, () => client.createRun('bench-noop-1', {})))))
      const t1 = Date.now()
      await until(
        async () => {
          let done = 0
          for (const flow of ['bench-noop-500', 'bench-noop-1']) {
            const bad = await client.listRuns({ flow, state: 'failed,crashed', limit: 1 })
            if (bad.items.length > 0) throw new Error(`a benchmark run of ${flow} ended ${bad.items[0]?.state}`)
            done += (await client.listRuns({ flow, state: 'success', limit: 200 })).items.length
          }
          return done === runs.length ? true : undefined
        },
        300_000,
        'the load to finish',
        500,
      )
      const loadSeconds = (Date.now() - t1) / 1000
      const { peak, parts: peakParts } = watch.stop()
      rows.push(['where the server process is resident near the peak (MB)', describeParts(peakParts), ''])
      rows.push([`peak under load (8 x 500-task runs + 100-run burst, 4 agents; ${loadSeconds.toFixed(0)} s)`, fmt(peak), `target < ${PEAK_TARGET_MB} MB`])
      if (peak.rssMb >= PEAK_TARGET_MB) failures.push(`peak ${peak.rssMb.toFixed(0)} MB >= ${PEAK_TARGET_MB} MB`)
      await Promise.all(agents.splice(0).map((a) => a.stop()))
      await sleep(10_000)
      rows.push(['10 s after the load', fmt(treeMemory(pid)), ''])
    }
    // A restart on the same ROTA_HOME: the everyday case (the database exists, with the runs above).
    await stopServer(server)
    server = await startServer(home)
    rows.push(['cold start, existing ROTA_HOME', `${server.startMs.toFixed(0)} ms`, ''])
    const restarted = await idle(server)
    rows.push([`idle, ${IDLE_SECONDS} s after a restart on that database`, fmt(restarted), `target < ${IDLE_TARGET_MB} MB`])
    if (restarted.rssMb >= IDLE_TARGET_MB) failures.push(`idle after restart ${restarted.rssMb.toFixed(0)} MB >= ${IDLE_TARGET_MB} MB`)
    rows.push(['where the idle new server process is resident (MB)', describeParts(idleParts), ''])
  } finally {
    await Promise.all(agents.map((a) => a.stop()))
    await stopServer(server)
    fs.rmSync(home, { recursive: true, force: true })
  }
  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => Math.min(r[1].length, 60)))]
  console.log(`\nRota server memory (${DATABASE_URL ? 'PostgreSQL' : 'embedded PGlite'}, ${os.cpus().length} cores, node ${process.version})\n`)
  for (const [a, b, c] of rows) console.log(`${a.padEnd(w[0] as number)}  ${b.padEnd(w[1] as number)}  ${c}`)
  if (failures.length > 0) {
    console.log(`\nover target: ${failures.join('; ')}`)
    process.exitCode = 1
  }
}

await main()
