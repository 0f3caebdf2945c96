/**
 * `npm run bench:year`: a year of one every-minute flow, compressed. Writes 525,600 runs (six task
 * runs, four state-history lines and 20 log lines each, an artifact every tenth run) straight into
 * PostgreSQL with generate_series, a week per statement; then measures the database's size, the
 * runs list, a run's page and the dashboard's queries at that size (timed at the server, loopback
 * HTTP included); prunes to 30 days with the server's own retention sweep (timing each batch, and the
 * API answering meanwhile); and measures again.
 *
 *   ROTA_BENCH_PG_URL   the PostgreSQL server (default: the test server, 127.0.0.1:54329)
 *   --scale <f>         a fraction of the year (0.1: 52,560 runs); default 1
 *   --keep              keep the database afterwards (default: dropped)
 *   --compare-deletes   only time deleting children by cascade against explicit deletes, on PGlite and PostgreSQL
 *
 * Restartable: the weeks written are recorded, so a run stopped while writing goes on where it was.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { openDb, type Db } from '../src/server/db/index.ts'
import { startServer } from '../src/server/index.ts'
import { resolveConfig } from '../src/config.ts'
import { RetentionSweeper } from '../src/server/retention.ts'
import { pruneFlowRuns } from '../src/server/store/retention.ts'

const PG_URL = process.env.ROTA_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:54329/postgres'
const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const SCALE = Number(option('--scale') ?? process.env.ROTA_BENCH_YEAR_SCALE ?? 1)
if (!(SCALE > 0 && SCALE <= 1)) throw new Error('--scale takes a fraction in (0, 1]')
const MINUTES = Math.round(525_600 * SCALE)
const WEEK = 7 * 24 * 60
const DB_NAME = `rota_bench_year_${String(SCALE).replace('.', '_')}`
const TASKS = ['capture', 'buffer', 'write-csv', 'upload', 'warehouse', 'dbt-build']

const pct = (values: number[], p: number) => {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

function urlFor(db: string): string {
  const u = new URL(PG_URL)
  u.pathname = `/${db}`
  return u.toString()
}

/** One statement: `count` runs from minute `first` (0 = a year ago) with all their children. */
async function writeMinutes(q: { query: (sql: string, values?: unknown[]) => Promise<unknown> }, flowId: string, t0: Date, first: number, count: number): Promise<void> {
  await q.query(
    `with runs as (
       insert into rota_flow_runs (flow_id, name, state, state_message, scheduled_start_time, auto_scheduled, flow_version, start_time, end_time, heartbeat_at, created_at, updated_at)
       select $1, 'run-' || g, s.state, case when s.state = 'failed' then 'task "upload" failed after 3 attempts: 503 from the lake' end,
              t, true, 'v1', t + interval '40 ms', t + interval '41 s', t + interval '41 s', t - interval '5 min', t + interval '41 s'
       from generate_series($3::int, $4::int) g,
            lateral (select $2::timestamptz + make_interval(mins => g) as t) tt,
            lateral (select case when g % 100 = 7 then 'failed' when g % 100 = 42 then 'skipped' else 'success' end as state) s
       returning id, scheduled_start_time as t, state, (regexp_replace(name, '^run-', ''))::int as g
     ), tasks as (
       insert into rota_task_runs (id, flow_run_id, task_key, task_name, position, state, message, attempts, start_time, end_time, updated_at)
       select gen_random_uuid(), r.id, k.name, k.name, k.pos, case when r.state = 'failed' and k.name = 'upload' then 'failed' when r.state = 'failed' and k.pos > 3 then 'skipped' else 'success' end,
              null, 1, r.t + make_interval(secs => k.pos * 6), r.t + make_interval(secs => k.pos * 6 + 5), r.t + interval '41 s'
       from runs r cross join unnest($5::text[]) with ordinality as k(name, pos)
       returning 1
     ), history as (
       insert into rota_flow_run_states (flow_run_id, from_state, to_state, message, time)
       select r.id, h.from_state, coalesce(h.to_state, r.state), h.message, r.t + h.after
       from runs r cross join (values (null, 'scheduled', 'scheduled by the scheduler', interval '-5 min'), ('scheduled', 'pending', 'claimed by agent', interval '-2 s'),
                                      ('pending', 'running', 'by child', interval '40 ms'), ('running', null, 'by child', interval '41 s')) as h(from_state, to_state, message, after)
       returning 1
     ), artifacts as (
       insert into rota_artifacts (flow_run_id, task_name, key, kind, data, description, created_at)
       select r.id, 'write-csv', 'csv', 'link', jsonb_build_object('url', 'file:///lake/brt/' || to_char(r.t, 'YYYY/MM/DD/HH24MI') || '.csv'), '360 rows from 10 captures', r.t + interval '20 s'
       from runs r where r.g % 10 = 0
       returning 1
     )
     insert into rota_logs (flow_run_id, task_name, source, seq, time, level, message)
     select r.id, ($5::text[])[1 + (i % 6)], 'run', i, r.t + make_interval(secs => i * 2), case when i = 19 and r.state = 'failed' then 'error' else 'info' end,
            'captured ' || (300 + i) || ' vehicles from the BRT API in ' || (100 + i * 7) || ' ms; buffer holds ' || (i % 10) || '/10 captures'
     from runs r cross join generate_series(1, 20) i`,
    [flowId, t0, first, first + count - 1, TASKS],
  )
}

