/**
 * The warehouse side of the pipeline: make bronze see the lake's CSVs (`load`), export gold to
 * Parquet for readers (`dbt` task, after the build), and read those exports (the /api/brt routes).
 *
 * DuckDB (default): a file `ROTA_HOME/warehouse/brt.duckdb`. A DuckDB file has one writer process and
 * nobody else can open it while that writer is in (not even read-only), so the dashboard never opens
 * it: gold is exported to Parquet in the lake (`gold/brt/*.parquet`, replaced atomically) and read
 * from there with an in-memory DuckDB.
 *
 * BigQuery (WAREHOUSE=bigquery): bronze is an external table with hive partitioning over the GCS
 * prefix, created through the official @google-cloud/bigquery client.
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { BRONZE_PREFIX } from './buffer.ts'
import type { Lake } from './lake.ts'
import { CSV_COLUMNS } from './types.ts'

export const GOLD_EXPORTS = {
  vehicleLatest: 'gold/brt/brt_vehicle_latest.parquet',
  lineSpeed: 'gold/brt/brt_line_speed_10min.parquet',
} as const
/** `{ exportedAt, rows }` of the last export. */
export const GOLD_EXPORT_INFO = 'gold/brt/_export.json'

export interface WarehouseNames {
  readonly bronze: string
  readonly silver: string
  readonly gold: string
}
export const DEFAULT_NAMES: WarehouseNames = { bronze: 'bronze', silver: 'silver', gold: 'gold' }

export function duckdbPath(home: string): string {
  return path.join(home, 'warehouse', 'brt.duckdb')
}

