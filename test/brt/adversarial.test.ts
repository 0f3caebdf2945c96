/**
 * A broken feed never stops the pipeline (properties, fast-check):
 * - any row the API could send becomes one CSV line with every column in place;
 * - the simulator in adversarial mode (negative and absurd speeds, GPS times days ahead, in the year
 *   0 or past 9999, NaN-like strings, missing fields, a line with a single vehicle at -5 km/h), plus
 *   arbitrary rows, never makes a build fail, and gold never holds a future window, an average or a
 *   p90 outside [0, 120], or a flagged signal. Data-quality checks report it as warnings.
 * One warehouse is shared by the runs of the second property: every run is one more build of the
 * same lake, as in production.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { createBrtRoutes } from '../../pipelines/brt/api.ts'
import { storeCapture } from '../../pipelines/brt/capture.ts'
import { captureToCsvLines, csvHeader } from '../../pipelines/brt/csv.ts'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { SimulatedFleet, WEIRD_VALUES } from '../../pipelines/brt/simulator.ts'
import { API_FIELD_BY_COLUMN, CSV_COLUMNS, type RawVehicle } from '../../pipelines/brt/types.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { sqlString, withDuckdb } from '../../pipelines/brt/warehouse/parquet.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'

const API_FIELDS = Object.values(API_FIELD_BY_COLUMN)
const weirdValue = fc.oneof(
  fc.constantFrom(...WEIRD_VALUES),
  fc.double(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString()),
  fc.string({ maxLength: 12 }),
  fc.constant(undefined),
)
/** A plausible fresh row with one field broken, or a row made of anything at all. */
const weirdRow = (now: number): fc.Arbitrary<RawVehicle> =>
  fc.oneof(
    fc.tuple(fc.constantFrom(...API_FIELDS), weirdValue, fc.integer({ min: 0, max: 999 })).map(([field, value, n]) => ({
      codigo: `F${n}`, placa: '', linha: '22', latitude: -22.95, longitude: -43.4, dataHora: now - 3_000, velocidade: 30,
      id_migracao_trajeto: '', sentido: 'ida', trajeto: 'x', hodometro: 1, direcao: 90, ignicao: 1, capacidadePeVeiculo: 1, capacidadeSentadoVeiculo: 1,
      [field]: value,
    })),
    fc.dictionary(fc.constantFrom(...API_FIELDS, 'campoNovo'), weirdValue, { maxKeys: 17 }),
  )

/** What a CSV cell reads back as (DuckDB reads an empty unquoted cell as null). */
function expectedCell(value: unknown): string | null {
  if (value === null || value === undefined) return null
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  return text === '' ? null : text
}

