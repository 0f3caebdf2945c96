/**
 * Schema and type drift: a new API field, numbers sent as strings, junk in numeric fields. Nothing
 * breaks, nothing is lost (the new field lands in extra_fields), and silver casts what it can.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { storeCapture } from '../../pipelines/brt/capture.ts'
import * as steps from '../../pipelines/brt/pipeline.ts'
import { resolveBrtSettings } from '../../pipelines/brt/settings.ts'
import type { BrtPayload } from '../../pipelines/brt/types.ts'
import { queryWarehouse } from '../../pipelines/brt/warehouse/duckdb.ts'
import { tempHome } from './helpers/fixtures.ts'
import { DB_FREE } from './helpers/once.ts'

describe('schema and type drift', { skip: DB_FREE, timeout: 300_000 }, () => {
  test('new fields and drifting types go through bronze to silver safely', async () => {
    const { home, cleanup } = await tempHome()
    try {
      const ctx = await steps.openBrtContext(resolveBrtSettings({}, { home }))
      const now = Date.now()
      const payload: BrtPayload = {
        veiculos: [
          {
            codigo: ' 40001 ', placa: '', linha: '22', latitude: '-22.95', longitude: '-43.35', dataHora: String(now - 5_000),
            velocidade: '35.5', id_migracao_trajeto: '', sentido: 'IDA', trajeto: 'Alvorada x Galeão, "Expresso"\nnoturno',
            hodometro: -12.5, direcao: '725', ignicao: '1', capacidadePeVeiculo: '100', capacidadeSentadoVeiculo: 40.0,
            tipoVeiculo: 'articulado', sensores: { portas: 4 },
          },
          {
            codigo: '40002', placa: null, linha: 0, latitude: 'n/a', longitude: null, dataHora: now - 7_000,
            velocidade: 'rápido', direcao: ' ', ignicao: 2, capacidadePeVeiculo: 'cem',
          },
          { codigo: '', linha: '10', latitude: -22.9, longitude: -43.3, dataHora: now - 1_000 }, // no vehicle code: bronze only
          { codigo: '40003', linha: '10', latitude: -22.9, longitude: -43.3, dataHora: 'ontem' }, // no GPS time: bronze only
        ],
      }
      const c = await storeCapture(ctx.lake, { capturedAt: new Date(now), body: Buffer.from(JSON.stringify(payload)), payload })
      await steps.bufferStep(ctx, c, { capturesPerFile: 1, maxBufferMinutes: 15 })
      await steps.writeCsvStep(ctx, { capturesPerFile: 1, maxBufferMinutes: 15 })
      await steps.uploadStep(ctx)
      await steps.loadStep(ctx)
      assert.equal((await queryWarehouse(home, 'select count(*)::int as n from bronze.brt_gps'))[0]!.n, 4, 'every row reaches bronze')
      await steps.dbtStep(ctx)
      const rows = await queryWarehouse(home, `select vehicle_id, line, latitude, longitude, speed_kmh, direction, route_name, odometer, heading_deg,
        ignition, capacity_standing, capacity_seated, extra_fields, is_valid_position, is_out_of_service, epoch_ms(gps_time_utc)::bigint as ms
        from silver.brt_gps order by vehicle_id`)
      assert.equal(rows.length, 2)
      const [a, b] = rows as [Record<string, unknown>, Record<string, unknown>]
      assert.equal(a.vehicle_id, '40001')
      assert.equal(a.latitude, -22.95)
      assert.equal(a.speed_kmh, 35.5)
      assert.equal(a.direction, 'ida')
      assert.equal(a.route_name, 'Alvorada x Galeão, "Expresso"\nnoturno')
      assert.equal(a.odometer, -12.5)
      assert.equal(a.heading_deg, null, 'direcao 725 is out of range')
      assert.equal(a.ignition, true)
      assert.equal(Number(a.capacity_standing), 100)
      assert.equal(Number(a.capacity_seated), 40)
      assert.deepEqual(JSON.parse(String(a.extra_fields)), { tipoVeiculo: 'articulado', sensores: { portas: 4 } })
      assert.equal(a.is_valid_position, true)
      assert.equal(Number(a.ms), now - 5_000)
      assert.equal(b.line, '0')
      assert.equal(b.is_out_of_service, true)
      assert.equal(b.latitude, null)
      assert.equal(b.is_valid_position, false)
      assert.equal(b.speed_kmh, null)
      assert.equal(b.heading_deg, null)
      assert.equal(b.ignition, null)
      assert.equal(b.capacity_standing, null)
    } finally {
      await cleanup()
    }
  })
})
