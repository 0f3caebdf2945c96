/**
 * Every key the BRT pipeline reads or writes in the lake, in one place.
 *
 *   raw/brt_gps/dt=D/<captureId>.json.gz          every API answer as received (gzip), for audit and replay
 *   stats/brt_gps/dt=D/<captureId>.json            per-capture statistics (GET /api/brt/captures)
 *   _buffer/brt_gps/…                              the durable buffer (see buffer.ts)
 *   bronze/brt_gps/dt=D/brt_gps_<windowId>.csv     one CSV per window (bronze; the external table)
 *   _manifests/brt_gps/bronze_files.csv            registry of published bronze CSVs (an external table too)
 *   gold/brt/*.parquet, gold/brt/_export.json      gold exports read by /api/brt
 *   _locks/<name>                                  cross-process locks (lake.ts)
 *
 * D, the hive partition `dt`, is the America/Sao_Paulo date of the capture (of the window's first
 * capture for a CSV), so a Rio evening stays in its own day's partition.
 */
import type { CaptureDescriptor } from './types.ts'

export const RAW_PREFIX = 'raw/brt_gps'
export const STATS_PREFIX = 'stats/brt_gps'
export const BRONZE_PREFIX = 'bronze/brt_gps'
/** Prefixes partitioned by `dt=`, which lake retention prunes. */
export const PARTITIONED_PREFIXES = [RAW_PREFIX, STATS_PREFIX, BRONZE_PREFIX] as const

export const BUFFER_PREFIX = '_buffer/brt_gps'
export const BUFFER_KEYS = {
  pending: `${BUFFER_PREFIX}/pending`,
  outbox: `${BUFFER_PREFIX}/outbox`,
  closing: `${BUFFER_PREFIX}/closing.json`,
  consumed: `${BUFFER_PREFIX}/consumed.json`,
  lastKeys: `${BUFFER_PREFIX}/last_keys.json`,
  settings: `${BUFFER_PREFIX}/settings.json`,
} as const

/** The registry of published bronze files: `file,dt,published_at`, `file` relative to BRONZE_PREFIX. */
export const BRONZE_REGISTRY = '_manifests/brt_gps/bronze_files.csv'

export const GOLD_EXPORTS = {
  vehicleLatest: 'gold/brt/brt_vehicle_latest.parquet',
  lineSpeed: 'gold/brt/brt_line_speed_10min.parquet',
} as const
/** `{ exportedAt, rows }` of the last gold export. */
export const GOLD_EXPORT_INFO = 'gold/brt/_export.json'

/** Names of the lake locks (lake.lock(name)). */
export const LOCKS = {
  /** Every change to the buffer, the outbox and the publication of bronze files. */
  buffer: 'brt_gps_buffer',
  /** The bronze registry (written by upload, replay and retention). */
  registry: 'brt_gps_registry',
  /** One dbt build at a time on a shared warehouse (BigQuery). */
  warehouse: 'brt_warehouse_writer',
} as const

const SAO_PAULO_DATE = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Sao_Paulo', year: 'numeric', month: '2-digit', day: '2-digit' })

/** The America/Sao_Paulo date (YYYY-MM-DD) of an instant: the lake's `dt` partition. */
export function partitionDate(instant: string | number | Date): string {
  const d = instant instanceof Date ? instant : new Date(instant)
  if (Number.isNaN(d.getTime())) throw new Error(`not a time: ${String(instant)}`)
  return SAO_PAULO_DATE.format(d)
}

export function isPartitionDate(date: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(date) && !Number.isNaN(Date.parse(`${date}T00:00:00Z`))
}

export function rawKey(captureId: string, capturedAt: string): string {
  return `${RAW_PREFIX}/dt=${partitionDate(capturedAt)}/${captureId}.json.gz`
}

export function statsKey(capture: Pick<CaptureDescriptor, 'captureId' | 'capturedAt'>): string {
  return `${STATS_PREFIX}/dt=${partitionDate(capture.capturedAt)}/${capture.captureId}.json`
}

export function pendingKey(captureId: string): string {
  return `${BUFFER_KEYS.pending}/${captureId}.json`
}

/** A window's CSV in the outbox; `upload` moves it to the same path under BRONZE_PREFIX. */
export function outboxCsvKey(windowId: string, firstCapturedAt: string): string {
  return `${BUFFER_KEYS.outbox}/dt=${partitionDate(firstCapturedAt)}/brt_gps_${windowId}.csv`
}

export function bronzeKeyForOutbox(outboxKey: string): string {
  if (!outboxKey.startsWith(`${BUFFER_KEYS.outbox}/`)) throw new Error(`not an outbox key: ${outboxKey}`)
  return `${BRONZE_PREFIX}/${outboxKey.slice(BUFFER_KEYS.outbox.length + 1)}`
}

/** A CSV rebuilt from raw captures by `rota brt replay`. */
export function replayCsvKey(date: string, firstCaptureId: string, hash: string): string {
  return `${BRONZE_PREFIX}/dt=${date}/brt_gps_replay_${firstCaptureId.split('-')[0]}-${hash}.csv`
}

/** `bronze/brt_gps/dt=D/x.csv` -> `{ file: 'dt=D/x.csv', dt: 'D' }` (the registry's and the warehouse's file id). */
export function bronzeFileId(key: string): { file: string; dt: string } {
  const m = new RegExp(`^${BRONZE_PREFIX}/(dt=(\\d{4}-\\d{2}-\\d{2})/[^/]+\\.csv)$`).exec(key)
  if (!m) throw new Error(`not a bronze CSV key: ${key}`)
  return { file: m[1]!, dt: m[2]! }
}

export function bronzeKeyFromFileId(file: string): string {
  return `${BRONZE_PREFIX}/${file}`
}

/** The `dt` of a key under one of the PARTITIONED_PREFIXES, or undefined. */
export function partitionOf(key: string): string | undefined {
  return /\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1]
}
