/** Shared fixtures for BRT tests: temp homes, local lakes, captures from a simulated fleet. */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { storeCapture } from '../../../pipelines/brt/capture.ts'
import { LocalLake, type Lake } from '../../../pipelines/brt/lake.ts'
import { SimulatedFleet } from '../../../pipelines/brt/simulator.ts'
import type { CaptureDescriptor } from '../../../pipelines/brt/types.ts'

export async function tempHome(prefix = 'rota-brt-'): Promise<{ home: string; cleanup(): Promise<void> }> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), prefix))
  return { home, cleanup: () => fs.rm(home, { recursive: true, force: true }) }
}

export function localLake(home: string): LocalLake {
  return new LocalLake(path.join(home, 'lake'))
}

/**
 * Stores `count` captures of a seeded fleet, one a minute from `start`, as the capture task would
 * (the capture time is the simulated call time, so staleness is as in production).
 */
export async function storeFleetCaptures(lake: Lake, options: { count: number; vehicles?: number; seed?: number; start?: number }): Promise<CaptureDescriptor[]> {
  const fleet = new SimulatedFleet({ vehicles: options.vehicles ?? 200, seed: options.seed ?? 11, absentRate: 0 })
  const start = options.start ?? Date.now() - options.count * 60_000
  const out: CaptureDescriptor[] = []
  for (let i = 0; i < options.count; i++) {
    const at = start + i * 60_000
    const payload = fleet.next(at)
    out.push(await storeCapture(lake, { capturedAt: new Date(at + 350), body: Buffer.from(JSON.stringify(payload)), payload }))
  }
  return out
}
