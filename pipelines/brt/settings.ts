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
 * | ROTA_BRONZE_SCHEMA, ROTA_SILVER_SCHEMA, ROTA_GOLD_SCHEMA | bronze, silver, gold | schema (DuckDB) or dataset (BigQuery) names |
 */
import path from 'node:path'
import { ConfigError } from '#rota/config.ts'
import type { WarehouseNames } from './warehouse.ts'

export const DEFAULT_BRT_API_URL = 'https://dados.mobilidade.rio/gps/brt'

/** The environment variables the pipeline reads: forwarded to run containers by the Docker agent. */
export const BRT_ENV: readonly string[] = [
  'WAREHOUSE',
  'LAKE_URL',
  'GCP_PROJECT',
  'BQ_LOCATION',
  'BRT_API_URL',
  'GOOGLE_APPLICATION_CREDENTIALS',
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
  /** Schema (DuckDB) / dataset (BigQuery) names: ROTA_BRONZE_SCHEMA, ROTA_SILVER_SCHEMA, ROTA_GOLD_SCHEMA. */
  readonly names: WarehouseNames
  /** Timeout of one API call (BRT_API_TIMEOUT_SECONDS, default 20). */
  readonly apiTimeoutMs: number
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
  const common: CommonSettings = {
    home,
    lakeUrl,
    brtApiUrl: overrides.brtApiUrl ?? env.BRT_API_URL ?? DEFAULT_BRT_API_URL,
    gcsApiEndpoint: overrides.gcsApiEndpoint ?? (endpoint ? (/^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`) : undefined),
    bigqueryLocation: overrides.bigqueryLocation ?? (env.BQ_LOCATION?.trim() || 'US'),
    names: { bronze: name('ROTA_BRONZE_SCHEMA', 'bronze'), silver: name('ROTA_SILVER_SCHEMA', 'silver'), gold: name('ROTA_GOLD_SCHEMA', 'gold') },
    apiTimeoutMs: overrides.apiTimeoutMs ?? timeout * 1000,
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
