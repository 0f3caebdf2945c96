/**
 * The BRT pipeline's settings: where the lake and the warehouse are, where the GPS API is. Resolved
 * once from the environment at the pipeline's edges (the flow's process, `rota brt ...`, the
 * /api/brt routes) and passed down; nothing below reads process.env. Rota's own configuration
 * (src/config.ts) knows nothing of them.
 *
 * | variable | default | |
 * | --- | --- | --- |
 * | ROTA_HOME | `.rota` | the local lake (`home/lake`) and the DuckDB file live here |
 * | LAKE_URL | `file://<home>/lake` | `file:///abs/path` or `gs://bucket[/prefix]` |
 * | WAREHOUSE | `duckdb` | or `bigquery`, which needs GCP_PROJECT |
 * | GCP_PROJECT | | the Google Cloud project of the datasets (and of the GCS lake) |
 * | BQ_LOCATION | `US` | BigQuery location of the datasets |
 * | BRT_API_URL | the real API | the simulator with `rota up --simulate` |
 * | BRT_API_TIMEOUT_SECONDS | 20 | one API call |
 * | STORAGE_EMULATOR_HOST | | a GCS emulator |
 * | ROTA_BRONZE_SCHEMA, ROTA_SILVER_SCHEMA, ROTA_GOLD_SCHEMA, ROTA_DQ_SCHEMA | bronze, silver, gold, dq | schema (DuckDB) or dataset (BigQuery) names |
 * | BRT_LAKE_RETENTION_DAYS | (keep all) | delete raw and bronze files older than this many days |
 */
import path from 'node:path'
import { ConfigError } from '#rota/config.ts'
import { DEFAULT_NAMES, type WarehouseNames } from './warehouse/warehouse.ts'

export const DEFAULT_BRT_API_URL = 'https://dados.mobilidade.rio/gps/brt'

/** The environment variables the pipeline reads: forwarded to run containers by the Docker agent. */
export const BRT_ENV: readonly string[] = [
  'WAREHOUSE',
  'LAKE_URL',
  'GCP_PROJECT',
  'BQ_LOCATION',
  'BRT_API_URL',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'BRT_API_TIMEOUT_SECONDS',
  'BRT_LAKE_RETENTION_DAYS',
  'ROTA_BRONZE_SCHEMA',
  'ROTA_SILVER_SCHEMA',
  'ROTA_GOLD_SCHEMA',
  'ROTA_DQ_SCHEMA',
]

interface CommonSettings {
  /** ROTA_HOME: the local lake and the DuckDB warehouse file live here. */
  readonly home: string
  /** `file:///abs/path` or `gs://bucket/prefix`. */
  readonly lakeUrl: string
  /** The BRT GPS API (the real one by default; the simulator with `rota up --simulate`). */
  readonly brtApiUrl: string
  /** GCS endpoint override, e.g. an emulator (STORAGE_EMULATOR_HOST). */
  readonly gcsApiEndpoint: string | undefined
  /** BigQuery location for datasets (BQ_LOCATION, default US). */
  readonly bigqueryLocation: string
  /** Schema (DuckDB) / dataset (BigQuery) names: ROTA_BRONZE_SCHEMA, ROTA_SILVER_SCHEMA, ROTA_GOLD_SCHEMA, ROTA_DQ_SCHEMA. */
  readonly names: WarehouseNames
  /** Timeout of one API call (BRT_API_TIMEOUT_SECONDS, default 20). */
  readonly apiTimeoutMs: number
  /** Lake retention in days (BRT_LAKE_RETENTION_DAYS); undefined keeps everything (the default). */
  readonly retentionDays: number | undefined
}

/** The warehouse decides what else is needed: BigQuery always has its project. */
export type BrtSettings = CommonSettings &
  (
    | { readonly warehouse: 'duckdb'; /** for a GCS lake, when set */ readonly gcpProject: string | undefined }
    | { readonly warehouse: 'bigquery'; readonly gcpProject: string }
  )

/** What a caller (a test, a command line flag) may set instead of the environment. */
export type BrtSettingsOverrides = Partial<Omit<CommonSettings, 'names'>> & {
  readonly warehouse?: 'duckdb' | 'bigquery'
  readonly gcpProject?: string | undefined
}

export function resolveBrtSettings(env: NodeJS.ProcessEnv = process.env, overrides: BrtSettingsOverrides = {}): BrtSettings {
  const home = path.resolve(overrides.home ?? env.ROTA_HOME ?? '.rota')
  const warehouse = overrides.warehouse ?? parseWarehouse(env.WAREHOUSE ?? 'duckdb')
  const lakeUrl = overrides.lakeUrl ?? env.LAKE_URL ?? `file://${path.join(home, 'lake')}`
  if (!/^(file:\/\/\/|gs:\/\/[^/]+)/.test(lakeUrl)) {
    throw new ConfigError(`LAKE_URL must be file:///absolute/path or gs://bucket[/prefix], got "${lakeUrl}"`)
  }
  const gcpProject = 'gcpProject' in overrides ? overrides.gcpProject : emptyToUndefined(env.GCP_PROJECT)
  if (warehouse === 'bigquery' && !gcpProject) {
    throw new ConfigError('WAREHOUSE=bigquery needs GCP_PROJECT (the Google Cloud project that holds the datasets)')
  }
  const endpoint = env.STORAGE_EMULATOR_HOST?.trim()
  const timeout = Number(env.BRT_API_TIMEOUT_SECONDS ?? '20')
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error(`BRT_API_TIMEOUT_SECONDS must be a positive number, got "${env.BRT_API_TIMEOUT_SECONDS}"`)
  const name = (key: string, fallback: string): string => {
    const v = env[key]?.trim() || fallback
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new Error(`${key} must be a plain identifier (letters, digits, _), got "${v}"`)
    return v
  }
  const retention = env.BRT_LAKE_RETENTION_DAYS?.trim()
  const retentionDays = 'retentionDays' in overrides ? overrides.retentionDays : retention ? Number(retention) : undefined
  if (retentionDays !== undefined && (!Number.isInteger(retentionDays) || retentionDays < 1)) {
    throw new ConfigError(`BRT_LAKE_RETENTION_DAYS must be a whole number of days (1 or more), or unset to keep everything; got "${retention}"`)
  }
  const common: CommonSettings = {
    home,
    lakeUrl,
    brtApiUrl: overrides.brtApiUrl ?? env.BRT_API_URL ?? DEFAULT_BRT_API_URL,
    gcsApiEndpoint: overrides.gcsApiEndpoint ?? (endpoint ? (/^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`) : undefined),
    bigqueryLocation: overrides.bigqueryLocation ?? (env.BQ_LOCATION?.trim() || 'US'),
    names: {
      bronze: name('ROTA_BRONZE_SCHEMA', DEFAULT_NAMES.bronze),
      silver: name('ROTA_SILVER_SCHEMA', DEFAULT_NAMES.silver),
      gold: name('ROTA_GOLD_SCHEMA', DEFAULT_NAMES.gold),
      dq: name('ROTA_DQ_SCHEMA', DEFAULT_NAMES.dq),
    },
    apiTimeoutMs: overrides.apiTimeoutMs ?? timeout * 1000,
    retentionDays,
  }
  return warehouse === 'bigquery' ? { ...common, warehouse, gcpProject: gcpProject as string } : { ...common, warehouse, gcpProject }
}

function parseWarehouse(raw: string): 'duckdb' | 'bigquery' {
  if (raw === 'duckdb' || raw === 'bigquery') return raw
  throw new ConfigError(`WAREHOUSE must be "duckdb" or "bigquery", got "${raw}"`)
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v
}
