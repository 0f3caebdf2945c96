/**
 * The BRT GPS pipeline's steps as plain functions with explicit configuration. flow.ts wires them
 * into Rota tasks; the CLI, tests and the benchmark call them directly.
 */
import { CaptureBuffer, DEFAULT_SETTINGS, type AddResult, type BufferSettings, type ClosePoint, type ClosedWindow } from './buffer.ts'
import { ensureRegistry, readRegistry, reconcileRegistry, unregisterBronzeFiles } from './bronze-registry.ts'
import { fetchCapture, storeCapture } from './capture.ts'
import { runDbt, type DbtNodeResult, type DbtRunSummary } from './dbt.ts'
import { openLake, type Lake } from './lake.ts'
import { BRONZE_PREFIX, PARTITIONED_PREFIXES, bronzeFileId, partitionDate, partitionOf } from './lake-keys.ts'
import type { BrtSettings } from './settings.ts'
import type { CaptureDescriptor } from './types.ts'
import { openWarehouse, stageKey, type Warehouse } from './warehouse/warehouse.ts'

export interface BrtContext {
  readonly settings: BrtSettings
  readonly lake: Lake
  readonly buffer: CaptureBuffer
  readonly warehouse: Warehouse
}

export async function openBrtContext(settings: BrtSettings): Promise<BrtContext> {
  const lake = await openLake(settings.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: settings.gcpProject })
  const warehouse = await openWarehouse(settings, lake)
  return { settings, lake, buffer: new CaptureBuffer(lake), warehouse }
}

/** capture: one API call, validated, raw body kept in the lake. */
export async function captureStep(ctx: BrtContext, signal?: AbortSignal): Promise<CaptureDescriptor> {
  const fetched = await fetchCapture(ctx.settings.brtApiUrl, {
    timeoutMs: ctx.settings.apiTimeoutMs,
    ...(signal ? { signal } : {}),
  })
  return storeCapture(ctx.lake, fetched)
}

/** buffer: add the capture to the durable buffer. */
export async function bufferStep(ctx: BrtContext, capture: CaptureDescriptor, settings: BufferSettings = DEFAULT_SETTINGS): Promise<AddResult> {
  return ctx.buffer.add(capture, settings)
}

export interface WriteCsvResult {
  /** The window closed by this call, if any. */
  readonly window: ClosedWindow | undefined
  /** Every CSV waiting in the outbox (this window's and any left by a crashed upload). */
  readonly outbox: string[]
}

/** write-csv: close a window if one is due. Undefined means nothing to do (the task skips). */
export async function writeCsvStep(
  ctx: BrtContext,
  settings: BufferSettings,
  options: { now?: Date; stopAt?: (point: ClosePoint) => void | Promise<void> } = {},
): Promise<WriteCsvResult | undefined> {
  const window = await ctx.buffer.closeWindow(settings, options)
  const outbox = await ctx.buffer.outbox()
  if (!window && outbox.length === 0) return undefined
  return { window, outbox }
}

/** upload: move the outbox CSVs into bronze/brt_gps/dt=…/ and register them. */
export async function uploadStep(ctx: BrtContext): Promise<string[]> {
  return ctx.buffer.publishOutbox()
}

export interface LoadResult {
  /** The bronze external table. */
  readonly relation: string
  /** Bronze CSVs the engine sees. */
  readonly files: number
  /** Registered files no build has read yet: what the next build reads. */
  readonly pendingFiles: number
  /** Whether this call ran `stage_external_sources` (definitions or locations had changed). */
  readonly staged: boolean
  readonly stageOutput?: string
}

/**
 * load: make bronze see the new files. The registry exists (the external table over it needs its
 * file), DuckDB's mirror of a GCS lake is up to date, and the external tables are (re)created by
 * `dbt run-operation stage_external_sources` when their definitions or locations changed (or when
 * `restage` says so).
 */