async function measure(url: string, runId: string): Promise<[string, string][]> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-year-'))
  const config = resolveConfig({ ROTA_RETENTION: 'off' }, { home, databaseUrl: url, port: 0, apiKey: undefined })
  const server = await startServer(config, { log: () => undefined, retentionEveryMs: 3_600_000 })
  const out: [string, string][] = []
  try {
    const time = async (label: string, p: string) => {
      const times: number[] = []
      for (let i = 0; i < 23; i++) {
        const t = performance.now()
        const res = await fetch(`${server.url}${p}`)
        await res.arrayBuffer()
        if (!res.ok) throw new Error(`${p}: ${res.status}`)
        if (i >= 3) times.push(performance.now() - t)
      }
      out.push([label, `${pct(times, 50).toFixed(1)} ms (p90 ${pct(times, 90).toFixed(1)})`])
    }
    const mid = new Date(Date.now() - 15 * 86_400_000).toISOString()
    await time('runs list, first page (50)', '/api/flow-runs?limit=50')
    await time('runs list, one flow, failed only', '/api/flow-runs?limit=50&flow=brt-gps&state=failed')
    await time('runs list, a page two weeks back', `/api/flow-runs?limit=50&before=${mid}`)
    await time('run page: the run', `/api/flow-runs/${runId}`)
    await time('run page: its task runs', `/api/flow-runs/${runId}/task-runs`)
    await time('run page: its logs', `/api/flow-runs/${runId}/logs`)
    await time('run page: its state history', `/api/flow-runs/${runId}/states`)
    await time('run page: its artifacts', `/api/flow-runs/${runId}/artifacts`)
    await time('dashboard: runs per hour, 24 h', '/api/flow-runs/stats?hours=24')
    await time('dashboard: upcoming runs', '/api/flow-runs?state=scheduled&late=false&order=asc&limit=8')
    await time('dashboard: late runs', '/api/flow-runs?state=scheduled&late=true&limit=8')
    await time('dashboard: running now', '/api/flow-runs?state=pending,running,retrying,cancelling&limit=10')
    await time('dashboard: recent failures', '/api/flow-runs?state=failed,crashed&limit=8')
    await time('flows list (with last run)', '/api/flows')
    await time('health (database size, oldest run)', '/api/health')
  } finally {
    await server.close()
    fs.rmSync(home, { recursive: true, force: true })
  }
  return out
}

