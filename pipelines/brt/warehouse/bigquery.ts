/**
 * The BigQuery warehouse (WAREHOUSE=bigquery): datasets in a Google Cloud project, bronze an
 * external table over the GCS lake (created by dbt's stage_external_sources), silver and gold built
 * by dbt with MERGEs. Builds take turns through a lake lock (GCS object with a generation
 * precondition), so two overlapping flow runs never build at once; the MERGEs would keep them from
 * double-inserting even without it.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { BigQuery } from '@google-cloud/bigquery'
import type { Lake } from '../lake.ts'
import { BRONZE_PREFIX, BRONZE_REGISTRY, GOLD_EXPORTS, GOLD_EXPORT_INFO, LOCKS } from '../lake-keys.ts'
import { writeRowsAsParquet } from './parquet.ts'
import { readStagedMarker, writeStagedMarker, type BronzeLocation, type Warehouse, type WarehouseNames } from './warehouse.ts'

export interface BigQueryWarehouseOptions {
  readonly home: string
  readonly lake: Lake
  readonly names: WarehouseNames
  readonly projectId: string
  readonly location: string
}

export class BigQueryWarehouse implements Warehouse {
  readonly kind = 'bigquery'
  readonly dbtTarget = 'bigquery'
  readonly bronzeRelation: string
  private client: BigQuery | undefined

  constructor(private readonly options: BigQueryWarehouseOptions) {
    if (!options.projectId) throw new Error('WAREHOUSE=bigquery needs GCP_PROJECT (the Google Cloud project that holds the datasets)')
    if (options.lake.localPath(BRONZE_PREFIX) !== undefined) {
      throw new Error(`WAREHOUSE=bigquery needs a GCS lake (LAKE_URL=gs://bucket/prefix), got ${options.lake.url}: BigQuery reads bronze from GCS`)
    }
    this.bronzeRelation = `${options.projectId}.${options.names.bronze}.brt_gps`
  }

  private async bigquery(): Promise<BigQuery> {
    if (!this.client) {
      const { BigQuery } = await import('@google-cloud/bigquery')
      this.client = new BigQuery({ projectId: this.options.projectId, location: this.options.location })
    }
    return this.client
  }

  dbtEnv(bronze: BronzeLocation): Record<string, string> {
    const n = this.options.names
    return {
      GCP_PROJECT: this.options.projectId,
      BQ_LOCATION: this.options.location,
      ROTA_BRONZE_SCHEMA: n.bronze,
      ROTA_SILVER_SCHEMA: n.silver,
      ROTA_GOLD_SCHEMA: n.gold,
      ROTA_DQ_SCHEMA: n.dq,
      ROTA_BRONZE_URI: bronze.root,
      ROTA_BRONZE_REGISTRY_URI: bronze.registry,
    }
  }

  async withWriter<T>(fn: () => Promise<T>): Promise<T> {
    // A build can take minutes; the lock is refreshed while held and taken over 60 s after its holder died.
    const release = await this.options.lake.lock(LOCKS.warehouse, { staleMs: 60_000, waitMs: 30 * 60_000 })
    try {
      return await fn()
    } finally {
      await release()
    }
  }

  /** BigQuery reads the lake itself: the locations are the GCS addresses. */
  async syncBronze(): Promise<BronzeLocation> {
    const lake = this.options.lake
    return { root: lake.address(BRONZE_PREFIX), registry: lake.address(BRONZE_REGISTRY), files: (await lake.list(BRONZE_PREFIX)).length }
  }

  stagedKey(): Promise<string | undefined> {
    return readStagedMarker(this.options.home, this.kind)
  }

  recordStaged(key: string): Promise<void> {
    return writeStagedMarker(this.options.home, this.kind, key)
  }

  async processedFiles(): Promise<Set<string>> {
    const bq = await this.bigquery()
    const table = bq.dataset(this.options.names.silver).table('brt_gps_files_processed')
    if (!(await table.exists())[0]) return new Set()
    const [rows] = await bq.query({ query: `select file from \`${this.options.projectId}.${this.options.names.silver}.brt_gps_files_processed\``, location: this.options.location })
    return new Set((rows as Array<{ file: string }>).map((r) => r.file))
  }

  async forgetBronzeFiles(): Promise<void> {
    // Nothing is copied out of GCS.
  }

  /**
   * The same Parquet exports as on DuckDB, so /api/brt reads one format whatever the warehouse.
   * Gold is small (one row per vehicle; line windows of the last two days): it is queried through
   * the official client and written to Parquet with an in-memory DuckDB.
   */
  async exportGold(): Promise<Record<string, number>> {
    const { projectId, location, names, lake } = this.options
    const bq = await this.bigquery()
    const gold = `\`${projectId}.${names.gold}`
    const queries: Array<[string, string, string]> = [
      // [lake key, BigQuery SQL, DuckDB select list that types the rows for Parquet]
      [
        GOLD_EXPORTS.vehicleLatest,
        `select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, cast(gps_time_local as string) as gps_time_local, captured_at from ${gold}.brt_vehicle_latest\``,
        `select vehicle_id, line, latitude::double as latitude, longitude::double as longitude, speed_kmh::double as speed_kmh,
           timezone('UTC', cast(gps_time_utc as timestamptz)) as gps_time_utc, cast(gps_time_local as timestamp) as gps_time_local,
           timezone('UTC', cast(captured_at as timestamptz)) as captured_at`,
      ],
      [
        GOLD_EXPORTS.lineSpeed,
        `select line, window_start, cast(window_start_local as string) as window_start_local, vehicles_in_service, avg_speed_kmh, p90_speed_kmh,
           share_moving, observations, captures, captures_taken, is_complete, last_captured_at
           from ${gold}.brt_line_speed_10min\` where window_start >= timestamp_sub(current_timestamp(), interval 2 day)`,
        `select line, timezone('UTC', cast(window_start as timestamptz)) as window_start, cast(window_start_local as timestamp) as window_start_local,
           vehicles_in_service::bigint as vehicles_in_service, avg_speed_kmh::double as avg_speed_kmh, p90_speed_kmh::double as p90_speed_kmh,
           share_moving::double as share_moving, observations::bigint as observations, captures::bigint as captures,
           captures_taken::bigint as captures_taken, is_complete::boolean as is_complete, timezone('UTC', cast(last_captured_at as timestamptz)) as last_captured_at`,
      ],
    ]
    const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-gold-bq-'))
    try {
      const counts: Record<string, number> = {}
      for (const [key, bqSql, select] of queries) {
        const [rows] = await bq.query({ query: bqSql, location })
        counts[key] = rows.length
        if (rows.length === 0) continue
        const parquet = path.join(tmpDir, path.basename(key))
        await writeRowsAsParquet(rows as Record<string, unknown>[], select, parquet)
        await lake.put(key, await fs.readFile(parquet))
      }
      await lake.put(GOLD_EXPORT_INFO, JSON.stringify({ exportedAt: new Date().toISOString(), rows: counts }))
      return counts
    } finally {
      await fs.rm(tmpDir, { recursive: true, force: true })
    }
  }
}
