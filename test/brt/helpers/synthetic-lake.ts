/**
 * A lake of bronze CSVs written directly (no capture, no buffer), as fast as possible, for tests
 * and the benchmark that need many days of lake: `days` x `filesPerDay` windows of a small seeded
 * fleet, each registered as `upload` would.
 */
import { registerBronzeFiles } from '../../../pipelines/brt/bronze-registry.ts'
import { captureToCsvLines, csvHeader } from '../../../pipelines/brt/csv.ts'
import type { Lake } from '../../../pipelines/brt/lake.ts'
import { BRONZE_PREFIX, partitionDate } from '../../../pipelines/brt/lake-keys.ts'
import { SimulatedFleet } from '../../../pipelines/brt/simulator.ts'

export interface SyntheticLakeOptions {
  /** First capture (epoch ms). */
  readonly start: number
  readonly days: number
  readonly filesPerDay: number
  readonly capturesPerFile: number
  readonly vehicles: number
  readonly seed?: number
}

export interface SyntheticWindow {
  readonly key: string
  readonly rows: number
  readonly firstCapturedAt: number
  readonly lastCapturedAt: number
}

/** Writes the windows one after the other (a minute between captures) and returns them. */
export async function writeSyntheticLake(lake: Lake, options: SyntheticLakeOptions, fleet = new SimulatedFleet({ vehicles: options.vehicles, seed: options.seed ?? 5, absentRate: 0 })): Promise<SyntheticWindow[]> {
  const windows: SyntheticWindow[] = []
  const stepMs = 86_400_000 / options.filesPerDay / options.capturesPerFile
  for (let w = 0; w < options.days * options.filesPerDay; w++) {
    windows.push(await writeSyntheticWindow(lake, fleet, options.start + w * options.capturesPerFile * stepMs, options.capturesPerFile, stepMs, false))
  }
  await registerBronzeFiles(lake, windows.map((w) => w.key))
  return windows
}

/** One window of `captures` captures `stepMs` apart from `start`, written and (unless told) registered. */
export async function writeSyntheticWindow(lake: Lake, fleet: SimulatedFleet, start: number, captures: number, stepMs = 60_000, register = true): Promise<SyntheticWindow> {
  const parts = [csvHeader()]
  let rows = 0
  let firstId = ''
  for (let i = 0; i < captures; i++) {
    const at = start + i * stepMs
    const capturedAt = new Date(at + 400).toISOString()
    const id = `${capturedAt.replace(/[-:.]/g, '')}-synthetic`
    firstId ||= id
    const vehicles = fleet.next(at).veiculos
    rows += vehicles.length
    parts.push(captureToCsvLines(id, capturedAt, vehicles))
  }
  const key = `${BRONZE_PREFIX}/dt=${partitionDate(start + 400)}/brt_gps_${firstId.split('-')[0]}-synthetic.csv`
  await lake.put(key, parts.join(''))
  if (register) await registerBronzeFiles(lake, [key])
  return { key, rows, firstCapturedAt: start + 400, lastCapturedAt: start + (captures - 1) * stepMs + 400 }
}