async function sizes(c: pg.Client): Promise<{ database: number; tables: string }> {
  const db = Number((await c.query(`select pg_database_size(current_database()) as n`)).rows[0].n)
  const rows = (
    await c.query(
      `select relname, pg_total_relation_size(oid) as n from pg_class where relname in ('rota_flow_runs', 'rota_task_runs', 'rota_logs', 'rota_flow_run_states', 'rota_artifacts') order by 2 desc`,
    )
  ).rows as { relname: string; n: string }[]
  return { database: db, tables: rows.map((r) => `${r.relname.replace('rota_', '')} ${mb(Number(r.n))}`).join(', ') }
}

/** Cascade (one DELETE of runs; each child table is cleared by its foreign key, per run) against explicit set-based deletes of the children first. */
async function compareDeletes(): Promise<void> {
  const N = 20_000
  const results: string[] = []
  for (const kind of ['postgres', 'pglite'] as const) {
    for (const mode of ['cascade', 'explicit'] as const) {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-del-'))
      const name = `rota_bench_del_${mode}`
      let url: string | undefined
      if (kind === 'postgres') {
        const admin = new pg.Client({ connectionString: PG_URL })
        await admin.connect()
        await admin.query(`drop database if exists ${name} with (force)`)
        await admin.query(`create database ${name}`)
        await admin.end()
        url = urlFor(name)
      }
      const db = await openDb({ databaseUrl: url, home })
      try {
        const flowId = await insertFlow(db)
        const t0 = new Date(Date.now() - 400 * 86_400_000)
        for (let first = 0; first < N; first += 5000) await writeMinutes(db, flowId, t0, first, 5000)
        await db.query('analyze')
        const batches: number[] = []
        const started = performance.now()
        let cursor: { time: Date; id: string } | undefined
        for (;;) {
          const t = performance.now()
          const r: { deleted: number; last: { time: Date; id: string } | undefined } = mode === 'cascade' ? await pruneFlowRuns(db, flowId, { maxAgeSeconds: 86_400, keepLast: 0 }, 500, cursor) : await explicitBatch(db, flowId)
          batches.push(performance.now() - t)
          if (r.deleted < 500) break
          cursor = r.last
        }
        const total = performance.now() - started
        results.push(`${kind.padEnd(8)} ${mode.padEnd(8)} ${N} runs in ${(total / 1000).toFixed(1)} s; a batch of 500: p50 ${pct(batches, 50).toFixed(0)} ms, p99 ${pct(batches, 99).toFixed(0)} ms`)
        log(results.at(-1) as string)
      } finally {
        await db.close()
        fs.rmSync(home, { recursive: true, force: true })
        if (url) {
          const admin = new pg.Client({ connectionString: PG_URL })
          await admin.connect()
          await admin.query(`drop database if exists ${name} with (force)`)
          await admin.end()
        }
      }
    }
  }
  console.log(`\nDeleting finished runs and their children (${os.cpus().length} cores):\n${results.join('\n')}\n`)
}

/** The explicit alternative, for the comparison only: children first, set-based, in one statement. */
async function explicitBatch(db: Db, flowId: string): Promise<{ deleted: number; last: undefined }> {
  const rows = await db.query(
    `with doomed as (select id from rota_flow_runs where flow_id = $1 and state in ('success','failed','skipped','cancelled','crashed')
                     order by scheduled_start_time, id limit 500 for update skip locked),
          l as (delete from rota_logs where flow_run_id in (select id from doomed)),
          t as (delete from rota_task_runs where flow_run_id in (select id from doomed)),
          s as (delete from rota_flow_run_states where flow_run_id in (select id from doomed)),
          a as (delete from rota_artifacts where flow_run_id in (select id from doomed))
     delete from rota_flow_runs where id in (select id from doomed) returning id`,
    [flowId],
  )
  return { deleted: rows.length, last: undefined }
}

