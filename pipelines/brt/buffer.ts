/**
 * The durable capture buffer, kept in the lake so it survives separate flow runs (one process each),
 * agent crashes and restarts, and works the same on a local folder and on GCS.
 *
 * Layout under `_buffer/brt_gps/`:
 *   pending/<captureId>.json   one small descriptor per buffered capture (the rows stay in raw/)
 *   closing.json               write-ahead manifest of the window being written to CSV
 *   outbox/dt=…/<file>.csv     CSVs written and taken out of the buffer, not yet moved to bronze/
 *                              (dt: America/Sao_Paulo date of the window's first capture; keys in lake-keys.ts)
 *   consumed.json              ids of recently written captures, so a retried `buffer` cannot re-add one
 *   last_keys.json             (codigo, dataHora) of the last capture, for the duplicate statistic
 *   settings.json              the last run's capturesPerFile / maxBufferMinutes (for GET /api/brt/buffer)
 *
 * Every change happens under one lake lock, so overlapping flow runs take turns. Closing a window:
 *   1. write closing.json (which captures, which CSV)      <- from here the window is committed
 *   2. write the CSV into the outbox (deterministic content and name)
 *   3. add the ids to consumed.json, delete their pending entries
 *   4. delete closing.json
 * A crash anywhere leaves either no manifest (nothing happened, or everything did) or a manifest
 * that the next run replays from step 2; every step is idempotent, so no capture is lost or written
 * twice.
 */
import { createHash } from 'node:crypto'
import { registerBronzeFiles } from './bronze-registry.ts'
import { readRawCapture } from './capture.ts'
import { captureToCsvLines, csvHeader } from './csv.ts'
import type { Lake } from './lake.ts'
import { BUFFER_KEYS, LOCKS, STATS_PREFIX, bronzeKeyForOutbox, outboxCsvKey, pendingKey, statsKey } from './lake-keys.ts'
import { RIO_BOUNDS, STALE_AFTER_MS, type BufferStatus, type CaptureDescriptor, type CaptureStats, type RawVehicle } from './types.ts'

const PENDING = BUFFER_KEYS.pending
const OUTBOX = BUFFER_KEYS.outbox
const MANIFEST = BUFFER_KEYS.closing
const CONSUMED = BUFFER_KEYS.consumed
const LAST_KEYS = BUFFER_KEYS.lastKeys
const SETTINGS = BUFFER_KEYS.settings
const LOCK = LOCKS.buffer
/** How many consumed ids to remember: a day of captures at one a minute. */
const CONSUMED_KEEP = 1440

export interface BufferSettings {
  readonly capturesPerFile: number
  readonly maxBufferMinutes: number
}
export const DEFAULT_SETTINGS: BufferSettings = { capturesPerFile: 10, maxBufferMinutes: 15 }

interface WindowManifest {
  readonly windowId: string
  readonly csvKey: string
  readonly captures: readonly CaptureDescriptor[]
  readonly createdAt: string
}

export interface ClosedWindow {
  readonly windowId: string
  /** Outbox key of the CSV. */
  readonly csvKey: string
  readonly captures: number
  readonly rows: number
  /** True when this call finished a window that a crashed run had started. */
  readonly recovered: boolean
  readonly reason: 'full' | 'age' | 'recovery'
}

/** Points where tests stop a close, to prove a crash there neither loses nor duplicates. */
export type ClosePoint = 'manifest-written' | 'csv-written' | 'buffer-cleared'

export interface AddResult {
  readonly added: boolean
  readonly status: BufferStatus
  readonly stats: CaptureStats | undefined
}

