/**
 * The `brt-gps` flow: capture -> buffer -> write-csv -> upload -> load -> dbt -> retention, every minute.
 * Task logic lives in pipeline.ts (plain functions, tested directly); this file wires it to Rota.
 */
import { artifact, defineFlow, log, runContext, skip, task } from 'rota'
import type { BufferSettings, ClosePoint } from './buffer.ts'
import { BRONZE_PREFIX } from './lake-keys.ts'
import type { AddResult } from './buffer.ts'
import {
  bufferStep,
  captureStep,
  dbtStep,
  loadStep,
  openBrtContext,
  retentionStep,
  uploadStep,
  writeCsvStep,
  type BrtContext,
  type LoadResult,
  type WriteCsvResult,
} from './pipeline.ts'
import { resolveBrtSettings } from './settings.ts'
import type { CaptureDescriptor } from './types.ts'
import type { DbtNodeResult } from './dbt.ts'

/** One row per dbt model and test, for the run page's table. */
function dbtRows(results: readonly DbtNodeResult[]): Record<string, unknown>[] {
  return results.map((r) => ({ node: r.name, type: r.resourceType, status: r.status, seconds: r.executionTimeS, failures: r.failures, message: r.message }))
}

/** `dbt build: 3 models, 24/24 tests passed in 6.1 s` */
function dbtSummary(command: string, results: readonly DbtNodeResult[], elapsedS: number): string {
  const tests = results.filter((r) => r.resourceType === 'test')
  const passed = tests.filter((r) => r.status === 'pass').length
  const models = results.length - tests.length
  return `${command}: ${models} model${models === 1 ? '' : 's'}, ${passed}/${tests.length} tests passed in ${elapsedS.toFixed(1)} s`
}

let context: Promise<BrtContext> | undefined
/** One context per flow-run process, configured from its environment (the edge). */
function brtContext(): Promise<BrtContext> {
  context ??= openBrtContext(resolveBrtSettings())
  return context
}

/**
 * Fault injection for crash tests: ROTA_BRT_CRASH_AT=csv-written kills this process (SIGKILL, no
 * clean-up) at that point of closing a window, as a power cut or an OOM kill would.
 */
function crashPoint(point: ClosePoint): void {
  if (process.env.ROTA_BRT_CRASH_AT === point) process.kill(process.pid, 'SIGKILL')
}

function bufferSettings(params: { capturesPerFile: number; maxBufferMinutes: number }): BufferSettings {
  const capturesPerFile = Number(params.capturesPerFile)
  const maxBufferMinutes = Number(params.maxBufferMinutes)
  if (!Number.isInteger(capturesPerFile) || capturesPerFile < 1) throw new Error(`capturesPerFile must be a positive integer, got ${String(params.capturesPerFile)}`)
  if (!Number.isFinite(maxBufferMinutes) || maxBufferMinutes <= 0) throw new Error(`maxBufferMinutes must be a positive number, got ${String(params.maxBufferMinutes)}`)
  return { capturesPerFile, maxBufferMinutes }
}

const capture = task(
  { name: 'capture', retries: 3, retryDelaySeconds: 1, retryBackoff: 'exponential', timeoutSeconds: 120 },
  async (): Promise<CaptureDescriptor> => {
    const ctx = await brtContext()
    const c = await captureStep(ctx, runContext().signal)
    log.info(`captured ${c.vehicles} vehicles (${Math.round(c.bytes / 1024)} KiB) from ${ctx.settings.brtApiUrl}; raw kept at ${ctx.lake.address(c.rawKey)}`)
    return c
  },
)

const buffer = task(
  { name: 'buffer', retries: 2, retryDelaySeconds: 1 },
  async (c: CaptureDescriptor, settings: BufferSettings): Promise<AddResult['status']> => {
    const ctx = await brtContext()
    const r = await bufferStep(ctx, c, settings)
    const s = r.status
    log.info(
      `buffer: ${s.captures}/${s.capturesPerFile} captures${r.added ? '' : ` (capture ${c.captureId} was already buffered or written)`}` +
        (r.stats ? `; ${r.stats.duplicates} rows repeat the previous capture, ${r.stats.stale} stale, ${r.stats.invalidPositions} invalid positions` : ''),
    )
    return s
  },
)

const writeCsv = task(
  { name: 'write-csv', retries: 2, retryDelaySeconds: 1 },
  async (_status: AddResult['status'], settings: BufferSettings): Promise<WriteCsvResult> => {
    const ctx = await brtContext()
    const r = await writeCsvStep(ctx, settings, { stopAt: crashPoint })
    if (!r) {
      const s = await ctx.buffer.status()
      skip(`buffer holds ${s.captures}/${settings.capturesPerFile} captures, oldest ${s.oldestCaptureAt ?? '-'}: no window due (closes at ${settings.capturesPerFile} captures or ${settings.maxBufferMinutes} minutes)`)
    }
    if (r.window) {
      const w = r.window
      log.info(`${w.recovered ? 'finished the window a crashed run had started: ' : ''}wrote ${w.rows} rows of ${w.captures} captures (${w.reason}) to ${ctx.lake.address(w.csvKey)}`)
    }
    if (r.outbox.length > (r.window ? 1 : 0)) log.info(`${r.outbox.length} CSV(s) waiting for upload`)
    return r
  },
)

