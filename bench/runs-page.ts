/**
 * `npm run bench:runs-page`: the dashboard's runs page at 100,000 runs (issue 13). Every request the
 * page makes, timed through the real HTTP server: the first page, a deep page (keyset cursor), the
 * filters (several states and flows, a name search, a day's range), the upcoming tab, the duration
 * chart's 500 runs, the home page's 24 h stats, and bulk cancel / retry of 50 selected runs.
 *
 * ROTA_BENCH_DB=pglite (default) or postgres (ROTA_BENCH_PG_URL, default the shared test server on
 * 127.0.0.1:54329: a fresh database is made and dropped). ROTA_BENCH_RUNS changes the row count.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { resolveConfig } from '../src/config.ts'
import { startServer } from '../src/server/index.ts'
import { RotaClient } from '../src/client/index.ts'
import { registerFile } from '../src/cli/register.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const DB = process.env.ROTA_BENCH_DB === 'postgres' ? 'postgres' : 'pglite'
const PG_URL = process.env.ROTA_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'
const RUNS = Number(process.env.ROTA_BENCH_RUNS ?? 100_000)
const REPEAT = 15

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-runs-'))
  let databaseUrl: string | undefined
  let dbName: string | undefined
  if (DB === 'postgres') {
    dbName = `rota_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`
    const admin = new pg.Client({ connectionString: PG_URL })
    await admin.connect()
    await admin.query(`create database ${dbName}`)
    await admin.end()
    const url = new URL(PG_URL)
    url.pathname = `/${dbName}`
    databaseUrl = url.toString()
  }
  const config = resolveConfig({}, { home, databaseUrl, port: 0, apiKey: undefined })
  const server = await startServer(config, { log: process.env.ROTA_BENCH_DEBUG ? (l) => console.error(l) : () => undefined })
  const client = new RotaClient(server.url)
  const results: [string, string][] = []
  try {
    await registerFile(client, 'bench/flows.ts', ROOT)
    // 100,000 runs over three flows, one every 30 s back in time (about 35 days), in every final
    // state, plus 1% upcoming (bulk cancel acts on those).
    const t0 = performance.now()
    await server.db.query(
      `insert into rota_flow_runs (flow_id, name, state, scheduled_start_time, flow_version, start_time, end_time)
       select f.id, 'bulk-' || lpad(g::text, 6, '0') || '-' || (array['otter','heron','tapir','sloth'])[1 + g % 4],
              (array['success','failed','success','crashed','success','cancelled','skipped'])[1 + g % 7],
              now() - make_interval(secs => g * 30), f.version,
              now() - make_interval(secs => g * 30), now() - make_interval(secs => g * 30 - (g % 600))
       from generate_series(1, $1::int) g
       join rota_flows f on f.name = (array['bench-noop-1','bench-noop-40','bench-noop-500'])[1 + g % 3]`,
      [RUNS],
    )
    await server.db.query(
      `insert into rota_flow_runs (flow_id, name, state, scheduled_start_time, flow_version)
       select f.id, 'upcoming-' || g, 'scheduled', now() + make_interval(secs => g * 60), f.version
       from generate_series(1, $1::int) g join rota_flows f on f.name = 'bench-noop-1'`,
      [Math.round(RUNS / 100)],
    )
    await server.db.query('analyze')
    results.push([`insert ${RUNS.toLocaleString('en')} runs + analyze`, `${((performance.now() - t0) / 1000).toFixed(1)} s`])

    // PGlite runs in this process: the insert blocked the event loop for seconds, so the HTTP
    // client's kept-alive socket may be one the server has just closed. One warm-up request.
    await fetch(`${server.url}/api/health`).catch(() => undefined)

    const time = async (label: string, p: string) => {
      const times: number[] = []
      let body: { items: unknown[]; nextCursor?: string | null } = { items: [] }
      for (let i = 0; i < REPEAT; i++) {
        const t = performance.now()
        const res = await fetch(`${server.url}${p}`)
        if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${await res.text()}`)
        body = (await res.json()) as typeof body
        times.push(performance.now() - t)
      }
      results.push([label, `${median(times).toFixed(1)} ms (${Array.isArray(body.items) ? body.items.length : '-'} rows)`])
      if (process.env.ROTA_BENCH_DEBUG) console.error(results.at(-1)?.join(': '))
      return body
    }

    const first = await time('first page (25, newest first)', '/api/flow-runs?when=past&limit=25')
    let cursor = first.nextCursor ?? null
    for (let i = 0; i < 200 && cursor; i++) cursor = ((await (await fetch(`${server.url}/api/flow-runs?when=past&limit=25&cursor=${cursor}`)).json()) as { nextCursor: string | null }).nextCursor
    await time('page 201 (keyset cursor)', `/api/flow-runs?when=past&limit=25&cursor=${cursor}`)
    await time('states failed,crashed + flows noop-1,noop-40', '/api/flow-runs?when=past&limit=25&state=failed,crashed&flow=bench-noop-1,bench-noop-40')
    await time('name search q=tapir (substring)', '/api/flow-runs?when=past&limit=25&q=tapir')
    await time('name search, one run (q=bulk-054321)', '/api/flow-runs?when=past&limit=25&q=bulk-054321')
    const dayEnd = new Date(Date.now() - 10 * 86_400_000)
    const dayStart = new Date(dayEnd.getTime() - 86_400_000)
    await time('one day, 10 days ago (after/before)', `/api/flow-runs?when=past&limit=25&after=${dayStart.toISOString()}&before=${dayEnd.toISOString()}`)
    await time('one day + failed + one flow + search', `/api/flow-runs?when=past&limit=25&state=failed&flow=bench-noop-1&q=otter&after=${dayStart.toISOString()}&before=${dayEnd.toISOString()}`)
    await time('upcoming tab (soonest first)', '/api/flow-runs?when=upcoming&order=asc&limit=25')
    await time('duration chart: newest 500 that match', '/api/flow-runs?when=past&limit=500')
    await time('duration chart: 500 failed', '/api/flow-runs?when=past&limit=500&state=failed')
    await time('home: 24 h stats', '/api/flow-runs/stats?hours=24')

    // Bulk actions on 50 selected runs (what the page sends).
    // Scheduled runs: a run that is running without an agent would be crashed by the reaper first.
    const upcoming = (await client.listRuns({ when: 'upcoming', limit: 50 })).items.map((r) => r.id)
    let t = performance.now()
    const cancelled = await client.bulk('cancel', upcoming)
    results.push([`bulk cancel of ${upcoming.length} upcoming runs`, `${(performance.now() - t).toFixed(0)} ms (${cancelled.items.filter((i) => i.ok).length} ok)`])
    const failed = (await client.listRuns({ state: 'failed', limit: 50 })).items.map((r) => r.id)
    t = performance.now()
    const retried = await client.bulk('retry', failed)
    results.push([`bulk retry of ${failed.length} failed runs`, `${(performance.now() - t).toFixed(0)} ms (${retried.items.filter((i) => i.ok).length} ok)`])
  } finally {
    await server.close()
    fs.rmSync(home, { recursive: true, force: true })
    if (dbName) {
      const admin = new pg.Client({ connectionString: PG_URL })
      await admin.connect()
      await admin.query(`drop database if exists ${dbName} with (force)`)
      await admin.end()
    }
  }
  const w = Math.max(...results.map((r) => r[0].length))
  console.log(`\nRota runs page at ${RUNS.toLocaleString('en')} runs (${DB}, ${os.cpus().length} cores, node ${process.version}; median of ${REPEAT} requests)\n`)
  for (const [a, b] of results) console.log(`${a.padEnd(w)}  ${b}`)
}

await main()