async function insertFlow(q: { query: <T>(sql: string, values?: unknown[]) => Promise<T[]> }): Promise<string> {
  const rows = await q.query<{ id: string }>(
    `insert into rota_flows (name, version, entrypoint, schedule, tasks, catch_up) values ('brt-gps', 'v1', 'pipelines/brt/flow.ts:brtGps', '{"intervalSeconds": 60}', $1::jsonb, 'latest')
     on conflict (name) do update set version = excluded.version returning id`,
    [JSON.stringify(TASKS)],
  )
  return (rows[0] as { id: string }).id
}

/** A fraction of the year keeps the same fraction of 30 days. */
const KEEP_SECONDS = Math.round(30 * 86_400 * SCALE)

async function main(): Promise<void> {
  if (flag('--compare-deletes')) return compareDeletes()
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  if (!(await admin.query(`select 1 from pg_database where datname = $1`, [DB_NAME])).rowCount) await admin.query(`create database ${DB_NAME}`)
  const url = urlFor(DB_NAME)
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-year-'))
  const db = await openDb({ databaseUrl: url, home }) // migrates
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const results: [string, string][] = []
  try {
    await c.query(`create table if not exists bench_year (key text primary key, value text not null)`)
    const state = async (key: string) => ((await c.query(`select value from bench_year where key = $1`, [key])).rows[0] as { value: string } | undefined)?.value
    const set = (key: string, value: string) => c.query(`insert into bench_year values ($1, $2) on conflict (key) do update set value = excluded.value`, [key, value])
    if (await state('pruned')) throw new Error(`${DB_NAME} was pruned by an earlier run: drop it (drop database ${DB_NAME}) to write the year again`)
    const flowId = await insertFlow(db)
    let t0s = await state('t0')
    if (!t0s) {
      // the year ends now: its last run is a minute ago
      t0s = new Date(Math.floor(Date.now() / 60_000) * 60_000 - (MINUTES + 1) * 60_000).toISOString()
      await set('t0', t0s)
    }
    const t0 = new Date(t0s)
    const startedWriting = Date.now()
    for (let first = 0; first < MINUTES; first += WEEK) {
      if (await state(`week ${first / WEEK}`)) continue
      const t = Date.now()
      await db.transaction(async (tx) => {
        await writeMinutes(tx, flowId, t0, first, Math.min(WEEK, MINUTES - first))
        await tx.query(`insert into bench_year values ($1, 'done')`, [`week ${first / WEEK}`])
      })
      log(`week ${first / WEEK + 1}/${Math.ceil(MINUTES / WEEK)} written (${((Date.now() - t) / 1000).toFixed(1)} s)`)
    }
    log(`writing took ${((Date.now() - startedWriting) / 1000).toFixed(0)} s (0 when it was already written)`)
    await c.query('vacuum analyze')
    const counts = (await c.query(`select (select count(*) from rota_flow_runs) runs, (select count(*) from rota_task_runs) tasks, (select count(*) from rota_logs) logs`)).rows[0] as Record<string, string>
    const before = await sizes(c)
    results.push(['runs / task runs / log lines written', `${Number(counts.runs).toLocaleString()} / ${Number(counts.tasks).toLocaleString()} / ${Number(counts.logs).toLocaleString()}`])
    results.push(['database size, a year kept', `${mb(before.database)} (${before.tables})`])

    const midRun = ((await c.query(`select id from rota_flow_runs order by scheduled_start_time desc offset 10000 limit 1`)).rows[0] as { id: string }).id
    log('measuring at a year')
    for (const [k, v] of await measure(url, midRun)) results.push([`a year: ${k}`, v])

    // Prune to 30 days with the server's own sweep, while the API is asked for the runs list every 100 ms.
    log(`pruning to ${KEEP_SECONDS / 86_400} days`)
    const home2 = fs.mkdtempSync(path.join(os.tmpdir(), 'rota-bench-year-'))
    const server = await startServer(resolveConfig({ ROTA_RETENTION: 'off' }, { home: home2, databaseUrl: url, port: 0, apiKey: undefined }), { log: () => undefined, retentionEveryMs: 3_600_000 })
    const apiTimes: number[] = []
    let pruning = true
    const prober = (async () => {
      while (pruning) {
        const t = performance.now()
        await (await fetch(`${server.url}/api/flow-runs?limit=50`)).arrayBuffer()
        apiTimes.push(performance.now() - t)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    const batchTimes: number[] = []
    let last = performance.now()
    let deleted = 0
    const sweeper = new RetentionSweeper(db, { maxAgeSeconds: KEEP_SECONDS, keepLast: 100 }, { budgetMs: 10 * 60_000 }, (_flow, n) => {
      batchTimes.push(performance.now() - last)
      last = performance.now()
      deleted += n
      if (batchTimes.length % 100 === 0) log(`${deleted.toLocaleString()} runs deleted`)
    })
    const pruneStart = performance.now()
    for (;;) {
      last = performance.now()
      const r = await sweeper.sweep()
      if (r.complete) break
    }
    const pruneMs = performance.now() - pruneStart
    pruning = false
    await prober
    await server.close()
    fs.rmSync(home2, { recursive: true, force: true })
    await set('pruned', new Date().toISOString())
    results.push([`prune to ${KEEP_SECONDS / 86_400} days (the retention sweep, batches of 500)`, `${deleted.toLocaleString()} runs in ${(pruneMs / 1000).toFixed(0)} s (${Math.round(deleted / (pruneMs / 1000)).toLocaleString()} runs/s); a batch: p50 ${pct(batchTimes, 50).toFixed(0)} ms, p99 ${pct(batchTimes, 99).toFixed(0)} ms`])
    results.push(['runs list while pruning (every 100 ms)', `p50 ${pct(apiTimes, 50).toFixed(1)} ms, p99 ${pct(apiTimes, 99).toFixed(1)} ms, max ${Math.max(...apiTimes).toFixed(0)} ms (${apiTimes.length} requests)`])
    const after = await sizes(c)
    results.push(['database size right after pruning', `${mb(after.database)} (space is free for reuse, not given back)`])
    await c.query('vacuum analyze')
    const vacuumed = await sizes(c)
    results.push(['after VACUUM (what autovacuum does)', `${mb(vacuumed.database)} (${vacuumed.tables})`])
    const tf = performance.now()
    await c.query('vacuum full')
    await c.query('analyze')
    const full = await sizes(c)
    results.push([`after VACUUM FULL (${((performance.now() - tf) / 1000).toFixed(0)} s; locks the tables: by hand, if ever)`, `${mb(full.database)} (${full.tables})`])
    const kept = (await c.query(`select count(*) n from rota_flow_runs`)).rows[0] as { n: string }
    results.push(['runs kept', Number(kept.n).toLocaleString()])
    const recentRun = ((await c.query(`select id from rota_flow_runs order by scheduled_start_time desc offset 10000 limit 1`)).rows[0] as { id: string }).id
    log('measuring after pruning')
    for (const [k, v] of await measure(url, recentRun)) results.push([`${KEEP_SECONDS / 86_400} days: ${k}`, v])
  } finally {
    await c.end()
    await db.close()
    fs.rmSync(home, { recursive: true, force: true })
    if (!flag('--keep')) await admin.query(`drop database if exists ${DB_NAME} with (force)`)
    await admin.end()
  }
  const w = Math.max(...results.map((r) => r[0].length))
  console.log(`\nA year of an every-minute flow, compressed (${MINUTES.toLocaleString()} runs; PostgreSQL; ${os.cpus().length} cores; node ${process.version})\n`)
  for (const [a, b] of results) console.log(`${a.padEnd(w)}  ${b}`)
}

await main()
