/**
 * Gold as Parquet in the lake: written after each build (from DuckDB, or from BigQuery rows) and
 * read by /api/brt with an in-memory DuckDB, so readers never touch the warehouse itself.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import type { Lake } from '../lake.ts'

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

/** Opens a DuckDB database (a file, or in memory), runs `fn`, closes it. */
export async function withDuckdb<T>(file: string | undefined, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
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
