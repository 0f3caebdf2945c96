/**
 * The BRT GPS pipeline's steps as plain functions with explicit configuration. flow.ts wires them
 * into Rota tasks; tests and the benchmark call them directly.
 */
import path from 'node:path'
import lockfile from 'proper-lockfile'
import fs from 'node:fs/promises'
import type { RotaConfig } from '#rota/config.ts'
import { CaptureBuffer, DEFAULT_SETTINGS, type AddResult, type BufferSettings, type ClosePoint, type ClosedWindow } from './buffer.ts'
import { fetchCapture, storeCapture } from './capture.ts'
import { runDbt, type DbtRunSummary } from './dbt.ts'
import { openLake, type Lake } from './lake.ts'
import type { CaptureDescriptor } from './types.ts'
import { duckdbPath, ensureBronzeExternalTable, exportGoldFromBigQuery, exportGoldToLake, loadBronzeDuckdb, type LoadResult, type WarehouseNames } from './warehouse.ts'

/** Settings of the BRT pipeline beyond RotaConfig, read from the environment at the edge. */
export interface BrtSettings {
  /** GCS endpoint override, e.g. an emulator (STORAGE_EMULATOR_HOST). */
  readonly gcsApiEndpoint: string | undefined
  /** BigQuery location for datasets (BQ_LOCATION, default US). */
  readonly bigqueryLocation: string
  /** Schema (DuckDB) / dataset (BigQuery) names: ROTA_BRONZE_SCHEMA, ROTA_SILVER_SCHEMA, ROTA_GOLD_SCHEMA. */
  readonly names: WarehouseNames
  /** Timeout of one API call (BRT_API_TIMEOUT_SECONDS, default 20). */
  readonly apiTimeoutMs: number
}

export function resolveBrtSettings(env: NodeJS.ProcessEnv = process.env): BrtSettings {
  const endpoint = env.STORAGE_EMULATOR_HOST?.trim()
  const timeout = Number(env.BRT_API_TIMEOUT_SECONDS ?? '20')
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error(`BRT_API_TIMEOUT_SECONDS must be a positive number, got "${env.BRT_API_TIMEOUT_SECONDS}"`)
  const name = (key: string, fallback: string): string => {
    const v = env[key]?.trim() || fallback
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new Error(`${key} must be a plain identifier (letters, digits, _), got "${v}"`)
    return v
  }
  return {
    gcsApiEndpoint: endpoint ? (/^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`) : undefined,
    bigqueryLocation: env.BQ_LOCATION?.trim() || 'US',
    names: { bronze: name('ROTA_BRONZE_SCHEMA', 'bronze'), silver: name('ROTA_SILVER_SCHEMA', 'silver'), gold: name('ROTA_GOLD_SCHEMA', 'gold') },
    apiTimeoutMs: timeout * 1000,
  }
}

export interface BrtContext {
  readonly config: RotaConfig
  readonly settings: BrtSettings
  readonly lake: Lake
  readonly buffer: CaptureBuffer
}

export async function openBrtContext(config: RotaConfig, settings: BrtSettings = resolveBrtSettings({})): Promise<BrtContext> {
  const lake = await openLake(config.lakeUrl, { gcsApiEndpoint: settings.gcsApiEndpoint, gcpProject: config.gcpProject })
  return { config, settings, lake, buffer: new CaptureBuffer(lake) }
}

/** capture: one API call, validated, raw body kept in the lake. */
export async function captureStep(ctx: BrtContext, signal?: AbortSignal): Promise<CaptureDescriptor> {
  const fetched = await fetchCapture(ctx.config.brtApiUrl, {
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
  if (ctx.config.warehouse !== 'duckdb') return fn()
  const file = duckdbPath(ctx.config.home)
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
  if (ctx.config.warehouse === 'bigquery') {
    return ensureBronzeExternalTable({
      projectId: ctx.config.gcpProject!,
      lakeUrl: ctx.config.lakeUrl,
      location: ctx.settings.bigqueryLocation,
      names: ctx.settings.names,
    })
  }
  return withWarehouseLock(ctx, () => loadBronzeDuckdb({ home: ctx.config.home, lake: ctx.lake, newFiles, names: ctx.settings.names }))
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
  if (ctx.config.warehouse === 'bigquery') {
    env.GCP_PROJECT = ctx.config.gcpProject!
    env.BQ_LOCATION = ctx.settings.bigqueryLocation
    const dbt = await runDbt(['build'], { home: ctx.config.home, target: 'bigquery', env, ...options })
    const exports = await exportGoldFromBigQuery({
      projectId: ctx.config.gcpProject!,
      location: ctx.settings.bigqueryLocation,
      lake: ctx.lake,
      names: ctx.settings.names,
    })
    return { dbt, exports }
  }
  return withWarehouseLock(ctx, async () => {
    env.ROTA_DUCKDB_PATH = duckdbPath(ctx.config.home)
    const dbt = await runDbt(['build'], { home: ctx.config.home, target: 'duckdb', env, ...options })
    const exports = await exportGoldToLake({ home: ctx.config.home, lake: ctx.lake, names: ctx.settings.names })
    return { dbt, exports }
  })
}