export class CaptureBuffer {
  constructor(
    private readonly lake: Lake,
    private readonly lockOptions: { staleMs?: number; waitMs?: number } = {},
  ) {}

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.lake.lock(LOCK, this.lockOptions)
    try {
      return await fn()
    } finally {
      await release()
    }
  }

  /** Adds a capture (idempotent: the same capture twice, or one already written, is a no-op). */
  async add(capture: CaptureDescriptor, settings: BufferSettings = DEFAULT_SETTINGS): Promise<AddResult> {
    return this.locked(async () => {
      await this.lake.put(SETTINGS, JSON.stringify(settings))
      const key = pendingKey(capture.captureId)
      const consumed = await this.readConsumed()
      let stats: CaptureStats | undefined
      let added = false
      if (!consumed.has(capture.captureId) && !(await this.lake.exists(key))) {
        const rows = await readRawCapture(this.lake, capture.rawKey)
        stats = await this.recordStats(capture, rows)
        added = await this.lake.put(key, JSON.stringify(capture), { ifAbsent: true })
      }
      return { added, status: await this.statusUnlocked(settings.capturesPerFile), stats }
    })
  }

  async status(): Promise<BufferStatus> {
    const settings = await readJson<BufferSettings>(this.lake, SETTINGS)
    return this.statusUnlocked(settings?.capturesPerFile ?? DEFAULT_SETTINGS.capturesPerFile)
  }

  private async statusUnlocked(capturesPerFile: number): Promise<BufferStatus> {
    const pending = await this.pending()
    return { captures: pending.length, capturesPerFile, oldestCaptureAt: pending[0]?.capturedAt ?? null }
  }

  /** Buffered captures, oldest first. */
  async pending(): Promise<CaptureDescriptor[]> {
    const keys = await this.lake.list(PENDING)
    const items = await Promise.all(keys.map((k) => readJson<CaptureDescriptor>(this.lake, k)))
    return items
      .filter((x): x is CaptureDescriptor => x !== undefined)
      .sort((a, b) => (a.capturedAt === b.capturedAt ? a.captureId.localeCompare(b.captureId) : a.capturedAt.localeCompare(b.capturedAt)))
  }

  /**
   * Closes at most one window: finishes a crashed close first, else writes the oldest
   * `capturesPerFile` captures when that many are buffered or the oldest is older than
   * `maxBufferMinutes`. Returns undefined when nothing is due.
   */
  async closeWindow(
    settings: BufferSettings,
    options: { now?: Date; stopAt?: (point: ClosePoint) => void | Promise<void> } = {},
  ): Promise<ClosedWindow | undefined> {
    return this.locked(async () => {
      const leftover = await readJson<WindowManifest>(this.lake, MANIFEST)
      if (leftover) return this.completeWindow(leftover, 'recovery', options.stopAt)
      const pending = await this.pending()
      if (pending.length === 0) return undefined
      const now = (options.now ?? new Date()).getTime()
      const full = pending.length >= settings.capturesPerFile
      const old = now - Date.parse(pending[0]!.capturedAt) >= settings.maxBufferMinutes * 60_000
      if (!full && !old) return undefined
      const captures = pending.slice(0, settings.capturesPerFile)
      const hash = createHash('sha256').update(captures.map((c) => c.captureId).join('\n')).digest('hex').slice(0, 8)
      const first = captures[0]!
      const windowId = `${first.captureId.split('-')[0]}-${hash}`
      const manifest: WindowManifest = {
        windowId,
        csvKey: outboxCsvKey(windowId, first.capturedAt),
        captures,
        createdAt: new Date(now).toISOString(),
      }
      await this.lake.put(MANIFEST, JSON.stringify(manifest))
      await options.stopAt?.('manifest-written')
      return this.completeWindow(manifest, full ? 'full' : 'age', options.stopAt)
    })
  }

  private async completeWindow(
    manifest: WindowManifest,
    reason: ClosedWindow['reason'],
    stopAt?: (point: ClosePoint) => void | Promise<void>,
  ): Promise<ClosedWindow> {
    let rows = 0
    const chunks: string[] = [csvHeader()]
    for (const c of manifest.captures) {
      const vehicles = await readRawCapture(this.lake, c.rawKey)
      rows += vehicles.length
      chunks.push(captureToCsvLines(c.captureId, c.capturedAt, vehicles))
    }
    await this.lake.put(manifest.csvKey, chunks.join(''), { contentType: 'text/csv; charset=utf-8' })
    await stopAt?.('csv-written')
    const consumed = await this.readConsumed()
    for (const c of manifest.captures) consumed.add(c.captureId)
    await this.lake.put(CONSUMED, JSON.stringify([...consumed].slice(-CONSUMED_KEEP)))
    await Promise.all(manifest.captures.map((c) => this.lake.delete(pendingKey(c.captureId))))
    await stopAt?.('buffer-cleared')
    await this.lake.delete(MANIFEST)
    return { windowId: manifest.windowId, csvKey: manifest.csvKey, captures: manifest.captures.length, rows, recovered: reason === 'recovery', reason }
  }

  /** CSVs written by `closeWindow` and not yet published. */
  async outbox(): Promise<string[]> {
    return (await this.lake.list(OUTBOX)).filter((k) => k.endsWith('.csv'))
  }

  /**
   * Moves every outbox CSV to `bronze/brt_gps/dt=…/` and records it in the bronze registry (copy,
   * register, then delete: a crash in between leaves the same file in both places and the next call
   * copies and registers it again, both idempotent).
   */
  async publishOutbox(): Promise<string[]> {
    return this.locked(async () => {
      const published: string[] = []
      for (const key of await this.outbox()) {
        const target = bronzeKeyForOutbox(key)
        await this.lake.copy(key, target)
        await registerBronzeFiles(this.lake, [target])
        await this.lake.delete(key)
        published.push(target)
      }
      return published
    })
  }

  private async readConsumed(): Promise<Set<string>> {
    return new Set((await readJson<string[]>(this.lake, CONSUMED)) ?? [])
  }

  private async recordStats(capture: CaptureDescriptor, rows: readonly RawVehicle[]): Promise<CaptureStats> {
    const previous = new Set((await readJson<string[]>(this.lake, LAST_KEYS)) ?? [])
    const keys: string[] = []
    let duplicates = 0
    let invalidPositions = 0
    let stale = 0
    const capturedMs = Date.parse(capture.capturedAt)
    for (const row of rows) {
      const key = `${String(row.codigo)}|${String(row.dataHora)}`
      keys.push(key)
      if (previous.has(key)) duplicates++
      const lat = Number(row.latitude)
      const lon = Number(row.longitude)
      const valid =
        Number.isFinite(lat) && Number.isFinite(lon) && !(lat === 0 && lon === 0) &&
        lat >= RIO_BOUNDS.latMin && lat <= RIO_BOUNDS.latMax && lon >= RIO_BOUNDS.lonMin && lon <= RIO_BOUNDS.lonMax
      if (!valid) invalidPositions++
      const gpsMs = Number(row.dataHora)
      if (!Number.isFinite(gpsMs) || capturedMs - gpsMs > STALE_AFTER_MS) stale++
    }
    const stats: CaptureStats = {
      captureId: capture.captureId,
      capturedAt: capture.capturedAt,
      vehicles: rows.length,
      invalidPositions,
      stale,
      duplicates,
    }
    await this.lake.put(statsKey(capture), JSON.stringify(stats))
    await this.lake.put(LAST_KEYS, JSON.stringify(keys))
    return stats
  }
}

async function readJson<T>(lake: Lake, key: string): Promise<T | undefined> {
  const data = await lake.get(key)
  if (data === undefined) return undefined
  try {
    return JSON.parse(data.toString('utf8')) as T
  } catch (err) {
    throw new Error(`${lake.address(key)} is not valid JSON; it was written by the BRT buffer and may be damaged`, { cause: err })
  }
}

/** Recent capture statistics, newest first (for GET /api/brt/captures). */
export async function recentCaptureStats(lake: Lake, limit: number): Promise<CaptureStats[]> {
  const keys = await lake.list(STATS_PREFIX)
  const newest = keys.sort().reverse().slice(0, limit)
  const items = await Promise.all(newest.map((k) => readJson<CaptureStats>(lake, k)))
  return items.filter((x): x is CaptureStats => x !== undefined).sort((a, b) => b.capturedAt.localeCompare(a.capturedAt))
}
