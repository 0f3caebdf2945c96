/**
 * BRT pipeline benchmark (`npm run bench:brt`): real parts, a temporary ROTA_HOME, a seeded fleet.
 *   1. capture + buffer of one 800-vehicle answer, API latency excluded (target < 300 ms)
 *   2. a window close: CSV of 10 captures, lake, bronze, dbt build incl. start-up (target < 20 s)
 *   3. a backfill of one day (1,440 captures x 800 vehicles) through silver and gold (target < 60 s)
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { storeCapture } from '../pipelines/brt/capture.ts'
import { captureToCsvLines, csvHeader } from '../pipelines/brt/csv.ts'
import { ensureDbtVenv } from '../pipelines/brt/dbt.ts'
import * as steps from '../pipelines/brt/pipeline.ts'
import { resolveBrtSettings } from '../pipelines/brt/settings.ts'
import { SimulatedFleet } from '../pipelines/brt/simulator.ts'
import { queryWarehouse } from '../pipelines/brt/warehouse.ts'

const VEHICLES = 800
const rows: Array<[string, string, string, string]> = []
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now()
  const r = await fn()
  return [r, performance.now() - t]
}

async function main(): Promise<void> {
  await ensureDbtVenv({ onLine: (l) => console.log(l) }) // outside the timings: once per machine
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-bench-brt-'))
  try {
    const ctx = await steps.openBrtContext(resolveBrtSettings({}, { home }))
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

    // 2. window close: write-csv + upload + load + dbt build (first build, then an incremental one)
    const close = async (): Promise<number> => {
      const [, ms] = await time(async () => {
        await steps.writeCsvStep(ctx, settings)
        const files = await steps.uploadStep(ctx)
        await steps.loadStep(ctx, files)
        await steps.dbtStep(ctx)
      })
      return ms
    }
    const first = await close()
    rows.push(['window close (CSV, lake, bronze, dbt build), first', seconds(first), '< 20 s', first < 20_000 ? 'ok' : 'MISSED'])
    for (let i = 10; i < 20; i++) {
      const at = start + i * 60_000
      const payload = fleet.next(at)
      await steps.bufferStep(ctx, await storeCapture(ctx.lake, { capturedAt: new Date(at + 500), body: Buffer.from(JSON.stringify(payload)), payload }), settings)
    }
    const second = await close()
    rows.push(['window close, incremental', seconds(second), '< 20 s', second < 20_000 ? 'ok' : 'MISSED'])

    // 3. backfill: one day of captures written as 144 bronze CSVs in a fresh home, then one build
    const home2 = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-bench-brt-day-'))
    try {
      const ctx2 = await steps.openBrtContext(resolveBrtSettings({}, { home: home2 }))
      const dayFleet = new SimulatedFleet({ vehicles: VEHICLES, seed: 7, absentRate: 0 })
      const dayStart = Date.UTC(2024, 4, 1, 3, 0, 0)
      const [, genMs] = await time(async () => {
        for (let w = 0; w < 144; w++) {
          const parts = [csvHeader()]
          let firstId = ''
          for (let i = 0; i < 10; i++) {
            const at = dayStart + (w * 10 + i) * 60_000
            const capturedAt = new Date(at + 500).toISOString()
            const id = `${capturedAt.replace(/[-:.]/g, '')}-bench`
            firstId ||= id
            parts.push(captureToCsvLines(id, capturedAt, dayFleet.next(at).veiculos))
          }
          await ctx2.lake.put(`bronze/brt_gps/dt=2024-05-01/brt_gps_${firstId}.csv`, parts.join(''))
        }
      })
      rows.push(['backfill: generate 1,440 x 800 rows as 144 CSVs', seconds(genMs), '-', ''])
      const [built, buildMs] = await time(async () => {
        await steps.loadStep(ctx2, [])
        return steps.dbtStep(ctx2)
      })
      const slowest = [...built.dbt.results].sort((a, b) => b.executionTimeS - a.executionTimeS).slice(0, 4)
      console.log(`backfill dbt build ${built.dbt.elapsedS} s; slowest nodes: ${slowest.map((n) => `${n.name} ${n.executionTimeS} s`).join(', ')}`)
      const [counts] = await queryWarehouse(home2, `select (select count(*) from bronze.brt_gps)::int as bronze, (select count(*) from silver.brt_gps)::int as silver,
        (select count(*) from gold.brt_line_speed_10min)::int as windows`)
      rows.push([`backfill: bronze ${counts!.bronze} rows -> silver ${counts!.silver} -> gold (${counts!.windows} line windows)`, seconds(buildMs), '< 60 s', buildMs < 60_000 ? 'ok' : 'MISSED'])
    } finally {
      await fs.rm(home2, { recursive: true, force: true })
    }
  } finally {
    await fs.rm(home, { recursive: true, force: true })
  }
  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length)), 8, 6]
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`
  console.log(`\nBRT benchmark (${os.cpus().length} cores, Node ${process.version})`)
  console.log(line(['step', 'time', 'target', '']))
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`)
  for (const r of rows) console.log(line(r))
}

await main()