describe('adversarial feed', { skip: DB_FREE, timeout: 600_000 }, () => {
  test('any row becomes one CSV line with its columns in place (property)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rota-csv-'))
    try {
      await withDuckdb(undefined, async (c) => {
        let n = 0
        await fc.assert(
          fc.asyncProperty(fc.array(weirdRow(Date.now()), { minLength: 1, maxLength: 20 }), async (rows) => {
            const file = path.join(dir, `${n++}.csv`)
            // Through JSON, as rows arrive from the API.
            const parsed = JSON.parse(JSON.stringify({ veiculos: rows })).veiculos as RawVehicle[]
            await fs.writeFile(file, csvHeader() + captureToCsvLines('c-1', '2024-05-01T12:00:00.000Z', parsed))
            // The external table's read options (macros/external/stage_external_sources.sql).
            const columns = CSV_COLUMNS.map((col) => `${sqlString(col)}: 'VARCHAR'`).join(', ')
            const back = (await c.runAndReadAll(`select codigo, datahora, extra_fields from read_csv(${sqlString(file)}, header = true, delim = ',', quote = '"', escape = '"', auto_detect = false, columns = {${columns}})`)).getRowObjectsJS()
            assert.equal(back.length, parsed.length)
            back.forEach((row, i) => {
              assert.equal(row.codigo, expectedCell(parsed[i]!.codigo))
              assert.equal(row.datahora, expectedCell(parsed[i]!.dataHora))
              if ('campoNovo' in parsed[i]!) assert.deepEqual(JSON.parse(String(row.extra_fields)), { campoNovo: parsed[i]!.campoNovo })
            })
          }),
          { numRuns: 60, includeErrorInReport: true },
        )
      })
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  })

  test('no build fails and gold holds no future window, no average outside [0, 120], no flagged signal (property)', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const ctx = await steps.openBrtContext(resolveBrtSettings({}, { home, brtApiUrl: 'http://127.0.0.1:9/unused' }))
      const app = createBrtRoutes(ctx.settings)
      const settings = { capturesPerFile: 2, maxBufferMinutes: 15 }
      let clock = Date.now() - 90 * 60_000
      let builds = 0
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(weirdRow(clock), { maxLength: 6 }), async (seed, extra) => {
          const fleet = new SimulatedFleet({ vehicles: 10, seed, adversarial: true })
          for (let i = 0; i < settings.capturesPerFile; i++) {
            const payload = fleet.next(clock)
            payload.veiculos.push(...extra.map((r) => ({ ...r, ...(typeof r.dataHora === 'number' ? { dataHora: clock - 3_000 } : {}) })))
            const body = Buffer.from(JSON.stringify(payload))
            await steps.bufferStep(ctx, await storeCapture(ctx.lake, { capturedAt: new Date(clock), body, payload: JSON.parse(body.toString()) }), settings)
            clock += 60_000
          }
          assert.ok((await steps.writeCsvStep(ctx, settings))?.window, 'a window is written')
          await steps.uploadStep(ctx)
          await steps.loadStep(ctx)
          const r = await steps.dbtStep(ctx) // must not throw: a broken feed never fails a build
          builds++
          const warned = r.dataQuality.map((w) => w.test)
          for (const t of ['dq_brt_gps_speed_out_of_range', 'dq_brt_gps_future_time', 'dq_brt_captures_unkeyable_rows']) assert.ok(warned.includes(t), `${t} warns (got ${warned.join(', ')})`)
          assert.ok(r.dbt.results.filter((n) => n.resourceType === 'test' && n.status !== 'warn').every((n) => n.status === 'pass'), 'contracts hold')

          const [gold] = await queryWarehouse(home, `select
              count(*) filter (where avg_speed_kmh < 0 or avg_speed_kmh > 120 or p90_speed_kmh < 0 or p90_speed_kmh > 120)::int as bad_speed,
              count(*) filter (where window_start > (select max(captured_at) from silver.brt_captures) + interval 5 minute)::int as future,
              count(*) filter (where line = 'ADV1')::int as single_backwards_line,
              count(*)::int as windows
            from gold.brt_line_speed_10min`)
          assert.deepEqual(gold, { bad_speed: 0, future: 0, single_backwards_line: 0, windows: gold!.windows })
          const [latest] = await queryWarehouse(home, `select
              count(*) filter (where gps_time_utc > captured_at + interval 5 minute or gps_time_utc < timestamp '2012-01-01')::int as bad_time,
              count(*) filter (where speed_kmh < 0 or speed_kmh > 120)::int as bad_speed,
              count(*) filter (where vehicle_id like 'TESTE%' or vehicle_id like 'ADV0003')::int as flagged
            from gold.brt_vehicle_latest`)
          assert.deepEqual(latest, { bad_time: 0, bad_speed: 0, flagged: 0 })
          // The broken rows are in silver, flagged, not lost.
          const [flags] = await queryWarehouse(home, `select
              bool_or(vehicle_id = 'ADV0001' and is_speed_negative)::int as negative,
              bool_or(vehicle_id = 'ADV0002' and is_speed_implausible)::int as absurd,
              bool_or(vehicle_id = 'ADV0003' and is_future_time)::int as future,
              bool_or(vehicle_id = 'TESTE0010' and is_test_vehicle)::int as test_vehicle,
              (count(*) - count(distinct (vehicle_id, gps_time_utc)))::int as duplicates
            from silver.brt_gps`)
          assert.deepEqual(flags, { negative: 1, absurd: 1, future: 1, test_vehicle: 1, duplicates: 0 })
          const speeds = (await (await app.request('/line-speeds?hours=6')).json()) as { items: Array<{ windowStart: string; avgSpeedKmh: number }> }
          assert.ok(speeds.items.every((s) => Date.parse(s.windowStart) <= Date.now() + 5 * 60_000 && s.avgSpeedKmh >= 0 && s.avgSpeedKmh <= 120))
        }),
        { numRuns: 4, endOnFailure: true, includeErrorInReport: true },
      )
      assert.equal(builds, 4)
    } finally {
      await cleanup()
    }
  })
})