/** Where DuckDB reads bronze CSVs: the lake folder itself, or a local mirror of a GCS lake. */
export function bronzeLocalRoot(home: string, lake: Lake): string {
  return lake.localPath(BRONZE_PREFIX) ?? path.join(home, 'warehouse', 'bronze_mirror', 'brt_gps')
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

async function withDuckdb<T>(file: string | undefined, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  if (file) await fs.mkdir(path.dirname(file), { recursive: true })
  // Loaded on first use: the native library is ~10 MB resident, and the server imports this module
  // for /api/brt but needs DuckDB only when a gold export is read.
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const instance = await DuckDBInstance.create(file ?? ':memory:')
  const connection = await instance.connect()
  try {
    return await fn(connection)
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

/**
 * read_csv over every bronze CSV, every column as text (type drift and `direcao = " "` never break
 * it; new API fields arrive in `extra_fields`, so the file's columns never change). Not
 * `union_by_name`: it sniffs every file and makes a one-day read 7x slower (15 s against 2 s for
 * 1.15 M rows), and the fixed column order makes it unnecessary.
 */
export function bronzeReadCsvSql(root: string): string {
  const glob = path.join(root, '*', '*.csv')
  return `read_csv(${sqlString(glob)}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
    hive_partitioning = true, hive_types_autocast = false, filename = true)`
}

/**
 * Mirrors bronze CSVs of a GCS lake to local disk for DuckDB (DuckDB's httpfs extension would be
 * downloaded at run time, which this deployment does not allow). Files are immutable once
 * published, so copying the missing ones is enough.
 */
export async function syncBronzeMirror(lake: Lake, home: string): Promise<number> {
  if (lake.localPath(BRONZE_PREFIX)) return 0
  const root = bronzeLocalRoot(home, lake)
  let copied = 0
  for (const key of await lake.list(BRONZE_PREFIX)) {
    const target = path.join(root, ...key.slice(BRONZE_PREFIX.length + 1).split('/'))
    try {
      await fs.access(target)
      continue
    } catch {
      // missing: copy it
    }
    const data = await lake.get(key)
    if (data === undefined) continue
    await fs.mkdir(path.dirname(target), { recursive: true })
    const tmp = `${target}.tmp-${randomUUID().slice(0, 8)}`
    await fs.writeFile(tmp, data)
    await fs.rename(tmp, target)
    copied++
  }
  return copied
}

export interface LoadResult {
  readonly relation: string
  readonly files: number
  /** Rows the new files add (counted through the bronze relation itself). */
  readonly newRows: number
}

/**
 * `load` on DuckDB: (re)creates the view `bronze.brt_gps` over the CSVs, then reads the new files
 * through it, which proves bronze sees them. Before any CSV exists the view is an empty relation
 * with the same columns, so dbt can build.
 */
export async function loadBronzeDuckdb(options: {
  home: string
  lake: Lake
  newFiles: readonly string[]
  names?: WarehouseNames
}): Promise<LoadResult> {
  const names = options.names ?? DEFAULT_NAMES
  await syncBronzeMirror(options.lake, options.home)
  const root = bronzeLocalRoot(options.home, options.lake)
  const files = await countCsvFiles(root)
  const relation = `${names.bronze}.brt_gps`
  return withDuckdb(duckdbPath(options.home), async (c) => {
    await c.run(`create schema if not exists ${names.bronze}`)
    const body =
      files > 0
        ? `select * from ${bronzeReadCsvSql(root)}`
        : `select ${[...CSV_COLUMNS, 'dt', 'filename'].map((col) => `cast(null as varchar) as ${col}`).join(', ')} where false`
    await c.run(`create or replace view ${relation} as ${body}`)
    let newRows = 0
    if (options.newFiles.length > 0) {
      const paths = options.newFiles.map((k) => path.join(root, ...k.slice(BRONZE_PREFIX.length + 1).split('/')))
      const reader = await c.runAndReadAll(`select count(*)::bigint as n from ${relation} where filename in (${paths.map(sqlString).join(', ')})`)
      newRows = Number(reader.getRowObjectsJS()[0]?.n ?? 0)
    }
    return { relation, files, newRows }
  })
}

async function countCsvFiles(root: string): Promise<number> {
  try {
    return (await fs.readdir(root, { recursive: true })).filter((f) => String(f).endsWith('.csv')).length
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
}

/**
 * After dbt: export gold to Parquet in the lake, atomically (a temporary file, then rename / one
 * object write), so readers never see half a file and never need the DuckDB file.
 */
export async function exportGoldToLake(options: { home: string; lake: Lake; names?: WarehouseNames }): Promise<Record<string, number>> {
  const names = options.names ?? DEFAULT_NAMES
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-gold-'))
  try {
    const counts: Record<string, number> = {}
    const exports: Array<[string, string, string]> = [
      [`${names.gold}.brt_vehicle_latest`, GOLD_EXPORTS.vehicleLatest, 'vehicle_id'],
      [`${names.gold}.brt_line_speed_10min`, GOLD_EXPORTS.lineSpeed, 'window_start desc, line'],
    ]
    await withDuckdb(duckdbPath(options.home), async (c) => {
      for (const [relation, key, order] of exports) {
        const file = path.join(tmpDir, path.basename(key))
        await c.run(`copy (select * from ${relation} order by ${order}) to ${sqlString(file)} (format parquet, compression zstd)`)
        const n = await c.runAndReadAll(`select count(*)::bigint as n from ${relation}`)
        counts[key] = Number(n.getRowObjectsJS()[0]?.n ?? 0)
      }
    })
    for (const [, key] of exports) await options.lake.put(key, await fs.readFile(path.join(tmpDir, path.basename(key))))
    await options.lake.put(GOLD_EXPORT_INFO, JSON.stringify({ exportedAt: new Date().toISOString(), rows: counts }))
    return counts
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true })
  }
}

/** Rows of a Parquet export in the lake (empty before the first export), read with an in-memory DuckDB. */
export async function readParquetExport(
  lake: Lake,
  key: string,
  sql: (relation: string) => string,
  values?: Record<string, string | number>,
): Promise<Record<string, unknown>[]> {
  let file = lake.localPath(key)
  let tmpDir: string | undefined
  if (file === undefined) {
    const data = await lake.get(key)
    if (data === undefined) return []
    tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-read-'))
    file = path.join(tmpDir, path.basename(key))
    await fs.writeFile(file, data)
  } else {
    try {
      await fs.access(file)
    } catch {
      return []
    }
  }
  try {
    return await withDuckdb(undefined, async (c) => {
      const reader = await c.runAndReadAll(sql(`read_parquet(${sqlString(file)})`), values)
      return reader.getRowObjectsJS() as Record<string, unknown>[]
    })
  } finally {
    if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true })
  }
}

