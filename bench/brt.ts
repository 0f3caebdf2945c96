/**
 * BRT pipeline benchmark (`npm run bench:brt`): real parts, temporary ROTA_HOMEs, a seeded fleet.
 *   1. capture + buffer of one 800-vehicle answer, API latency excluded (target < 300 ms)
 *   2. a window close: CSV of 10 captures, lake, bronze, dbt build incl. start-up (target < 20 s)
 *   3. a backfill of one day (144 windows of 10 captures x 800 vehicles) through silver and gold (target < 60 s)
 *   4. a backfill of 30 days (4,320 windows), in builds of at most `max_files_per_build` files
 *   5. after each backfill, one new window and one incremental build: the files and bytes it reads
 *      from bronze must be the same at 1 and at 30 days of lake (one file), and its time nearly so.
 * BRT_BENCH_VEHICLES (default 800) sets the fleet of the backfills (the 30-day one writes about
 * 1.3 MB of CSV per window at 800: 6 GB, and takes about half an hour on 2 cores); BRT_BENCH_DAYS
 * (default "1,30") which backfills to run ("" for none).
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { storeCapture } from '../pipelines/brt/capture.ts'
import { ensureDbtVenv } from '../pipelines/brt/dbt.ts'
import * as steps from '../pipelines/brt/pipeline.ts'
import { resolveBrtSettings } from '../pipelines/brt/settings.ts'
import { SimulatedFleet } from '../pipelines/brt/simulator.ts'
import { lastBatchBronzeRead, queryWarehouse } from '../pipelines/brt/warehouse/duckdb.ts'
import { writeSyntheticLake, writeSyntheticWindow } from '../test/brt/helpers/synthetic-lake.ts'

const VEHICLES = 800
const BACKFILL_VEHICLES = Number(process.env.BRT_BENCH_VEHICLES ?? VEHICLES)
const BACKFILL_DAYS = (process.env.BRT_BENCH_DAYS ?? '1,30').split(',').filter((d) => d.trim() !== '').map(Number)
const rows: Array<[string, string, string, string]> = []
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(2)} MiB`

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const r = await fn()
  return [r, performance.now() - t]
}

async function context(home: string): Promise<steps.BrtContext> {
  return steps.openBrtContext(resolveBrtSettings({}, { home, brtApiUrl: 'http://127.0.0.1:9/unused' }))
}

/** A backfill of `days` days, then one new window and one incremental build; rows of the table. */
async function backfill(days: number, target: string | undefined): Promise<void> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), `rota-bench-brt-${days}d-`))
  try {
    const ctx = await context(home)
    const fleet = new SimulatedFleet({ vehicles: BACKFILL_VEHICLES, seed: 7, absentRate: 0 })
    const start = Date.now() - days * 86_400_000 - 3_600_000
    const [windows, genMs] = await time(() => writeSyntheticLake(ctx.lake, { start, days, filesPerDay: 144, capturesPerFile: 10, vehicles: BACKFILL_VEHICLES }, fleet))
    const label = `${days} day${days > 1 ? 's' : ''}`
    rows.push([`backfill ${label}: write ${windows.length} CSVs (${BACKFILL_VEHICLES} vehicles)`, seconds(genMs), '-', ''])
    let builds = 0
    const [, buildMs] = await time(async () => {
      for (;;) {
        const loaded = await steps.loadStep(ctx)
        if (loaded.pendingFiles === 0 && builds > 0) break
        await steps.dbtStep(ctx)
        builds++
      }
    })
    const [counts] = await queryWarehouse(home, `select (select count(*) from silver.brt_gps)::bigint as silver, (select count(*) from gold.brt_line_speed_10min)::bigint as windows,
      (select sum(signals) from silver.brt_gps_files_processed)::bigint as signals`)
    rows.push([
      `backfill ${label}: ${windows.length} files -> silver ${Number(counts!.silver).toLocaleString('en')} rows, ${Number(counts!.windows).toLocaleString('en')} line windows (${builds} build${builds > 1 ? 's' : ''})`,
      seconds(buildMs),
      target ?? '-',
      target === undefined ? '' : buildMs < Number.parseFloat(target.replace(/[^0-9.]/g, '')) * 1000 ? 'ok' : 'MISSED',
    ])
    // One new window, one incremental build: what it reads from bronze.
    await writeSyntheticWindow(ctx.lake, fleet, windows.at(-1)!.lastCapturedAt + 60_000, 10)
    const [, incMs] = await time(async () => {
      await steps.loadStep(ctx)
      await steps.dbtStep(ctx)
    })
    const read = await lastBatchBronzeRead(home)
    rows.push([`incremental build at ${label} of lake: bronze read`, `${read.filesRead} file, ${mib(read.bytesRead)}`, '1 file', read.filesRead === 1 && read.filesNamed === 1 ? 'ok' : 'MISSED'])
    rows.push([`incremental build at ${label} of lake: load + dbt build + export`, seconds(incMs), '< 20 s', incMs < 20_000 ? 'ok' : 'MISSED'])
  } finally {
    await fs.rm(home, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  await ensureDbtVenv({ onLine: (l) => console.log(l) }) // outside the timings: once per machine
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-bench-brt-'))
  try {
    const ctx = await context(home)
    const settings = { capturesPerFile: 10, maxBufferMinutes: 15 }
    const fleet = new SimulatedFleet({ vehicles: VEHICLES, seed: 42, absentRate: 0 })
    const start = Date.now() - 30 * 60_000

    // 1. capture + buffer (the body as the API would send it; no network)
    const samples: number[] = []
    for (let i = 0; i < 10; i++) {
      const at = start + i * 60_000
      const payload = fleet.next(at)
      const [, ms] = await time(async () => {
        const body = Buffer.from(JSON.stringify(payload))
        const c = await storeCapture(ctx.lake, { capturedAt: new Date(at + 500), body, payload })
        await steps.bufferStep(ctx, c, settings)
      })
      samples.push(ms)
    }
    samples.sort((a, b) => a - b)
    rows.push(['capture + buffer, 800 vehicles (median of 10)', `${samples[5]!.toFixed(0)} ms (max ${samples[9]!.toFixed(0)} ms)`, '< 300 ms', samples[5]! < 300 ? 'ok' : 'MISSED'])

    // 2. window close: write-csv + upload + load (stages the external tables the first time) + dbt build
    const close = async (): Promise<number> => {
      const [, ms] = await time(async () => {
        await steps.writeCsvStep(ctx, settings)
        await steps.uploadStep(ctx)
        await steps.loadStep(ctx)
        await steps.dbtStep(ctx)
      })
      return ms
    }
    const first = await close()
    rows.push(['window close (CSV, lake, stage external tables, dbt build), first', seconds(first), '< 20 s', first < 20_000 ? 'ok' : 'MISSED'])
    for (let i = 10; i < 20; i++) {
      const at = start + i * 60_000
      const payload = fleet.next(at)
      await steps.bufferStep(ctx, await storeCapture(ctx.lake, { capturedAt: new Date(at + 500), body: Buffer.from(JSON.stringify(payload)), payload }), settings)
    }
    const second = await close()
    rows.push(['window close, incremental', seconds(second), '< 20 s', second < 20_000 ? 'ok' : 'MISSED'])
  } finally {
    await fs.rm(home, { recursive: true, force: true })
  }

  // 3-5. backfills, and what one incremental build reads after each
  for (const days of BACKFILL_DAYS) await backfill(days, days === 1 && BACKFILL_VEHICLES === VEHICLES ? '< 60 s' : undefined)

  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length)), 8, 6]
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`
  console.log(`\nBRT benchmark (${os.cpus().length} cores, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`)
  console.log(line(['step', 'measured', 'target', '']))
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
}

await main()
