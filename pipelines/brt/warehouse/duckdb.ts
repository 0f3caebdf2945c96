/**
 * The DuckDB warehouse (default): `ROTA_HOME/warehouse/brt.duckdb`.
 *
 * A DuckDB file has one writer process and nobody else can open it while that writer is in (not
 * even read-only), so writers (`load`, `dbt`, `rota brt build`) take turns through a lock file next
 * to it, and readers never open it: gold is exported to Parquet in the lake (`gold/brt/*.parquet`,
 * replaced atomically) and read from there with an in-memory DuckDB.
 *
 * DuckDB reads bronze from local disk: the lake folder itself, or, for a GCS lake, a local mirror of
 * the bronze files and the registry (DuckDB's httpfs extension would be downloaded at run time,
 * which this deployment does not allow).
 */
import { randomUUID } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import lockfile from 'proper-lockfile'
import type { Lake } from '../lake.ts'
import { BRONZE_PREFIX, BRONZE_REGISTRY, GOLD_EXPORTS, GOLD_EXPORT_INFO, bronzeKeyFromFileId } from '../lake-keys.ts'
import { sqlString, withDuckdb } from './parquet.ts'
import { readStagedMarker, writeStagedMarker, type BronzeLocation, type Warehouse, type WarehouseNames, type WarehouseOptions } from './warehouse.ts'

export function duckdbPath(home: string): string {
  return path.join(home, 'warehouse', 'brt.duckdb')
}