/** Runs one query against the warehouse file (tests, `rota brt status`). Opens it as the only writer. */
export async function queryWarehouse(home: string, sql: string): Promise<Record<string, unknown>[]> {
  return withDuckdb(duckdbPath(home), async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[])
}

// ---------------------------------------------------------------------------------------------
// BigQuery

export interface BigQueryExternalTable {
  readonly datasetId: string
  readonly tableId: string
  readonly metadata: {
    readonly description: string
    readonly schema: { fields: Array<{ name: string; type: 'STRING'; mode: 'NULLABLE' }> }
    readonly externalDataConfiguration: {
      readonly sourceFormat: 'CSV'
      readonly sourceUris: string[]
      readonly autodetect: false
      readonly csvOptions: { skipLeadingRows: string; allowQuotedNewlines: true; encoding: 'UTF-8'; quote: '"'; fieldDelimiter: ',' }
      readonly hivePartitioningOptions: { mode: 'STRINGS'; sourceUriPrefix: string; requirePartitionFilter: false }
      readonly ignoreUnknownValues: false
      readonly maxBadRecords: 0
    }
  }
}

/**
 * The bronze external table over `gs://bucket/prefix/bronze/brt_gps/dt=…/*.csv`: every column a
 * STRING in the CSV's fixed order, `dt` from the hive path (as a STRING), header skipped.
 */
export function bronzeExternalTable(lakeUrl: string, dataset = DEFAULT_NAMES.bronze): BigQueryExternalTable {
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(lakeUrl)
  if (!m) throw new Error(`WAREHOUSE=bigquery needs a GCS lake (LAKE_URL=gs://bucket/prefix), got ${lakeUrl}`)
  const prefix = [m[2]!.replace(/\/+$/, ''), BRONZE_PREFIX].filter((p) => p !== '').join('/')
  const base = `gs://${m[1]}/${prefix}`
  return {
    datasetId: dataset,
    tableId: 'brt_gps',
    metadata: {
      description: 'Rota BRT GPS bronze: every CSV written by the brt-gps flow, every column as text.',
      schema: { fields: CSV_COLUMNS.map((name) => ({ name, type: 'STRING' as const, mode: 'NULLABLE' as const })) },
      externalDataConfiguration: {
        sourceFormat: 'CSV',
        sourceUris: [`${base}/*`],
        autodetect: false,
        csvOptions: { skipLeadingRows: '1', allowQuotedNewlines: true, encoding: 'UTF-8', quote: '"', fieldDelimiter: ',' },
        hivePartitioningOptions: { mode: 'STRINGS', sourceUriPrefix: `${base}/`, requirePartitionFilter: false },
        ignoreUnknownValues: false,
        maxBadRecords: 0,
      },
    },
  }
}

/** A BigQuery client value (BigQueryTimestamp, BigQueryDatetime, Big, ...) as plain JSON. */
function plainBigQueryValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v
  const inner = (v as { value?: unknown }).value
  if (typeof inner === 'string' || typeof inner === 'number') return inner
  return String(v)
}

/** Rows from the BigQuery client to a Parquet file, typed by `select` (a DuckDB select list over the rows). */
export async function writeRowsAsParquet(rows: readonly Record<string, unknown>[], select: string, file: string): Promise<void> {
  const json = `${file}.ndjson`
  await fs.writeFile(json, rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plainBigQueryValue(v)])))).join('\n'))
  try {
    await withDuckdb(undefined, (c) => c.run(`copy (${select} from read_json_auto(${sqlString(json)})) to ${sqlString(file)} (format parquet)`))
  } finally {
    await fs.rm(json, { force: true })
  }
}