export async function loadStep(
  ctx: BrtContext,
  options: { restage?: boolean; reconcile?: boolean; onLine?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<LoadResult> {
  if (options.reconcile) await reconcileRegistry(ctx.lake)
  else await ensureRegistry(ctx.lake)
  const wh = ctx.warehouse
  return wh.withWriter(async () => {
    const bronze = await wh.syncBronze()
    const key = await stageKey(wh, bronze)
    let staged = false
    if (options.restage || (await wh.stagedKey()) !== key) {
      await runDbt(['run-operation', 'stage_external_sources'], {
        home: ctx.settings.home,
        target: wh.dbtTarget,
        env: wh.dbtEnv(bronze),
        ...(options.onLine ? { onLine: options.onLine } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      await wh.recordStaged(key)
      staged = true
    }
    const processed = await wh.processedFiles()
    const pendingFiles = (await readRegistry(ctx.lake)).filter((e) => !processed.has(e.file)).length
    return { relation: wh.bronzeRelation, files: bronze.files, pendingFiles, staged }
  })
}

/** A data-quality check that warned: its name, how many rows it found, and where they are kept. */
export interface DataQualityWarning {
  readonly test: string
  readonly failures: number | null
  readonly message: string | null
  /** The table holding the failing rows (store_failures), when the engine reported it. */
  readonly storedIn: string | null
}

export interface DbtStepResult {
  readonly dbt: DbtRunSummary
  /** Rows per Parquet export of gold. */
  readonly exports: Record<string, number>
  /** Data-quality checks that warned in this build (they never fail it). */
  readonly dataQuality: DataQualityWarning[]
}

export function dataQualityWarnings(results: readonly DbtNodeResult[]): DataQualityWarning[] {
  return results
    .filter((r) => r.resourceType === 'test' && r.status === 'warn')
    .map((r) => ({ test: r.name, failures: r.failures, message: r.message, storedIn: r.relationName }))
}

/** dbt: `dbt build` (models and tests) as the warehouse's only writer, then gold exported for readers. */
export async function dbtStep(
  ctx: BrtContext,
  options: { onLine?: (line: string) => void; signal?: AbortSignal; fullRefresh?: boolean } = {},
): Promise<DbtStepResult> {
  const wh = ctx.warehouse
  return wh.withWriter(async () => {
    const bronze = await wh.syncBronze()
    const dbt = await runDbt(options.fullRefresh ? ['build', '--full-refresh'] : ['build'], {
      home: ctx.settings.home,
      target: wh.dbtTarget,
      env: wh.dbtEnv(bronze),
      ...(options.onLine ? { onLine: options.onLine } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    const exports = await wh.exportGold()
    return { dbt, exports, dataQuality: dataQualityWarnings(dbt.results) }
  })
}

export interface RetentionResult {
  /** The oldest `dt` kept. */
  readonly keptFrom: string
  readonly deleted: number
  /** Old bronze files kept because no build has read them yet. */
  readonly keptUnprocessed: number
}

/**
 * Lake retention (BRT_LAKE_RETENTION_DAYS, off by default): deletes raw captures, capture
 * statistics and bronze CSVs whose `dt` is more than `days` days before today (America/Sao_Paulo).
 * Silver and gold keep their rows. A bronze file no build has read yet, and a raw capture still
 * waiting in the buffer, are kept whatever their age, so retention never loses data.
 */
export async function retentionStep(ctx: BrtContext, days: number, now: Date = new Date()): Promise<RetentionResult> {
  if (!Number.isInteger(days) || days < 1) throw new Error(`retention must be a whole number of days (1 or more), got ${days}`)
  const keptFrom = partitionDate(now.getTime() - days * 86_400_000)
  const waiting = new Set((await ctx.buffer.pending()).map((c) => c.rawKey))
  const processed = await ctx.warehouse.withWriter(() => ctx.warehouse.processedFiles())
  let deleted = 0
  let keptUnprocessed = 0
  const bronzeDeleted: string[] = []
  for (const prefix of PARTITIONED_PREFIXES) {
    for (const key of await ctx.lake.list(prefix)) {
      const dt = partitionOf(key)
      if (dt === undefined || dt >= keptFrom || waiting.has(key)) continue
      if (prefix === BRONZE_PREFIX) {
        if (!key.endsWith('.csv')) continue
        const { file } = bronzeFileId(key)
        if (!processed.has(file)) {
          keptUnprocessed++
          continue
        }
        bronzeDeleted.push(file)
      }
      await ctx.lake.delete(key)
      deleted++
    }
  }
  if (bronzeDeleted.length > 0) {
    await unregisterBronzeFiles(ctx.lake, bronzeDeleted)
    await ctx.warehouse.forgetBronzeFiles(bronzeDeleted)
  }
  return { keptFrom, deleted, keptUnprocessed }
}
