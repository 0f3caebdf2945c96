/**
 * The warehouse: where dbt builds silver and gold from the lake's bronze files. One interface, two
 * implementations, chosen once at the edge (openWarehouse): nothing else in the pipeline asks which
 * engine it runs on.
 *
 * - DuckDB (default): a file `ROTA_HOME/warehouse/brt.duckdb`, one writer process at a time (a lock
 *   file next to it). Readers never open it: gold is exported to Parquet in the lake.
 * - BigQuery: datasets in a Google Cloud project; bronze is an external table over the GCS lake.
 *   Builds take turns through a lake lock, and every incremental write is a MERGE, so overlapping
 *   runs never insert a row twice.
 *
 * Both get their external tables from dbt (`dbt run-operation stage_external_sources`, run by the
 * `load` step when the definitions or the lake location changed) and export gold the same way.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { DBT_PROJECT_DIR, type DbtTarget } from '../dbt.ts'
import type { Lake } from '../lake.ts'
import type { BrtSettings } from '../settings.ts'

export interface WarehouseNames {
  readonly bronze: string
  readonly silver: string
  readonly gold: string
  /** Where data-quality tests keep their failing rows (store_failures). */
  readonly dq: string
}
export const DEFAULT_NAMES: WarehouseNames = { bronze: 'bronze', silver: 'silver', gold: 'gold', dq: 'dq' }

/** Where the engine reads bronze: the external table's root and the registry file, as it names them. */
export interface BronzeLocation {
  /** `…/bronze/brt_gps` (a local folder for DuckDB, gs://… for BigQuery). */
  readonly root: string
  /** The registry CSV (`_manifests/brt_gps/bronze_files.csv`). */
  readonly registry: string
  /** Bronze CSVs the engine can see now. */
  readonly files: number
}

export interface Warehouse {
  readonly kind: 'duckdb' | 'bigquery'
  readonly dbtTarget: DbtTarget
  /** Human name of the bronze relation, for logs. */
  readonly bronzeRelation: string
  /** Environment for dbt's profile and sources (schemas, locations, project). */
  dbtEnv(bronze: BronzeLocation): Record<string, string>
  /** Runs `fn` as the only writer of this warehouse, across processes. */
  withWriter<T>(fn: () => Promise<T>): Promise<T>
  /** Makes the lake's bronze files readable by the engine (DuckDB on a GCS lake: a local mirror). */
  syncBronze(): Promise<BronzeLocation>
  /** The staging key recorded by the last `stage_external_sources`, if the external tables still exist. */
  stagedKey(): Promise<string | undefined>
  recordStaged(key: string): Promise<void>
  /** Bronze files (relative ids) the builds have read, from silver.brt_gps_files_processed. */
  processedFiles(): Promise<Set<string>>
  /** Forgets copies of bronze files deleted from the lake (DuckDB's mirror); nothing on BigQuery. */
  forgetBronzeFiles(files: readonly string[]): Promise<void>
  /** After a build: gold to Parquet in the lake, for /api/brt. Returns rows per export. */
  exportGold(): Promise<Record<string, number>>
}

const STAGE_INPUTS = ['models/bronze/sources.yml', 'macros/external/stage_external_sources.sql']

/**
 * What the external tables depend on: the engine, the names, the locations, whether files exist
 * (DuckDB's view is an empty relation before the first one) and the definitions themselves. When
 * it changes, `load` runs the staging operation again.
 */
export async function stageKey(warehouse: Warehouse, bronze: BronzeLocation): Promise<string> {
  const hash = createHash('sha256')
  hash.update(JSON.stringify({ kind: warehouse.kind, env: warehouse.dbtEnv(bronze), hasFiles: bronze.files > 0 }))
  for (const f of STAGE_INPUTS) hash.update(await fs.readFile(path.join(DBT_PROJECT_DIR, f)))
  return hash.digest('hex').slice(0, 16)
}

export interface WarehouseOptions {
  readonly home: string
  readonly lake: Lake
  readonly names: WarehouseNames
}

/** The marker of the last staging, per home and engine (`ROTA_HOME/warehouse/staged-<engine>.json`). */
export function stagedMarker(home: string, kind: Warehouse['kind']): string {
  return path.join(home, 'warehouse', `staged-${kind}.json`)
}

export async function readStagedMarker(home: string, kind: Warehouse['kind']): Promise<string | undefined> {
  try {
    return (JSON.parse(await fs.readFile(stagedMarker(home, kind), 'utf8')) as { key?: string }).key
  } catch {
    return undefined
  }
}

export async function writeStagedMarker(home: string, kind: Warehouse['kind'], key: string): Promise<void> {
  const file = stagedMarker(home, kind)
  await fs.mkdir(path.dirname(file), { recursive: true })
  await fs.writeFile(file, JSON.stringify({ key, stagedAt: new Date().toISOString() }))
}

/** Chooses the implementation once, at the edge. */
export async function openWarehouse(settings: BrtSettings, lake: Lake): Promise<Warehouse> {
  const options: WarehouseOptions = { home: settings.home, lake, names: settings.names }
  switch (settings.warehouse) {
    case 'bigquery': {
      const { BigQueryWarehouse } = await import('./bigquery.ts')
      return new BigQueryWarehouse({ ...options, projectId: settings.gcpProject, location: settings.bigqueryLocation })
    }
    case 'duckdb': {
      const { DuckdbWarehouse } = await import('./duckdb.ts')
      return new DuckdbWarehouse(options)
    }
  }
}