/**
 * After dbt on BigQuery: the same Parquet exports as on DuckDB, so /api/brt reads one format
 * whatever the warehouse. Gold is small (one row per vehicle; line windows of the last two days):
 * it is queried through the official client and written to Parquet with an in-memory DuckDB.
 */
export async function exportGoldFromBigQuery(options: {
  projectId: string
  location?: string
  lake: Lake
  names?: WarehouseNames
}): Promise<Record<string, number>> {
  const { BigQuery } = await import('@google-cloud/bigquery')
  const names = options.names ?? DEFAULT_NAMES
  const bq = new BigQuery({ projectId: options.projectId, ...(options.location ? { location: options.location } : {}) })
  const gold = `\`${options.projectId}.${names.gold}`
  const queries: Array<[string, string, string]> = [
    // [lake key, BigQuery SQL, DuckDB select list that types the rows for Parquet]
    [
      GOLD_EXPORTS.vehicleLatest,
      `select vehicle_id, line, latitude, longitude, speed_kmh, gps_time_utc, cast(gps_time_local as string) as gps_time_local from ${gold}.brt_vehicle_latest\``,
      `select vehicle_id, line, latitude::double as latitude, longitude::double as longitude, speed_kmh::double as speed_kmh,
         timezone('UTC', cast(gps_time_utc as timestamptz)) as gps_time_utc, cast(gps_time_local as timestamp) as gps_time_local`,
    ],
    [
      GOLD_EXPORTS.lineSpeed,
      `select line, window_start, cast(window_start_local as string) as window_start_local, vehicles_in_service, avg_speed_kmh, p90_speed_kmh, share_moving, observations
         from ${gold}.brt_line_speed_10min\` where window_start >= timestamp_sub(current_timestamp(), interval 2 day)`,
      `select line, timezone('UTC', cast(window_start as timestamptz)) as window_start, cast(window_start_local as timestamp) as window_start_local,
         vehicles_in_service::bigint as vehicles_in_service, avg_speed_kmh::double as avg_speed_kmh, p90_speed_kmh::double as p90_speed_kmh,
         share_moving::double as share_moving, observations::bigint as observations`,
    ],
  ]
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-gold-bq-'))
  try {
    const counts: Record<string, number> = {}
    for (const [key, bqSql, select] of queries) {
      const [rows] = await bq.query({ query: bqSql, ...(options.location ? { location: options.location } : {}) })
      counts[key] = rows.length
      if (rows.length === 0) continue
      const parquet = path.join(tmpDir, path.basename(key))
      await writeRowsAsParquet(rows as Record<string, unknown>[], select, parquet)
      await options.lake.put(key, await fs.readFile(parquet))
    }
    await options.lake.put(GOLD_EXPORT_INFO, JSON.stringify({ exportedAt: new Date().toISOString(), rows: counts }))
    return counts
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true })
  }
}

/** `load` on BigQuery: creates the external table once (it sees new files by itself afterwards). */
export async function ensureBronzeExternalTable(options: {
  projectId: string
  lakeUrl: string
  location?: string
  names?: WarehouseNames
}): Promise<LoadResult> {
  const { BigQuery } = await import('@google-cloud/bigquery')
  const names = options.names ?? DEFAULT_NAMES
  const def = bronzeExternalTable(options.lakeUrl, names.bronze)
  const bq = new BigQuery({ projectId: options.projectId, ...(options.location ? { location: options.location } : {}) })
  const dataset = bq.dataset(def.datasetId)
  const [datasetExists] = await dataset.exists()
  if (!datasetExists) await bq.createDataset(def.datasetId, options.location ? { location: options.location } : {})
  const table = dataset.table(def.tableId)
  const [tableExists] = await table.exists()
  if (!tableExists) await dataset.createTable(def.tableId, def.metadata)
  else await table.setMetadata(def.metadata)
  return { relation: `${options.projectId}.${def.datasetId}.${def.tableId}`, files: -1, newRows: -1 }
}
