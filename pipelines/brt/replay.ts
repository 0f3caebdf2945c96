/**
 * Replay: rebuild bronze CSVs for one day from the raw captures kept in `raw/brt_gps/dt=…/` (after
 * a lost or damaged bronze file, or a change of CSV format). The files get their own names
 * (`brt_gps_replay_…`) and are registered like any published CSV; silver reads them once (the
 * manifest of processed files) and inserts only (vehicle, GPS time) keys it does not have, so
 * replaying data that is already loaded adds nothing.
 */
import { createHash } from 'node:crypto'
import { registerBronzeFiles } from './bronze-registry.ts'
import { readRawCapture } from './capture.ts'
import { captureToCsvLines, csvHeader } from './csv.ts'
import type { Lake } from './lake.ts'
import { RAW_PREFIX, isPartitionDate, replayCsvKey } from './lake-keys.ts'

export interface ReplayResult {
  readonly captures: number
  readonly rows: number
  readonly files: string[]
}

/** `20240501T123456789Z` -> `2024-05-01T12:34:56.789Z`. */
function isoFromCompact(compact: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z$/.exec(compact)
  if (!m) throw new Error(`not a capture time: "${compact}"`)
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`
}

/** `date` is a `dt` partition of the raw captures: their America/Sao_Paulo date. */
export async function replayRawDay(lake: Lake, date: string, capturesPerFile = 10): Promise<ReplayResult> {
  if (!isPartitionDate(date)) throw new Error(`date must be YYYY-MM-DD, got "${date}"`)
  if (!Number.isInteger(capturesPerFile) || capturesPerFile < 1) throw new Error(`capturesPerFile must be a positive integer, got ${capturesPerFile}`)
  const keys = (await lake.list(`${RAW_PREFIX}/dt=${date}`)).filter((k) => k.endsWith('.json.gz')).sort()
  const files: string[] = []
  let rows = 0
  for (let i = 0; i < keys.length; i += capturesPerFile) {
    const group = keys.slice(i, i + capturesPerFile)
    const parts = [csvHeader()]
    const ids: string[] = []
    for (const key of group) {
      const captureId = key.slice(key.lastIndexOf('/') + 1, -'.json.gz'.length)
      ids.push(captureId)
      const vehicles = await readRawCapture(lake, key)
      rows += vehicles.length
      parts.push(captureToCsvLines(captureId, isoFromCompact(captureId.split('-')[0]!), vehicles))
    }
    const hash = createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 8)
    const file = replayCsvKey(date, ids[0]!, hash)
    await lake.put(file, parts.join(''), { contentType: 'text/csv; charset=utf-8' })
    files.push(file)
  }
  await registerBronzeFiles(lake, files)
  return { captures: keys.length, rows, files }
}
