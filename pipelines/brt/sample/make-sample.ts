/**
 * Writes pipelines/brt/sample/brt_gps_sample.csv: two consecutive captures of a few dozen simulated
 * vehicles (seed 42), chosen to show each anomaly, in the exact bronze CSV format.
 *   node --import tsx pipelines/brt/sample/make-sample.ts
 */
import fs from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { captureToCsvLines, csvHeader } from '../csv.ts'
import { SimulatedFleet } from '../simulator.ts'
import type { RawVehicle } from '../types.ts'

const fleet = new SimulatedFleet({ vehicles: 800, seed: 42 })
const t0 = Date.UTC(2024, 4, 6, 14, 0, 0)
const captures = [fleet.next(t0).veiculos, fleet.next(t0 + 60_000).veiculos]
const first = captures[0]!
const pick = new Set<string>(first.slice(0, 18).map((v) => String(v.codigo)))
const want: Array<(v: RawVehicle) => boolean> = [
  (v) => /TESTE|SAVEIRO/.test(String(v.codigo)),
  (v) => v.latitude === 0 && v.longitude === 0,
  (v) => new Date(Number(v.dataHora)).getUTCFullYear() === 2000,
  (v) => t0 - Number(v.dataHora) > 86_400_000 && new Date(Number(v.dataHora)).getUTCFullYear() > 2000,
  (v) => v.direcao === ' ',
  (v) => Number(v.direcao) > 360,
  (v) => v.linha === '0',
  (v) => Number(v.hodometro) < 0,
  (v) => Number(v.longitude) > -43.1,
]
for (const w of want) {
  const hit = first.find((v) => w(v) && !pick.has(String(v.codigo)))
  if (hit) pick.add(String(hit.codigo))
}
let csv = csvHeader()
captures.forEach((rows, i) => {
  const at = new Date(t0 + i * 60_000 + 412).toISOString()
  csv += captureToCsvLines(`${at.replace(/[-:.]/g, '')}-sample${i + 1}`, at, rows.filter((v) => pick.has(String(v.codigo))))
})
await fs.writeFile(fileURLToPath(new URL('./brt_gps_sample.csv', import.meta.url)), csv)
console.log(`${csv.trimEnd().split('\n').length - 1} rows`)