/** Runs one query against the warehouse file (tests, the benchmark). Opens it as the only writer. */
export async function queryWarehouse(home: string, sql: string): Promise<Record<string, unknown>[]> {
  return withDuckdb(duckdbPath(home), async (c) => (await c.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[])
}

export class DuckdbWarehouse implements Warehouse {
  readonly kind = 'duckdb'
  readonly dbtTarget = 'duckdb'
  readonly bronzeRelation: string
  private readonly home: string
  private readonly lake: Lake
  private readonly names: WarehouseNames

  constructor(options: WarehouseOptions) {
    this.home = options.home
    this.lake = options.lake
    this.names = options.names
    this.bronzeRelation = `${this.names.bronze}.brt_gps`
  }

  get file(): string {
    return duckdbPath(this.home)
  }

  /** Local copies of a GCS lake's bronze files, or undefined when the lake is a folder. */
  private mirrorRoot(): string | undefined {
    return this.lake.localPath(BRONZE_PREFIX) === undefined ? path.join(this.home, 'warehouse', 'bronze_mirror') : undefined
  }

  dbtEnv(bronze: BronzeLocation): Record<string, string> {
    return {
      ROTA_DUCKDB_PATH: this.file,
      ROTA_BRONZE_SCHEMA: this.names.bronze,
      ROTA_SILVER_SCHEMA: this.names.silver,
      ROTA_GOLD_SCHEMA: this.names.gold,
      ROTA_DQ_SCHEMA: this.names.dq,
      ROTA_BRONZE_URI: bronze.root,
      ROTA_BRONZE_REGISTRY_URI: bronze.registry,
    }
  }

  async withWriter<T>(fn: () => Promise<T>): Promise<T> {
    await fs.mkdir(path.dirname(this.file), { recursive: true })
    const release = await lockfile.lock(`${this.file}.writer`, {
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

  async syncBronze(): Promise<BronzeLocation> {
    const mirror = this.mirrorRoot()
    if (mirror === undefined) {
      const root = this.lake.localPath(BRONZE_PREFIX)!
      return { root, registry: this.lake.localPath(BRONZE_REGISTRY)!, files: await countCsvFiles(root) }
    }
    // Bronze files are immutable once published: copying the missing ones is enough. The registry
    // changes, so it is copied every time (it is small).
    const root = path.join(mirror, ...BRONZE_PREFIX.split('/'))
    for (const key of await this.lake.list(BRONZE_PREFIX)) {
      const target = path.join(mirror, ...key.split('/'))
      if (await exists(target)) continue
      const data = await this.lake.get(key)
      if (data !== undefined) await writeAtomically(target, data)
    }
    const registry = path.join(mirror, ...BRONZE_REGISTRY.split('/'))
    const data = await this.lake.get(BRONZE_REGISTRY)
    if (data !== undefined) await writeAtomically(registry, data)
    return { root, registry, files: await countCsvFiles(root) }
  }

  async stagedKey(): Promise<string | undefined> {
    const key = await readStagedMarker(this.home, this.kind)
    if (key === undefined || !(await exists(this.file))) return undefined
    // The marker outlives a deleted or replaced database file: check the views are there.
    const [row] = await withDuckdb(this.file, async (c) =>
      (await c.runAndReadAll(`select count(*)::int as n from duckdb_views() where schema_name = ${sqlString(this.names.bronze)} and view_name in ('brt_gps', 'brt_gps_files')`)).getRowObjectsJS(),
    )
    return row?.n === 2 ? key : undefined
  }

  recordStaged(key: string): Promise<void> {
    return writeStagedMarker(this.home, this.kind, key)
  }

  async processedFiles(): Promise<Set<string>> {
    if (!(await exists(this.file))) return new Set()
    return withDuckdb(this.file, async (c) => {
      const found = await c.runAndReadAll(
        `select count(*)::int as n from duckdb_tables() where schema_name = ${sqlString(this.names.silver)} and table_name = 'brt_gps_files_processed'`,
      )
      if (found.getRowObjectsJS()[0]?.n !== 1) return new Set<string>()
      const rows = await c.runAndReadAll(`select file from ${this.names.silver}.brt_gps_files_processed`)
      return new Set(rows.getRowObjectsJS().map((r) => String(r.file)))
    })
  }

  async forgetBronzeFiles(files: readonly string[]): Promise<void> {
    const mirror = this.mirrorRoot()
    if (mirror === undefined) return
    await Promise.all(files.map((f) => fs.rm(path.join(mirror, ...bronzeKeyFromFileId(f).split('/')), { force: true })))
  }

  /** Gold to Parquet in the lake, atomically (a temporary file, then rename / one object write). */
  async exportGold(): Promise<Record<string, number>> {
    const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-gold-'))
    try {
      const counts: Record<string, number> = {}
      const exports: Array<[string, string, string]> = [
        [`${this.names.gold}.brt_vehicle_latest`, GOLD_EXPORTS.vehicleLatest, 'vehicle_id'],
        [`${this.names.gold}.brt_line_speed_10min`, GOLD_EXPORTS.lineSpeed, 'window_start desc, line'],
      ]
      await withDuckdb(this.file, async (c) => {
        for (const [relation, key, order] of exports) {
          const file = path.join(tmpDir, path.basename(key))
          await c.run(`copy (select * from ${relation} order by ${order}) to ${sqlString(file)} (format parquet, compression zstd)`)
          const n = await c.runAndReadAll(`select count(*)::bigint as n from ${relation}`)
          counts[key] = Number(n.getRowObjectsJS()[0]?.n ?? 0)
        }
      })
      for (const [, key] of exports) await this.lake.put(key, await fs.readFile(path.join(tmpDir, path.basename(key))))
      await this.lake.put(GOLD_EXPORT_INFO, JSON.stringify({ exportedAt: new Date().toISOString(), rows: counts }))
      return counts
    } finally {
      await fs.rm(tmpDir, { recursive: true, force: true })
    }
  }
}

async function countCsvFiles(root: string): Promise<number> {
  try {
    return (await fs.readdir(root, { recursive: true })).filter((f) => String(f).endsWith('.csv')).length
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p)
    return true
  } catch {
    return false
  }
}

async function writeAtomically(target: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true })
  const tmp = `${target}.tmp-${randomUUID().slice(0, 8)}`
  await fs.writeFile(tmp, data)
  await fs.rename(tmp, target)
}

export interface BronzeRead {
  /** Bronze CSVs the query of the last build's batch opened (DuckDB's profiler: "Total Files Read"). */
  readonly filesRead: number
  /** Size of the files the batch named (each one is read whole). */
  readonly bytesRead: number
  readonly filesNamed: number
}

/**
 * What the last build read from bronze: the batch model's SQL as that build compiled it (with its
 * literal `dt` and file filters), run again under DuckDB's profiler. The only model that reads the
 * external table is brt_gps_batch, so this is the whole build's bronze read. For tests and the
 * benchmark: it proves the pruning, at any size of lake.
 */
export async function lastBatchBronzeRead(home: string): Promise<BronzeRead> {
  const sql = await fs.readFile(path.join(home, 'dbt', 'target', 'compiled', 'rota_brt', 'models', 'silver', 'brt_gps_batch.sql'), 'utf8')
  const named = [...(/source_uri in \(([^)]*)\)/.exec(sql)?.[1] ?? '').matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replace(/''/g, "'"))
  const profile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'rota-profile-')), 'profile.json')
  try {
    const filesRead = await withDuckdb(duckdbPath(home), async (c) => {
      await c.run(`pragma enable_profiling = 'json'`)
      await c.run(`pragma profiling_output = ${sqlString(profile)}`)
      await c.run(`select count(*) from (${sql}) batch`)
      // Read before anything else runs: the profiler rewrites the file after every statement.
      return sumFilesRead(JSON.parse(await fs.readFile(profile, 'utf8')) as ProfileNode)
    })
    let bytesRead = 0
    for (const f of named) bytesRead += (await fs.stat(f)).size
    return { filesRead, bytesRead, filesNamed: named.length }
  } finally {
    await fs.rm(path.dirname(profile), { recursive: true, force: true })
  }
}

interface ProfileNode {
  readonly extra_info?: Record<string, unknown>
  readonly children?: ProfileNode[]
}

function sumFilesRead(node: ProfileNode): number {
  const own = Number(node.extra_info?.['Total Files Read'] ?? 0)
  return (Number.isFinite(own) ? own : 0) + (node.children ?? []).reduce((n, c) => n + sumFilesRead(c), 0)
}