const upload = task({ name: 'upload', retries: 3, retryDelaySeconds: 2, retryBackoff: 'exponential' }, async (csv: WriteCsvResult): Promise<string[]> => {
  const ctx = await brtContext()
  const files = await uploadStep(ctx)
  if (files.length === 0) skip('no CSV to upload (another run published it)')
  for (const f of files) log.info(`uploaded ${ctx.lake.address(f)}`)
  await artifact.files('brt-files', files.map((f) => ctx.lake.address(f)), { description: `CSV file${files.length === 1 ? '' : 's'} this run moved into bronze` })
  if (csv.window) {
    // what the run page shows: the CSV's lake address and how much it holds
    const name = csv.window.csvKey.split('/').pop() ?? ''
    const published = files.find((f) => f.endsWith(name)) ?? files[files.length - 1] ?? csv.window.csvKey
    await artifact.link('csv', ctx.lake.address(published), { text: name, description: `${csv.window.rows} rows from ${csv.window.captures} captures` })
  }
  return files
})

const load = task({ name: 'load', retries: 2, retryDelaySeconds: 5 }, async (_files: string[]): Promise<LoadResult> => {
  const ctx = await brtContext()
  const r = await loadStep(ctx, { onLine: (line) => log.info(line), signal: runContext().signal })
  if (r.staged) log.info(`staged the external tables (dbt run-operation stage_external_sources) over ${ctx.lake.address(BRONZE_PREFIX)}`)
  log.info(`${r.relation} sees ${r.files} CSV(s); the next build reads ${r.pendingFiles} new file(s)`)
  return r
})

// The warehouse pool keeps dbt builds apart: another flow building on the same warehouse waits for the slot.
const dbt = task({ name: 'dbt', retries: 1, retryDelaySeconds: 10, timeoutSeconds: 1800, pool: 'warehouse' }, async (_loaded: LoadResult): Promise<number> => {
  const ctx = await brtContext()
  try {
    const r = await dbtStep(ctx, { onLine: (line) => log.info(line), signal: runContext().signal })
    await artifact.table('dbt-results', dbtRows(r.dbt.results), { description: dbtSummary(r.dbt.command, r.dbt.results, r.dbt.elapsedS) })
    // Data-quality checks warn, never fail the run: each one is logged and kept with the run.
    for (const w of r.dataQuality) {
      log.warn(`data quality: ${w.test} found ${w.failures ?? '?'} row(s)${w.storedIn ? `, kept in ${w.storedIn}` : ''}`)
    }
    const checked = r.dbt.results.filter((n) => n.resourceType === 'test').length
    await artifact.json(
      'data-quality',
      { warnings: r.dataQuality, checked },
      { description: r.dataQuality.length ? `${r.dataQuality.length} of ${checked} checks warned` : `all ${checked} checks passed` },
    )
    return r.dataQuality.length
  } catch (err) {
    const results = (err as { results?: DbtNodeResult[] }).results
    if (results) await artifact.table('dbt-results', dbtRows(results), { description: `dbt failed: ${(err as Error).message}` })
    throw err
  }
})

const retention = task({ name: 'retention', retries: 1, retryDelaySeconds: 10 }, async (_warnings: number): Promise<void> => {
  const ctx = await brtContext()
  const days = ctx.settings.retentionDays
  if (days === undefined) skip('lake retention is off (set BRT_LAKE_RETENTION_DAYS to delete raw and bronze files older than that many days)')
  const r = await retentionStep(ctx, days)
  log.info(`lake retention (${days} days): kept dt >= ${r.keptFrom}, deleted ${r.deleted} file(s)` +
    (r.keptUnprocessed ? `; kept ${r.keptUnprocessed} old bronze file(s) no build has read yet` : ''))
})

export default defineFlow(
  {
    name: 'brt-gps',
    description: 'BRT GPS pipeline',
    schedule: { interval: '1m' },
    // One run at a time: two runs would buffer, write and load the same captures twice.
    maxActiveRuns: 1,
    parameters: { capturesPerFile: 10, maxBufferMinutes: 15 },
    // Declared, so the run page lists them before the first run, and the server knows dbt's pool.
    tasks: [capture, buffer, writeCsv, upload, load, dbt, retention],
  },
  async (params: { capturesPerFile: number; maxBufferMinutes: number }) => {
    const settings = bufferSettings(params)
    const c = await capture()
    const status = await buffer(c, settings)
    const csv = await writeCsv(status, settings)
    const files = await upload(csv)
    const loaded = await load(files)
    const warnings = await dbt(loaded)
    await retention(warnings)
  },
)
