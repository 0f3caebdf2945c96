/**
 * The BRT GPS pipeline's steps as plain functions with explicit configuration. flow.ts wires them
 * into Rota tasks; tests and the benchmark call them directly.
 */
import path from 'node:path'
import lockfile from 'proper-lockfile'
import fs from 'node:fs/promises'
import { CaptureBuffer, DEFAULT_SETTINGS, type AddResult, type BufferSettings, type ClosePoint, type ClosedWindow } from './buffer.ts'
import { fetchCapture, storeCapture } from './capture.ts'
import { runDbt, type DbtRunSummary } from './dbt.ts'
import { openLake, type Lake } from './lake.ts'
import type { BrtSettings } from './settings.ts'
import type { CaptureDescriptor } from './types.ts'
import { duckdbPath, ensureBronzeExternalTable, exportGoldFromBigQuery, exportGoldToLake, loadBronzeDuckdb, type LoadResult } from './warehouse.ts'

export interface BrtContext {
  readonly settings: BrtSettings
  readonly lake: Lake
  readonly buffer: CaptureBuffer
}

export async function openBrtContext(settings: BrtSettings): Promise<BrtContext> {
  const lake = await openLake(settings.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: settings.gcpProject })
  return { settings, lake, buffer: new CaptureBuffer(lake) }
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

/** upload: move the outbox CSVs into bronze/brt_gps/dt=…/. */
export async function uploadStep(ctx: BrtContext): Promise<string[]> {
  return ctx.buffer.publishOutbox()
}

/**
 * One writer at a time on the DuckDB file, across processes (overlapping flow runs, `rota brt dbt`):
 * the second waits instead of failing on DuckDB's file lock.
 */
export async function withWarehouseLock<T>(ctx: BrtContext, fn: () => Promise<T>): Promise<T> {
  if (ctx.settings.warehouse !== 'duckdb') return fn()
  const file = duckdbPath(ctx.settings.home)
  await fs.mkdir(path.dirname(file), { recursive: true })
  const release = await lockfile.lock(`${file}.writer`, {
    realpath: false,
    stale: 30_000,
    update: 5_000,
    retries: { retries: 600, minTimeout: 200, maxTimeout: 1000 },
  })
  try {
    return await fn()
  } finally {
    await release().catch(() => undefined)
  }
}

/** load: make bronze see the new files. */
export async function loadStep(ctx: BrtContext, newFiles: readonly string[]): Promise<LoadResult> {
  const s = ctx.settings
  if (s.warehouse === 'bigquery') {
    return ensureBronzeExternalTable({
      projectId: s.gcpProject,
      lakeUrl: s.lakeUrl,
      location: s.bigqueryLocation,
      names: s.names,
    })
  }
  return withWarehouseLock(ctx, () => loadBronzeDuckdb({ home: s.home, lake: ctx.lake, newFiles, names: s.names }))
}

export interface DbtStepResult {
  readonly dbt: DbtRunSummary
  /** Rows per Parquet export of gold (DuckDB only). */
  readonly exports: Record<string, number>
}

/** dbt: `dbt build` on the configured target, then export gold for readers (DuckDB). */
export async function dbtStep(ctx: BrtContext, options: { onLine?: (line: string) => void; signal?: AbortSignal } = {}): Promise<DbtStepResult> {
  const env: Record<string, string> = {
    ROTA_BRONZE_SCHEMA: ctx.settings.names.bronze,
    ROTA_SILVER_SCHEMA: ctx.settings.names.silver,
    ROTA_GOLD_SCHEMA: ctx.settings.names.gold,
  }
  const s = ctx.settings
  if (s.warehouse === 'bigquery') {
    env.GCP_PROJECT = s.gcpProject
    env.BQ_LOCATION = s.bigqueryLocation
    const dbt = await runDbt(['build'], { home: s.home, target: 'bigquery', env, ...options })
    const exports = await exportGoldFromBigQuery({
      projectId: s.gcpProject,
      location: ctx.settings.bigqueryLocation,
      lake: ctx.lake,
      names: ctx.settings.names,
    })
    return { dbt, exports }
  }
  return withWarehouseLock(ctx, async () => {
    env.ROTA_DUCKDB_PATH = duckdbPath(s.home)
    const dbt = await runDbt(['build'], { home: s.home, target: 'duckdb', env, ...options })
    const exports = await exportGoldToLake({ home: s.home, lake: ctx.lake, names: s.names })
    return { dbt, exports }
  })
}
